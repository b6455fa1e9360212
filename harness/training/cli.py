"""``posttrain train``: parse flags, resolve the requests, call :func:`harness.training.train`, print summaries.

The flags that set a schema field (``--learning-rate``, ``--dpo-beta``, ``--num-generations``, ...) are made
from the pydantic fields by :mod:`harness.training.flags`, with the fields' descriptions as their help.
"""

from __future__ import annotations

import inspect
from typing import Annotated, Any

import typer

from harness.evaluation.sandbox_modes import ALLOW_HELP


def _command(
    method: Annotated[
        str | None,
        typer.Option(
            "--method",
            help="sft, dpo, kto, grpo, rloo or reward (with --config: only this step of the plan); ppo is handed "
            "to OpenRLHF by `posttrain run`, not run here.",
        ),
    ] = None,
    out: Annotated[
        str,
        typer.Option(
            "--out",
            help="Output directory: the PEFT adapter and its records. With --config, the folder the plan trains "
            "into, OUT/<method> (OUT/seed-N/<method> per extra seed), as runs/<id>/train/ is for `posttrain run`.",
        ),
    ] = "",
    model: Annotated[str | None, typer.Option("--model", help="smollm2-135m, a model dir or a hub id.")] = None,
    data: Annotated[
        list[str] | None, typer.Option("--data", help="Training file (repeat to mix sources equally).")
    ] = None,
    eval: Annotated[str | None, typer.Option("--eval", help="Eval file for an eval loss during training.")] = None,
    config: Annotated[
        str | None, typer.Option("--config", help="experiment.yaml: its plan, chained as `posttrain run` does.")
    ] = None,
    adapter: Annotated[str | None, typer.Option("--adapter", help="Start from this adapter (SFT for DPO).")] = None,
    merge: Annotated[bool, typer.Option("--merge", help="Also write OUT/merged, the merged full model.")] = False,
    reward: Annotated[
        list[str] | None,
        typer.Option(
            "--reward",
            help="GRPO/RLOO reward: a built-in (numeric, exact_match, unit_tests, format_*), rewards.py:function "
            "or learned:DIR (repeatable).",
        ),
    ] = None,
    replay: Annotated[
        float | None, typer.Option("--replay", help="Share of general instruction data mixed into SFT (0 = off).")
    ] = None,
    precision: Annotated[str | None, typer.Option("--precision", help="auto, fp32, bf16 or fp16.")] = None,
    launcher: Annotated[str | None, typer.Option("--launcher", help="none or accelerate.")] = None,
    num_processes: Annotated[int | None, typer.Option("--num-processes", help="Processes for accelerate.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    allow_unsandboxed: Annotated[bool, typer.Option("--allow-unsandboxed", help=ALLOW_HELP)] = False,
    **values: Any,
) -> None:
    """Train a LoRA adapter with SFT, DPO, KTO, GRPO, RLOO, or a reward model, through TRL and PEFT.

    With --config, trains the experiment's plan (or its --method step) exactly as `posttrain run` does: each
    method from the adapter trained before it, reward_model rewards from the plan's reward step, each
    method's section applied, extra training.seeds too. Rerunning resumes from the last checkpoint.

    Example: posttrain train --method sft --data examples/persona/sft.jsonl --out adapters/sft --max-steps 30
    """
    from rich.console import Console

    from harness.evaluation.sandbox_modes import allow_unsandboxed as allow
    from posttrain.errors import BadInput

    allow(allow_unsandboxed)  # the unit_tests reward runs model-written code
    if not out:
        raise BadInput("--out: missing; give the directory the adapter goes to")
    given = dict(
        model=model, data=data, eval=eval, adapter=adapter, merge=merge, rewards=reward, replay=replay,
        launcher=launcher, num_processes=num_processes, precision=precision, progress=not json_out,
    )  # fmt: skip
    from harness.training import train

    console = Console(highlight=False, soft_wrap=True)
    summaries = []
    for request in _requests(method, out, config, given, values, console.print):
        summaries.append(train(request))
        if not json_out:
            console.print(summaries[-1].line())
    if json_out:  # one summary as an object (as before); a plan's several as a list
        import json

        dumped = [json.loads(s.model_dump_json()) for s in summaries]
        typer.echo(json.dumps(dumped[0] if len(dumped) == 1 else dumped, indent=2))


def _requests(
    method: str | None, out: str, config: str | None, given: dict[str, Any], values: dict[str, Any], say: Any
) -> list[Any]:
    """The requests to train: one from flags, or the config's plan (every seed) as the resolver lays it out."""
    from pathlib import Path

    from harness.training.resolve import build_request

    if config is None:
        return [build_request(method=method, out=out, **given, **values)]
    from harness.config import load_config
    from harness.training.request import check_method
    from harness.training.resolve import TrainOverrides, resolve_plan
    from posttrain.errors import BadInput

    config_path = Path(config)
    cfg = load_config(config_path)
    exp_dir = (config_path if config_path.is_dir() else config_path.parent).resolve()
    if method is not None:
        check_method(method)
    elif not cfg.methods:
        raise BadInput("--method: missing; the config plans no training (methods: []); give --method")
    steps = resolve_plan(cfg, exp_dir, Path(out), TrainOverrides(**given, values=values), [method] if method else None)
    planned = {s.out for s in steps}
    for step in steps:
        if step.request is None:
            say(f"{step.method}: not run by posttrain; `posttrain run` hands it off (see README: PPO, external)")
        elif step.request.adapter and not _trained(Path(step.request.adapter), planned):
            raise BadInput(
                f"--method {step.method} starts from {step.request.adapter}, which holds no adapter yet; "
                f"train the plan in order (`posttrain train --config {config} --out {out}` without --method) "
                "or give --adapter"
            )
    return [s.request for s in steps if s.request is not None]


def _trained(adapter: Any, planned: set[Any]) -> bool:
    """Trained already, or trained earlier in this same command."""
    return adapter in planned or (adapter / "adapter_config.json").is_file()


def _schema_parameters() -> list[inspect.Parameter]:
    """One keyword parameter per schema flag (harness.training.flags), typed and helped by its field."""
    from harness.training.flags import train_flags

    params = []
    for flag in train_flags():
        sections = {t for t, _ in flag.targets}
        panel = "Training settings" if sections <= {"training", "lora"} else "Method settings"
        where = ", ".join(f"{t}.{n}" for t, n in flag.targets)
        names = [f"{flag.option}/--no-{flag.option[2:]}" if flag.kind is bool else flag.option]
        if flag.dest == "learning_rate":
            names.append("--lr")
        option = typer.Option(
            *names, help=f"{flag.help} (experiment.yaml: {where})", rich_help_panel=panel, show_default=False
        )
        annotation = Annotated[flag.kind | None, option]  # type: ignore[name-defined]
        params.append(inspect.Parameter(flag.dest, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation))
    return params


def train_command(**kwargs: Any) -> None:
    _command(**kwargs)  # the schema flags land in _command's **values


def register(app: typer.Typer) -> None:
    """Add ``posttrain train`` to ``app``: the static flags above plus one per schema field."""
    static = [p for p in inspect.signature(_command, eval_str=True).parameters.values() if p.name != "values"]
    keyword = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in static]
    signature = inspect.Signature([*keyword, *_schema_parameters()])
    train_command.__signature__ = signature  # type: ignore[attr-defined]
    train_command.__annotations__ = {p.name: p.annotation for p in signature.parameters.values()}
    train_command.__doc__ = _command.__doc__
    app.command("train")(train_command)

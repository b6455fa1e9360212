"""``posttrain new`` (scaffold an experiment) and ``posttrain config check``; registered by ``harness.areas``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from posttrain.errors import BadInput

config_app = typer.Typer(
    name="config", help="Check an experiment's config (experiment.yaml).", no_args_is_help=True, add_completion=False
)


def new(
    directory: Annotated[Path, typer.Argument(help="Where to create the experiment.", show_default=False)],
    advice: Annotated[
        Path | None,
        typer.Option(
            "--from", help="advice.json from `posttrain advise --out` (or an answers file).", show_default=False
        ),
    ] = None,
    method: Annotated[
        str | None,
        typer.Option(
            "--method",
            help="The plan: prompting, rag, sft, dpo, kto, grpo, rloo, reward+grpo, reward+ppo, or steps joined "
            "with + (rag+sft, sft+dpo); overrides the advice.",
            show_default=False,
        ),
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="Base model (default smollm2-135m).", show_default=False)
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="Experiment name (default: the directory's name).", show_default=False)
    ] = None,
    system_prompt: Annotated[
        str | None, typer.Option("--system-prompt", help="System prompt of every variant.", show_default=False)
    ] = None,
    compute: Annotated[
        str, typer.Option("--compute", help="Size defaults for cpu, gpu_24gb, gpu_80gb or multi_gpu (without --from).")
    ] = "cpu",
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Write into a non-empty directory: regenerate files still as generated, back up edited ones to "
            ".posttrain/backup-<time>/, keep edited data files and runs/.",
        ),
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List the files without writing them.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the file list as JSON.")] = False,
) -> None:
    """Create a runnable experiment from a recommendation: config, starter data, README, Makefile.

    Example: posttrain advise --out advice.json && posttrain new my-exp --from advice.json && cd my-exp && make all
    """
    from harness.scaffold.advice import load_advice_file
    from harness.scaffold.plan import DEFAULT_MODEL, METHOD_CHOICES, plan_from_advice, plan_from_flags
    from harness.scaffold.render import write_experiment

    # Bytes that are not UTF-8 reach argv as surrogate escapes; refuse them before anything is written.
    for flag, value in (("--name", name), ("--model", model), ("--method", method), ("--system-prompt", system_prompt)):
        _require_utf8(flag, value)
    experiment_name = name or directory.resolve().name or "experiment"
    _require_utf8("DIR (the experiment name defaults to its name; pass --name)", experiment_name)
    if advice is not None:
        plan = plan_from_advice(load_advice_file(advice), experiment_name, model, method, system_prompt)
    else:
        if method is None:
            if not sys.stdin.isatty():
                raise BadInput(f"--method: give one of {', '.join(METHOD_CHOICES)} or --from advice.json")
            method = typer.prompt(f"Method ({', '.join(METHOD_CHOICES)})", default="sft")
            if model is None:
                model = typer.prompt("Base model (name, directory or hub id)", default=DEFAULT_MODEL)
        plan = plan_from_flags(experiment_name, method, model, compute, system_prompt)
    outcome = write_experiment(directory, plan, force=force, dry_run=dry_run)
    files = outcome.files
    if as_json:
        body = {"directory": str(directory), "files": files, "written": not dry_run}
        body |= {"backed_up": outcome.backed_up, "kept": outcome.kept, "backup_dir": outcome.backup_dir}
        typer.echo(json.dumps(body, indent=2))
        return
    from rich.console import Console

    console = Console(highlight=False)
    verb = "would write" if dry_run else "wrote"
    plan_text = " → ".join([*(["rag"] if plan.rag else []), *plan.methods]) or "baselines only"
    console.print(f"[bold]{verb}[/] {len(files)} files in {directory} (plan: {plan_text}; model: {plan.model})")
    for relative in files:
        console.print(f"  {relative}")
    for line in outcome.lines():
        console.print(f"[yellow]{line}[/]")
    if not dry_run:
        console.print(f"next: cd {directory} && make check && make all")


def _require_utf8(flag: str, value: str | None) -> None:
    """Refuse text that cannot be written as UTF-8 (a stray byte in argv arrives as a surrogate escape)."""
    if value is None:
        return
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise BadInput(
            f"{flag}: not valid UTF-8 text (a stray byte at character {error.start}); pass UTF-8 text — "
            "nothing was written"
        ) from None


@config_app.command("check")
def check(
    path: Annotated[Path, typer.Argument(help="experiment.yaml or the directory holding it.")] = Path("."),
    as_json: Annotated[bool, typer.Option("--json", help="Print the validated config as JSON.")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 when the data checks found warnings.")] = False,
) -> None:
    """Check what `posttrain run` would: the config, every file it names (format for its stage, the fields
    the metrics need, FIFOs/devices/paths outside the folder refused), the knowledge folder and the model.

    Every problem as file:line: field: message; exit 2 on errors, 1 on warnings with --strict, else 0.

    Example: posttrain config check my-exp/experiment.yaml
    """
    from harness.config_check import check_experiment
    from posttrain.errors import CheckFailed

    result = check_experiment(path)
    if result.errors:
        raise BadInput("\n".join(result.errors))
    config, file = result.config, result.file
    for line in result.checked:
        typer.echo(f"  checked {line}", err=True)
    for line in result.warnings:
        typer.echo(f"warning: {line}", err=True)
    if as_json:
        typer.echo(config.model_dump_json(indent=2))
    else:
        methods = ", ".join(config.methods) or "baselines only"
        typer.echo(f"ok: {file} (methods: {methods}; {len(config.evals)} eval set(s); model {config.model})")
    if strict and result.warnings:
        raise CheckFailed(f"{len(result.warnings)} data files have warnings (--strict)")


def register(app: typer.Typer) -> None:
    """Add ``new`` and ``config check`` to the root app."""
    app.command("new")(new)
    app.add_typer(config_app)

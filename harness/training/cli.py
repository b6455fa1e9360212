"""``posttrain train``: parse flags, call :func:`harness.training.train`, print the one-line summary."""

from __future__ import annotations

from typing import Annotated

import typer

from harness.evaluation.sandbox_modes import ALLOW_HELP


def train_command(
    method: Annotated[
        str | None,
        typer.Option(
            "--method",
            help="sft, dpo, kto, grpo, rloo or reward (default: the config's first method); ppo is handed to "
            "OpenRLHF by `posttrain run`, not run here.",
        ),
    ] = None,
    out: Annotated[str, typer.Option("--out", help="Output directory: the PEFT adapter and its records.")] = "",
    model: Annotated[str | None, typer.Option("--model", help="smollm2-135m, a model dir or a hub id.")] = None,
    data: Annotated[
        list[str] | None, typer.Option("--data", help="Training file (repeat to mix sources equally).")
    ] = None,
    eval: Annotated[str | None, typer.Option("--eval", help="Eval file for an eval loss during training.")] = None,
    config: Annotated[str | None, typer.Option("--config", help="experiment.yaml; flags override it.")] = None,
    adapter: Annotated[str | None, typer.Option("--adapter", help="Start from this adapter (SFT for DPO).")] = None,
    merge: Annotated[bool, typer.Option("--merge", help="Also write OUT/merged, the merged full model.")] = False,
    max_steps: Annotated[int | None, typer.Option("--max-steps", help="Optimizer steps.")] = None,
    epochs: Annotated[float | None, typer.Option("--epochs", help="Passes over the data.")] = None,
    learning_rate: Annotated[float | None, typer.Option("--learning-rate", "--lr", help="Peak learning rate.")] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", help="Examples per device per step.")] = None,
    gradient_accumulation: Annotated[int | None, typer.Option("--gradient-accumulation")] = None,
    max_length: Annotated[int | None, typer.Option("--max-length", help="Longest tokenised example.")] = None,
    packing: Annotated[bool | None, typer.Option("--packing/--no-packing", help="Pack short SFT examples.")] = None,
    save_steps: Annotated[int | None, typer.Option("--save-steps", help="Checkpoint every N steps.")] = None,
    seed: Annotated[int | None, typer.Option("--seed")] = None,
    lora_r: Annotated[int | None, typer.Option("--lora-r", help="LoRA rank.")] = None,
    full_finetune: Annotated[
        bool | None, typer.Option("--full-finetune", help="Train every weight instead of a LoRA adapter.")
    ] = None,
    reward: Annotated[
        list[str] | None,
        typer.Option(
            "--reward",
            help="GRPO/RLOO reward: a built-in (numeric, exact_match, unit_tests, format_*), rewards.py:function "
            "or learned:DIR (repeatable).",
        ),
    ] = None,
    num_generations: Annotated[int | None, typer.Option("--num-generations", help="GRPO/RLOO group size.")] = None,
    max_completion_length: Annotated[int | None, typer.Option("--max-completion-length")] = None,
    replay: Annotated[
        float | None, typer.Option("--replay", help="Share of general instruction data mixed into SFT (0 = off).")
    ] = None,
    precision: Annotated[str | None, typer.Option("--precision", help="auto, fp32, bf16 or fp16.")] = None,
    launcher: Annotated[str | None, typer.Option("--launcher", help="none or accelerate.")] = None,
    num_processes: Annotated[int | None, typer.Option("--num-processes", help="Processes for accelerate.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    allow_unsandboxed: Annotated[bool, typer.Option("--allow-unsandboxed", help=ALLOW_HELP)] = False,
) -> None:
    """Train a LoRA adapter with SFT, DPO, KTO, GRPO, RLOO, or a reward model, through TRL and PEFT.

    Rerunning the same command resumes from the last checkpoint in OUT/checkpoints.

    Example: posttrain train --method sft --data examples/persona/sft.jsonl --out adapters/sft --max-steps 30
    """
    from rich.console import Console

    from harness.evaluation.sandbox_modes import allow_unsandboxed as allow
    from harness.training import build_request, train

    allow(allow_unsandboxed)  # the unit_tests reward runs model-written code
    from posttrain.errors import BadInput

    if not out:
        raise BadInput("--out: missing; give the directory the adapter goes to")
    request = build_request(
        method=method,
        out=out,
        model=model,
        data=data,
        eval=eval,
        config=config,
        adapter=adapter,
        merge=merge,
        rewards=reward,
        replay=replay,
        launcher=launcher,
        num_processes=num_processes,
        precision=precision,
        progress=not json_out,
        max_steps=max_steps,
        epochs=epochs,
        learning_rate=learning_rate,
        batch_size=batch_size,
        gradient_accumulation=gradient_accumulation,
        max_length=max_length,
        packing=packing,
        save_steps=save_steps,
        seed=seed,
        lora_r=lora_r,
        full_finetune=full_finetune,
        num_generations=num_generations,
        max_completion_length=max_completion_length,
    )
    summary = train(request)
    if json_out:
        typer.echo(summary.model_dump_json(indent=2))
    else:
        Console(highlight=False, soft_wrap=True).print(summary.line())


def register(app: typer.Typer) -> None:
    """Add ``posttrain train`` to ``app``."""
    app.command("train")(train_command)

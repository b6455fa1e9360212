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
            help="The plan: prompting, rag, sft, dpo, grpo, reward+grpo, or steps joined with + (rag+sft, sft+dpo); "
            "overrides the advice.",
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
    force: Annotated[bool, typer.Option("--force", help="Write into a non-empty directory (runs/ is kept).")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List the files without writing them.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the file list as JSON.")] = False,
) -> None:
    """Create a runnable experiment from a recommendation: config, starter data, README, Makefile.

    Example: posttrain advise --out advice.json && posttrain new my-exp --from advice.json && cd my-exp && make all
    """
    from harness.scaffold.advice import load_advice_file
    from harness.scaffold.plan import DEFAULT_MODEL, METHOD_CHOICES, plan_from_advice, plan_from_flags
    from harness.scaffold.render import new_experiment

    experiment_name = name or directory.resolve().name or "experiment"
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
    files = new_experiment(directory, plan, force=force, dry_run=dry_run)
    if as_json:
        typer.echo(json.dumps({"directory": str(directory), "files": files, "written": not dry_run}, indent=2))
        return
    from rich.console import Console

    console = Console(highlight=False)
    verb = "would write" if dry_run else "wrote"
    plan_text = " → ".join([*(["rag"] if plan.rag else []), *plan.methods]) or "baselines only"
    console.print(f"[bold]{verb}[/] {len(files)} files in {directory} (plan: {plan_text}; model: {plan.model})")
    for relative in files:
        console.print(f"  {relative}")
    if not dry_run:
        console.print(f"next: cd {directory} && make check && make all")


@config_app.command("check")
def check(
    path: Annotated[Path, typer.Argument(help="experiment.yaml or the directory holding it.")] = Path("."),
    as_json: Annotated[bool, typer.Option("--json", help="Print the validated config as JSON.")] = False,
) -> None:
    """Validate experiment.yaml: every problem as file:line: field.path: message (exit 2), missing files too.

    Example: posttrain config check my-exp/experiment.yaml
    """
    from harness.config import CONFIG_FILE, load_config, missing_files

    config = load_config(path)
    file = path / CONFIG_FILE if path.is_dir() else path
    missing = missing_files(config, file)
    if missing:
        raise BadInput("\n".join(f"{file}: {line}" for line in missing))
    if as_json:
        typer.echo(config.model_dump_json(indent=2))
        return
    methods = ", ".join(config.methods) or "baselines only"
    typer.echo(f"ok: {file} (methods: {methods}; {len(config.evals)} eval set(s); model {config.model})")


def register(app: typer.Typer) -> None:
    """Add ``new`` and ``config check`` to the root app."""
    app.command("new")(new)
    app.add_typer(config_app)

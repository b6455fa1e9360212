"""``posttrain run`` and ``posttrain demo``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from harness.evaluation.sandbox_modes import ALLOW_HELP


def _console():  # type: ignore[no-untyped-def]
    from rich.console import Console

    return Console(highlight=False)


def run(
    directory: Annotated[Path, typer.Argument(help="The experiment folder (holds experiment.yaml).")] = Path("."),
    only: Annotated[list[str] | None, typer.Option("--only", help="Run only this stage (repeatable).")] = None,
    start: Annotated[str | None, typer.Option("--from", help="Rerun from this stage on.")] = None,
    force: Annotated[list[str] | None, typer.Option("--force", help="Rerun this stage even if unchanged.")] = None,
    new: Annotated[
        bool, typer.Option("--new", help="Start a new run folder instead of continuing the latest.")
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan with estimates; run nothing.")] = False,
    compute: Annotated[
        str | None,
        typer.Option("--compute", help="With --dry-run: what fits on gpu_24gb, gpu_80gb or cpu (memory, time)."),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the outcome as JSON.")] = False,
    allow_unsandboxed: Annotated[bool, typer.Option("--allow-unsandboxed", help=ALLOW_HELP)] = False,
) -> None:
    """Run an experiment: check data → baselines → train → evaluate tuned → forgetting → report.

    Reruns skip unchanged stages; an interrupted run resumes (training from its checkpoint).
    Stages: check, baselines, train, tuned, forgetting, report.

    Example: posttrain run my-exp --dry-run --compute gpu_24gb ; posttrain run my-exp --from tuned
    """
    import json

    console = _console()
    if dry_run:
        from harness.config import load_config
        from harness.runner.estimate import estimate, plan_records

        config = load_config(directory)
        rows = estimate(config, directory.resolve(), compute=compute)
        if json_out:  # the estimates, and the train requests `posttrain run` would make (the one resolver)
            typer.echo(json.dumps({**dict(rows), "plan": plan_records(config, directory.resolve())}, indent=2))
            return
        from rich.table import Table

        table = Table(title=f"plan for {config.name}: methods {config.methods or ['(baselines only)']}")
        table.add_column("what")
        table.add_column("estimate on this machine")
        for what, value in rows:
            table.add_row(what, value)
        console.print(table)
        return
    from harness.evaluation.sandbox_modes import allow_unsandboxed as allow
    from harness.runner.pipeline import run_experiment

    allow(allow_unsandboxed)

    say = (lambda _line: None) if json_out else console.print
    result = run_experiment(directory, only=only, start=start, force=force, new_run=new, say=say)
    if json_out:
        outcome = {"run_dir": str(result.run_dir), "stages": [o.__dict__ for o in result.outcomes]}
        typer.echo(json.dumps(outcome, indent=2))
    elif result.report_html.is_file():
        console.print(f"report: [bold]{result.report_html}[/]")


def demo(
    example: Annotated[str, typer.Option("--example", help="A folder under examples/.")] = "support-assistant",
    directory: Annotated[
        Path | None,
        typer.Option(
            "--dir",
            help="Where the demo experiment is written (default posttrain-demo/, posttrain-demo-NAME/ for others).",
            show_default=False,
        ),
    ] = None,
    quick: Annotated[bool, typer.Option("--quick", help="A few steps and rows only (a smoke run).")] = False,
    model: Annotated[
        str | None, typer.Option("--model", help="Run the demo on this model instead.", show_default=False)
    ] = None,
) -> None:
    """The whole loop on a shipped example: advice → scaffold → run → verdict and report.

    Each example has its own folder; a folder holding another experiment is refused, never overwritten.

    Example: posttrain demo ; posttrain demo --example arithmetic   (→ posttrain-demo-arithmetic/)
    """
    from advisor.render import render
    from harness.runner.demo import default_demo_dir, run_demo

    console = _console()
    directory = directory or default_demo_dir(example)
    console.print(f"[bold]posttrain demo[/]: example [cyan]{example}[/] → {directory}/")
    result = run_demo(
        example,
        directory,
        quick=quick,
        say=console.print,
        show_advice=lambda advice: render(advice.recommendation, console),
        model=model,
    )
    console.print(f"\n[bold]verdict[/]: {result.verdict}")
    console.print(f"report: [bold]{result.report_html}[/]")


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("demo")(demo)

"""``posttrain report`` and ``posttrain compare``; registered on the root app by ``harness.areas``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add ``report`` and ``compare`` to ``app``."""
    app.command("report")(report)
    app.command("compare")(compare)


def report(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (EXP/runs/<id>) or an experiment directory.")],
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the report here instead of the run directory.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report's data as JSON.")] = False,
) -> None:
    """Write report.md and a self-contained report.html for a run, and print the verdict.

    A stage output that cannot be read is named on stderr (one line each) and left out; the report shows
    the rest (beside an earlier report, which is kept, as report.partial.md/.html) and the command exits 2.

    Example: posttrain report my-exp/runs/latest
    """
    from harness.report.render import write_report

    data, md, html = write_report(run_dir, out)
    if as_json:
        typer.echo(data.model_dump_json(indent=2))
        _exit_on_problems(data.problems)
        return
    from rich.console import Console

    console = Console(highlight=False)
    from harness.report.render import headline

    console.print(f"[bold]Decision: {headline(data)}.[/]")
    if data.decision is not None:
        console.print(f"{data.decision.why}\nnext: {data.decision.next_step}")
    console.print(data.verdict.sentence)
    if data.verdict.advice:
        console.print(data.verdict.advice)
    for note in data.notes:
        console.print(f"[yellow]note:[/] {note}")
    console.print(f"wrote {md}\nwrote {html}")
    _exit_on_problems(data.problems)


def _exit_on_problems(problems: list[str]) -> None:
    """The report was written from what could be read; each unreadable output is one line on stderr, exit 2."""
    for problem in problems:
        typer.echo(f"could not read: {problem}", err=True)
    if problems:
        raise typer.Exit(2)  # a damaged file is bad input


def compare(
    run_dirs: Annotated[list[Path], typer.Argument(help="Two or more run or experiment directories.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the aligned tables as JSON.")] = False,
) -> None:
    """Put the runs' variant × metric tables and verdicts side by side.

    Example: posttrain compare exp-a/runs/latest exp-b/runs/latest
    """
    from harness.report.compare import compare_runs
    from harness.report.render import headline
    from harness.report.verdict import label, p_text, points

    data = compare_runs(run_dirs)
    if as_json:
        typer.echo(data.model_dump_json(indent=2))
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(highlight=False)
    names = list(data.rows[0].cells) if data.rows else [r.run_id for r in data.runs]
    table = Table(title="mean [95% CI] by run")
    for column in ("eval set", "metric", "variant", *names):
        table.add_column(column, no_wrap=column == "variant")  # "fine-tuning + RAG" stays on one line
    for row in data.rows:
        cells = [f"{c[0]:.3f} [{c[1]:.3f}, {c[2]:.3f}]" if c else "–" for c in row.cells.values()]
        table.add_row(row.eval_set, row.metric, label(row.variant), *cells)  # the report's names
    console.print(table)
    forgetting = Table(title="general skills: change in accuracy, points [95% CI]")
    for column in ("run", "delta", "95% CI", "p"):
        forgetting.add_column(column)
    for name, run in zip(names, data.runs, strict=False):
        o = run.forgetting_overall
        forgetting.add_row(
            name,
            *(
                [
                    ("+" if o.delta > 0 else "") + points(o.delta, 100),
                    f"{points(o.ci95[0], 100)} to {points(o.ci95[1], 100)}",
                    p_text(o.p_value),
                ]
                if o
                else ["–", "–", "–"]
            ),
        )
    console.print(forgetting)
    for name, run in zip(names, data.runs, strict=False):
        console.print(f"[bold]{name}[/]: Decision: {headline(run)}. {run.verdict.sentence}")
        for line in run.stale:  # what compare left out, so a missing cell is never a mystery
            console.print(f"[yellow]{name}: left out as stale:[/] {line}")
        for line in run.problems:  # unreadable outputs, left out the same way
            console.print(f"[yellow]{name}: could not read:[/] {escape(line)}")

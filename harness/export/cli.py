"""``posttrain export``: parse, call :func:`harness.export.export_run`, print; exit 1 when the check fails."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from harness.export.bundle import ExportResult


def export_command(
    run: Annotated[Path, typer.Argument(help="A run folder: EXP/runs/latest or EXP/runs/<id> (or EXP).")],
    out: Annotated[Path, typer.Option("--out", help="The folder to write (new or empty).")],
    variant: Annotated[str, typer.Option("--variant", help="tuned, or tuned_rag (with the run's retrieval).")] = (
        "tuned"
    ),
    method: Annotated[
        str | None, typer.Option("--method", help="Which trained adapter (default: the plan's last).")
    ] = None,
    check_rows: Annotated[
        int | None, typer.Option("--check-rows", min=1, help="Check only the first N rows of each eval set.")
    ] = None,
    dtype: Annotated[
        str | None,
        typer.Option("--dtype", help="float32, bfloat16 or float16 (default: the dtype the run evaluated in)."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace a non-empty --out: everything in it is deleted.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print export.json.")] = False,
) -> None:
    """Export a run's fine-tuned model: merged weights, Ollama Modelfile, vLLM commands, proof it reproduces.

    Writes DIR/merged (safetensors + tokenizer + generation_config.json), DIR/Modelfile, DIR/serve/,
    DIR/README.md and DIR/export.json, then re-runs the run's eval sets on the export and compares each
    row with the run's outputs: exit 1 when they differ (the rows are listed).

    Example: posttrain export my-exp/runs/latest --out ship

    Example: posttrain export my-exp/runs/latest --variant tuned_rag --check-rows 20 --out ship --force
    """
    from harness.export.bundle import ExportRequest, export_run
    from harness.quiet import quiet_libraries
    from posttrain.errors import CheckFailed

    quiet_libraries()
    request = ExportRequest(
        run=str(run), out=str(out), variant=variant, method=method, check_rows=check_rows, dtype=dtype, force=force
    )
    say = (lambda _line: None) if as_json else (lambda line: typer.echo(line, err=True))
    result = export_run(request, say=say)
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
    else:
        _print(result)
    if not result.check.passed:
        lines = [f"{d.eval_set}/{d.id}: run {d.recorded!r} → export {d.exported!r}" for d in result.check.differing]
        shown = lines[:10] + ([f"… and {len(lines) - 10} more in {result.out}/export.json"] if len(lines) > 10 else [])
        raise CheckFailed("\n".join([result.check.line(), *shown]))


def _print(result: ExportResult) -> None:
    check = result.check
    typer.echo(f"exported {result.method} ({result.variant}) to {result.out}  [{result.size_bytes / 1e6:.0f} MB, "
               f"{result.wall_s:.0f} s]")  # fmt: skip
    typer.echo(f"  merged model   {result.merged}")
    for s in check.sets:
        typer.echo(f"  {s.eval_set:<14} {s.identical}/{s.rows} rows identical")
    typer.echo(f"  Ollama         {result.ollama['create']}  (not run here)")
    typer.echo("  vLLM           see README.md (not run here)")
    typer.echo(f"  GGUF           {result.gguf['path'] or 'not written: see README.md'}")
    typer.echo(check.line())


def register(app: typer.Typer) -> None:
    """Add ``posttrain export`` to the root app."""
    app.command("export")(export_command)

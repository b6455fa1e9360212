"""``posttrain data ...``: the data sub-app. This module adds ``check`` and ``convert``; other areas add their commands
to :data:`data_app` (distill, best-of-n, filter, mix).
"""

from __future__ import annotations

from typing import Annotated

import typer

data_app = typer.Typer(
    name="data",
    help="Check and prepare training data: posttrain data check FILE",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


@data_app.command("check")
def check_command(
    file: Annotated[str, typer.Argument(help="JSONL, JSON, CSV or Parquet file, or a datasets name (NAME[:SPLIT]).")],
    kind: Annotated[
        str | None, typer.Option("--kind", help="What the data is for: sft, dpo, kto, rl or eval (default: detected).")
    ] = None,
    eval_file: Annotated[
        str | None, typer.Option("--eval", help="Eval set to look for leaks of (exact and near overlap).")
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="Count tokens with this model's tokenizer and chat template.")
    ] = None,
    max_length: Annotated[
        int | None, typer.Option("--max-length", help="Report the share of rows longer than this many tokens.")
    ] = None,
    columns: Annotated[
        str | None,
        typer.Option(
            "--columns", help="Map columns first: TARGET=SOURCE pairs, e.g. prompt=question,completion=answer."
        ),
    ] = None,
    split: Annotated[
        str | None, typer.Option("--split", help="Split of a DatasetDict folder or datasets name (default train).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 when there are warnings.")] = False,
) -> None:
    """Check a dataset before training: parse errors, structure, duplicates, eval leaks, lengths, encodings.

    Exit 0 when clean, 1 when there are warnings and --strict is given, 2 when there are errors.

    Example: posttrain data check train.jsonl --kind sft --eval eval.jsonl --model smollm2-135m --max-length 1024
    """
    from harness.data.check import check_dataset
    from harness.data.render import print_report

    report = check_dataset(
        file, kind=kind, eval_path=eval_file, model=model, max_length=max_length, columns=columns, split=split
    )
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
    else:
        print_report(report)
    if report.errors:
        raise typer.Exit(2)
    if strict and report.warnings:
        raise typer.Exit(1)


@data_app.command("convert")
def convert_command(
    file: Annotated[
        str, typer.Argument(help="Alpaca, ShareGPT, OpenAI chat, TRL or KTO rows; JSONL/JSON/CSV/Parquet.")
    ],
    kind: Annotated[str, typer.Option("--kind", help="What the rows train: sft, dpo, kto or rl.")],
    out: Annotated[str, typer.Option("--out", help="Where to write the converted rows (JSON Lines).")],
    columns: Annotated[
        str | None,
        typer.Option(
            "--columns", help="Map columns first: TARGET=SOURCE pairs, e.g. prompt=question,completion=answer."
        ),
    ] = None,
    split: Annotated[
        str | None, typer.Option("--split", help="Split of a DatasetDict folder or datasets name (default train).")
    ] = None,
    system_prompt: Annotated[
        str | None, typer.Option("--system-prompt", help="Add this system turn where a row has none, as training does.")
    ] = None,
) -> None:
    """Write exactly the rows training sees: TRL's conversational prompt/completion, preference, KTO or prompt rows.

    A multi-turn conversation becomes one row per trained assistant turn (weight-0 turns are context only).
    Exit 2 on bad input, naming file:line.

    Example: posttrain data convert sharegpt.json --kind sft --out train.trl.jsonl
    """
    from harness.data.convert import write_converted

    count, rows_in = write_converted(file, kind, out, columns=columns, split=split, system_prompt=system_prompt)
    typer.echo(f"wrote {count:,} {kind} rows from {rows_in:,} input rows to {out}")


def register(app: typer.Typer) -> None:
    """Add ``posttrain data`` (with ``check``) to the root app."""
    app.add_typer(data_app, name="data")

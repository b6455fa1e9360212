"""``posttrain models``: the default and the cached models, with their sizes."""

from __future__ import annotations

import json
from typing import Annotated

import typer


def models_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print the list as JSON.")] = False,
) -> None:
    """List the models --model accepts by name: the default and the cached ones, with sizes on disk.

    Also accepted: any local Hugging Face model directory.

    Example: posttrain models --json
    """
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from harness.models.catalog import human_size, list_models

    models = list_models()
    if as_json:
        typer.echo(json.dumps([m.model_dump() for m in models], indent=2))
        return
    table = Table(show_header=True, header_style="bold")
    for column in ("name", "where", "size", "status", "path"):
        table.add_column(column, overflow="fold")
    for m in models:
        size = human_size(m.size_bytes) if m.size_bytes else "-"
        table.add_row(escape(m.name), m.where, size, escape(m.status), escape(m.path or "-"))
    Console(highlight=False).print(table)


def register(app: typer.Typer) -> None:
    """Add ``posttrain models`` to the root app."""
    app.command("models")(models_command)

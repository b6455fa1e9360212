"""Commands of this area; registered on the root app by ``harness.areas``."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this area's commands to ``app`` (filled in by the area's issue)."""

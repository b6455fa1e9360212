"""``posttrain advise``; registered on the root app by ``harness.cli``.

Import-light on purpose: this module is imported for every ``posttrain`` command (even ``--help``),
so pydantic, yaml, rich and questionary are imported inside the command body only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add ``advise`` to ``app``."""
    app.command("advise")(advise)


def advise(
    answers: Annotated[
        Path | None,
        typer.Option(
            "--answers",
            help="YAML or JSON answers file (keys as in the README); no questions are asked. Missing keys "
            "take their defaults.",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the answers and recommendation as JSON.")] = False,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Save the answers and recommendation (advice.json) for `posttrain new --from`."),
    ] = None,
) -> None:
    """Recommend prompting, RAG, SFT, DPO or RL for your use case, with reasons, cautions and next steps.

    Asks a few questions (arrow keys on a terminal, plain prompts otherwise), or reads them from --answers.

    Example: posttrain advise --answers examples/support-assistant/answers.yaml --out advice.json
    """
    from advisor.advice import advise_from_file, make_advice, save_advice

    if answers is not None:
        advice = advise_from_file(answers)
    else:
        from advisor.engine import recommend
        from advisor.interactive import Quit, interactive_answers

        try:
            given = interactive_answers()
        except Quit:
            typer.echo("quit: nothing recommended or saved", err=True)
            raise typer.Exit(130) from None
        advice = make_advice(given, recommend(given))
    if out is not None:
        save_advice(advice, out)
    if as_json:
        typer.echo(advice.model_dump_json(indent=2))
    else:
        from advisor.render import render

        render(advice.recommendation, saved=str(out) if out else None)

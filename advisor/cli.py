"""``posttrain advise``; registered on the root app by ``harness.cli``.

Import-light on purpose: this module is imported for every ``posttrain`` command (even ``--help``),
so pydantic, yaml, rich and questionary are imported inside the command body only.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from advisor.survey import Surveyor

# The ``--data`` counter, plugged in by whoever registers the command (the root CLI passes harness's,
# which uses `data check`'s format detection; the advisor itself must not import harness).
_SURVEYOR: list[Surveyor] = []


def register(app: typer.Typer, surveyor: Surveyor | None = None) -> None:
    """Add ``advise`` to ``app``; ``surveyor`` counts the data behind ``--data DIR``."""
    if surveyor is not None:
        _SURVEYOR[:] = [surveyor]
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
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="An experiment or any folder of data files: count SFT rows, preference pairs, unpaired labels, "
            "RL prompts with answers or tests, eval rows and knowledge documents, and pre-fill those answers "
            "(answers you give still win).",
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

    Example: posttrain advise --answers examples/support-assistant/answers.yaml --data my-exp --out advice.json
    """
    from advisor.advice import load_answers, make_advice, save_advice
    from advisor.engine import recommend
    from advisor.schema import Answers

    survey = None
    if data is not None:
        from posttrain.errors import BadInput

        if not _SURVEYOR:
            raise BadInput("--data: no data surveyor is registered; run it as `posttrain advise --data DIR`")
        survey = _SURVEYOR[0](data)
    if answers is not None:
        given = load_answers(answers)
        if survey is not None:
            from advisor.survey import merge_answers

            explicit = given.model_dump(include=given.model_fields_set)
            given = Answers.model_validate(merge_answers(explicit, survey))
            _say_survey(survey, set(explicit))
    else:
        from advisor.interactive import Quit, interactive_answers

        if survey is not None:
            _say_survey(survey, set())
        try:
            given = interactive_answers(given=survey.answers if survey else None)
        except (Quit, KeyboardInterrupt):
            typer.echo("quit: nothing recommended or saved", err=True)
            raise typer.Exit(130) from None
    advice = make_advice(given, recommend(given))
    if survey is not None:
        advice.data_sources = survey.sources
    if out is not None:
        save_advice(advice, out)
    if as_json:
        typer.echo(advice.model_dump_json(indent=2))
    else:
        from advisor.render import render

        render(advice.recommendation, saved=str(out) if out else None)


def _say_survey(survey: object, explicit: set[str]) -> None:
    from advisor.survey import DataSurvey

    assert isinstance(survey, DataSurvey)
    typer.echo(f"From the data in {survey.directory}:", err=True)
    for line in survey.lines(explicit) or ["no data files found"]:
        typer.echo(f"  {line}", err=True)

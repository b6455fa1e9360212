"""Reading ``advice.json`` (written by ``posttrain advise --out``) without depending on the advisor's code.

Only the fields the scaffold uses are declared; the rest of the advice is kept (``extra="allow"``) and
copied verbatim into the generated experiment so it can be regenerated. An answers file (YAML or JSON
without a ``recommendation``) is turned into advice by the advisor's engine when it is installed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from posttrain.errors import BadInput, validation_lines

Approach = Literal["prompting", "rag", "sft", "dpo", "rl"]


class _Loose(BaseModel):
    # The advisor owns this format; fields the scaffold does not read pass through untouched.
    model_config = ConfigDict(extra="allow")


class Reason(_Loose):
    text: str = Field(description="Why the advisor scored this approach as it did.")
    rule: str = Field("", description="The rule that produced the reason.")


class Ranked(_Loose):
    approach: Approach = Field(description="One of the five approaches.")
    score: float = Field(0.0, description="The advisor's score for the approach.")
    reasons: list[Reason] = Field(default_factory=list, description="Reasons behind the score.")


class Caution(_Loose):
    kind: str = Field("", description="forgetting, data_quality, diversity, facts_in_rag, too_little_data ...")
    text: str = Field(description="The caution in plain words.")


class RlChoice(_Loose):
    algorithm: str = Field("grpo", description="Online RL algorithm: grpo, rloo or ppo.")
    reward: Literal["verifiable", "learned"] = Field("verifiable", description="Kind of reward.")


class PreferenceChoice(_Loose):
    algorithm: str = Field("dpo", description="Preference algorithm: dpo (pairs) or kto (unpaired labels).")


class AdvisedRecommendation(_Loose):
    primary: Approach = Field(description="The recommended approach.")
    plan: list[Approach] = Field(default_factory=list, description="Ordered steps, e.g. [rag, sft].")
    ranking: list[Ranked] = Field(default_factory=list, description="All approaches with scores and reasons.")
    cautions: list[Caution] = Field(default_factory=list, description="Risks to watch.")
    next_steps: list[str] = Field(default_factory=list, description="Concrete next steps.")
    rl: RlChoice | None = Field(None, description="The RL algorithm and reward kind, when RL is planned.")
    preference: PreferenceChoice | None = Field(None, description="The preference algorithm, when planned.")
    success_check: str | None = Field(None, description="How outputs are checked; the scaffold's metrics follow.")
    answer_type: str | None = Field(None, description="number, label, json or text: picks metric and reward.")
    sft_data_strategy: str | None = Field(None, description="How to get SFT data.")


class AdviceFile(_Loose):
    posttrain_version: str = Field("", description="posttrain version that wrote the advice.")
    answers: dict[str, Any] = Field(default_factory=dict, description="The questionnaire answers.")
    recommendation: AdvisedRecommendation = Field(description="The advisor's recommendation.")


def load_advice_file(path: str | Path) -> AdviceFile:
    """Read ``advice.json`` (or an answers file, recommended on the fly); raise ``BadInput`` saying where."""
    from posttrain.safe_files import YAML_LIMIT_ENV, read_text, yaml_limit_bytes

    file = Path(path)
    if not file.exists():
        raise BadInput(f"{file}: no such file; write one with `posttrain advise --out {file.name}`")
    # Regular files only, within the size limit; a FIFO or device is refused before it is opened.
    text = read_text(file, "advice file", yaml_limit_bytes(), YAML_LIMIT_ENV)
    raw = _parse(file, text)
    if not isinstance(raw, dict):
        raise BadInput(f"{file}:1: expected an object with 'answers' and 'recommendation'")
    if "recommendation" not in raw:
        raw = _recommend_from_answers(file, raw)
    try:
        return AdviceFile.model_validate(raw)
    except ValidationError as error:
        raise BadInput("\n".join(validation_lines(error, str(file)))) from None


def _parse(file: Path, text: str) -> Any:
    if file.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise BadInput(f"{file}:{error.lineno}: not valid JSON: {error.msg}") from None
        except (RecursionError, ValueError):  # nested too deeply, or an integer over 4,300 digits
            raise BadInput(f"{file}: not usable JSON (nested too deeply or a number too large)") from None
    from posttrain.safe_files import load_yaml

    return load_yaml(text, str(file))  # aliases limited by expansion: an alias bomb is refused


def _recommend_from_answers(file: Path, raw: dict[str, Any]) -> dict[str, Any]:
    """An answers file: ask the advisor's engine (the scaffold works without it for advice files)."""
    try:
        from advisor.engine import recommend
        from advisor.schema import Answers
    except ImportError:
        raise BadInput(
            f"{file}: has no 'recommendation'; run `posttrain advise --answers {file} --out advice.json` first"
        ) from None
    answers_raw = raw.get("answers", raw)
    try:
        answers = Answers.model_validate(answers_raw)
    except ValidationError as error:
        raise BadInput("\n".join(validation_lines(error, str(file)))) from None
    recommendation = recommend(answers)
    from posttrain import __version__

    return {
        "posttrain_version": __version__,
        "answers": answers.model_dump(mode="json"),
        "recommendation": recommendation.model_dump(mode="json"),
    }

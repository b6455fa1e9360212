"""Reading answers files and reading/writing advice.json.

An answers file is YAML or JSON, a mapping of the keys of ``advisor.schema.Answers``. A bad file is
reported in full: every unknown key, every wrong value, each with its line and the allowed values.
"""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import ValidationError

from advisor.schema import Advice, Answers, Recommendation
from posttrain.errors import BadInput


def allowed_values(key: str) -> str:
    """What a key accepts, in words.

    >>> allowed_values("compute")
    'one of cpu, gpu_24gb, gpu_80gb, multi_gpu'
    >>> allowed_values("goals")
    'a list of one or more of knowledge, style, format, capability, identity, distillation, agent'
    """
    annotation = Answers.model_fields[key].annotation
    if get_origin(annotation) is list:
        return "a list of one or more of " + ", ".join(get_args(get_args(annotation)[0]))
    if annotation is bool:
        return "true or false"
    if annotation is int:
        return "a whole number ≥ 0"
    return "one of " + ", ".join(get_args(annotation))


def _line_of(text: str, key: str) -> int | None:
    """The 1-based line where ``key`` is set (a YAML ``key:`` or a JSON ``"key":``), when it can be found."""
    pattern = re.compile(rf"^\s*(?:-\s*)?[\"']?{re.escape(key)}[\"']?\s*:|[\"']{re.escape(key)}[\"']\s*:")
    for number, line in enumerate(text.splitlines(), start=1):
        if pattern.search(line):
            return number
    return None


def _parse(path: Path, text: str) -> Any:
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise BadInput(f"{path}:{error.lineno}: not valid JSON: {error.msg}") from None
        except RecursionError:
            raise BadInput(f"{path}: the JSON is nested too deeply to read") from None
        except ValueError as error:  # e.g. an integer over Python's 4,300-digit limit
            raise BadInput(f"{path}: not usable JSON: {error}") from None
    from posttrain.safe_files import load_yaml

    # Aliases are limited by their expansion: an alias bomb ("billion laughs") is refused, not expanded.
    return load_yaml(text, str(path))


def answers_problems(data: Any, source: str = "answers", text: str = "") -> list[str]:
    """Every problem in an answers mapping, one line each (empty when it is valid).

    >>> for line in answers_problems({"goals": ["speed"], "compute": "tpu", "colour": 1}, "a.yaml"):
    ...     print(line)
    a.yaml: colour: unknown key; allowed keys: goals, instruction_complexity, repeated_instructions, \
repeated_corrections, knowledge_changes, knowledge_docs, sft_examples, preference_pairs, feedback_labels, \
success_check, answer_type, rl_prompts, teacher_model, model_stage, compute, eval_examples, forgetting_tolerance
    a.yaml: goals: 'speed' is not allowed; expected a list of one or more of knowledge, style, format, \
capability, identity, distillation, agent
    a.yaml: compute: 'tpu' is not allowed; expected one of cpu, gpu_24gb, gpu_80gb, multi_gpu
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return [f"{source}: expected a mapping of answers (key: value), got {type(data).__name__}"]

    def where(key: str) -> str:
        line = _line_of(text, key) if text else None
        return f"{source}:{line}" if line else source

    problems: list[tuple[int, str]] = []
    known = list(Answers.model_fields)
    for key in data:
        if key not in Answers.model_fields:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            problems.append((-1, f"{where(str(key))}: {key}: unknown key; {hint}allowed keys: {', '.join(known)}"))
    try:
        Answers.model_validate({k: v for k, v in data.items() if k in Answers.model_fields})
    except ValidationError as error:
        seen: set[tuple[str, str]] = set()
        for err in error.errors():
            key = str(err["loc"][0]) if err["loc"] else "(top level)"
            value = data.get(key)
            if len(err["loc"]) > 1 and isinstance(value, list) and isinstance(err["loc"][1], int):
                value = value[err["loc"][1]]  # the offending list item, not the whole list
            shown = "an empty list" if err["type"] == "too_short" else repr(value)
            if (key, shown) in seen:
                continue
            seen.add((key, shown))
            why = f"{shown} is not allowed; expected {allowed_values(key)}"
            if err["type"] == "list_type" and isinstance(value, str):
                why = f"{shown} is not a list; write it as a one-item list ({allowed_values(key)})"
            problems.append((known.index(key), f"{where(key)}: {key}: {why}"))
    return [line for _, line in sorted(problems, key=lambda p: p[0])]


def load_answers(path: str | Path) -> Answers:
    """Read an answers file (YAML or JSON); raise ``BadInput`` listing every problem."""
    from posttrain.safe_files import YAML_LIMIT_ENV, read_text, yaml_limit_bytes

    path = Path(path)
    # A regular file within the size limit: a FIFO or /dev/zero is refused by name before opening.
    text = read_text(path, "answers file", yaml_limit_bytes(), YAML_LIMIT_ENV)
    data = _parse(path, text)
    if (
        isinstance(data, dict)
        and "answers" in data
        and set(data) <= {"answers", "recommendation", "posttrain_version", "data_sources"}
    ):
        data = data["answers"]  # an advice.json: its answers are re-advised (e.g. after the rules changed)
    problems = answers_problems(data, str(path), text)
    if problems:
        raise BadInput("\n".join(problems))
    # Validate only the keys given, so that ``model_fields_set`` tells given answers from defaults.
    return Answers.model_validate(data or {})


def advise_from_file(path: str | Path) -> Advice:
    """Answers file in, advice out: what ``posttrain advise --answers FILE`` does."""
    from advisor.engine import recommend

    answers = load_answers(path)
    return make_advice(answers, recommend(answers))


def make_advice(answers: Answers, recommendation: Recommendation) -> Advice:
    from posttrain import __version__

    return Advice(posttrain_version=__version__, answers=answers, recommendation=recommendation)


def save_advice(advice: Advice, path: str | Path) -> Path:
    """Write advice.json atomically (a crash never leaves a half-written file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(path.name + ".tmp")
    staging.write_text(advice.model_dump_json(indent=2) + "\n", encoding="utf-8")
    staging.replace(path)
    return path


def load_advice(path: str | Path) -> Advice:
    """Read advice.json written by ``posttrain advise --out``; ``BadInput`` names each problem."""
    from posttrain.safe_files import YAML_LIMIT_ENV, read_text, yaml_limit_bytes

    path = Path(path)
    text = read_text(path, "advice file", yaml_limit_bytes(), YAML_LIMIT_ENV)
    try:
        return Advice.model_validate_json(text)
    except ValidationError as error:
        from posttrain.errors import validation_lines

        raise BadInput("\n".join(validation_lines(error, str(path)))) from None

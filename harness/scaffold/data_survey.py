"""Count what a folder of data holds, for ``posttrain advise --data DIR`` (the advisor's ``Surveyor``).

Each data file is read with the data layer's reader and classified with ``data check``'s format
detection (``harness.data.formats.detect_format``, which also sees mapped Alpaca, ShareGPT and OpenAI
files): conversations or prompt/completion rows count as SFT demonstrations, chosen/rejected rows as
preference pairs, labelled prompt/completion rows as unpaired (KTO) labels, prompts with an answer or
``tests`` column as RL prompts, prompt + reference rows as eval rows, and documents in a knowledge folder
as knowledge documents. In an experiment directory the roles come from ``experiment.yaml`` instead.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import typer

from advisor.survey import DataSource, DataSurvey
from posttrain.errors import BadInput

DATA_SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv", ".parquet")
DOC_SUFFIXES = (".md", ".markdown", ".txt", ".rst", ".html", ".htm", ".pdf", ".docx", ".pptx")
KNOWLEDGE_DIRS = ("knowledge", "docs", "documents", "corpus", "kb")
EVAL_WORDS = ("eval", "test", "heldout", "held_out", "dev", "valid")
SKIPPED_DIRS = ("runs", ".posttrain", ".git", "__pycache__", "node_modules", ".venv")
# Columns that make a prompt verifiable: a reward can compare against them or run them.
ANSWER_COLUMNS = ("answer", "reference", "solution", "target", "ground_truth", "tests")
MAX_FILES = 2000  # a survey is a quick look; a larger tree is read up to here and the rest noted
FORMAT_KIND = {
    "messages": "sft",
    "prompt_completion": "sft",
    "preference": "preference",
    "unpaired": "unpaired",
    "prompt_only": "rl",
    "eval": "eval",
}
KIND_ANSWER = {
    "sft": "sft_examples",
    "preference": "preference_pairs",
    "unpaired": "feedback_labels",
    "rl": "rl_prompts",
    "eval": "eval_examples",
    "knowledge": "knowledge_docs",
}


def register_advise(app: typer.Typer) -> None:
    """Register ``advise`` with this module as its ``--data`` surveyor (harness → advisor, never back)."""
    from advisor.cli import register

    register(app, surveyor=survey_data)


def survey_data(directory: Path) -> DataSurvey:
    """Count the rows of every data file under ``directory`` by kind; ``BadInput`` when it is no folder."""
    root = Path(directory)
    if not root.is_dir():
        raise BadInput(f"--data {root}: not a directory; pass an experiment or a folder of data files")
    config_file = root / "experiment.yaml"
    sources = _from_config(root, config_file) if config_file.is_file() else _from_tree(root)
    return DataSurvey(directory=str(root), answers=_answers(sources), sources=[s for s, _ in sources])


_NUMBER = re.compile(r"^-?\d[\d,]*(?:\.\d+)?(?:/\d+)?$")
_SAMPLE = 200  # known answers looked at to tell numbers from labels, JSON or texts


def answer_type_of(values: list[str]) -> str | None:
    """What the known answers look like (the advisor's ``answer_type``), or None when they are not short.

    >>> answer_type_of(["42", "-3.5", "1,200"]), answer_type_of(['{"a": 1}', '{"a": 2}'])
    ('number', 'json')
    >>> answer_type_of(["returns", "hours", "returns", "prices"] * 5), answer_type_of(["Ada Lovelace", "1815"])
    ('label', 'text')
    """
    values = [v.strip() for v in values if v.strip()]
    if not values:
        return None
    if all(_NUMBER.match(v) for v in values):
        return "number"
    if all(v[:1] in "{[" and _is_json(v) for v in values):
        return "json"
    distinct = set(values)
    if len(values) >= 10 and len(distinct) <= max(2, len(values) // 4) and all(len(v) <= 40 for v in distinct):
        return "label"
    return "text" if all(len(v.split()) <= 8 for v in values) else None


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _answers(sources: list[tuple[DataSource, dict[str, Any]]]) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    for source, _ in sources:
        if source.answer:
            answers[source.answer] = answers.get(source.answer, 0) + source.rows
    columns: dict[str, int] = {}
    known: list[str] = []
    for source, found in sources:
        if source.kind in ("rl", "eval"):
            for column, count in found.get("columns", {}).items():
                columns[column] = columns.get(column, 0) + count
            known += found.get("answers", [])
    # The columns say how outputs are checked: unit tests, or known answers on the RL prompts.
    if columns.get("tests"):
        answers["success_check"] = "unit_tests"
    elif answers.get("rl_prompts"):
        answers["success_check"] = "exact_answer"
    kind = answer_type_of(known[:_SAMPLE]) if not columns.get("tests") else None
    if kind and answers.get("success_check") == "exact_answer":
        answers["answer_type"] = kind  # e.g. JSON references: exact_match, not numeric
    return answers


def _from_config(root: Path, config_file: Path) -> list[tuple[DataSource, dict[str, Any]]]:
    from harness.config import load_config

    config = load_config(config_file)
    roles: list[tuple[str | None, str | None]] = [(s.path, "sft") for s in config.data.train]
    roles += [(config.data.preference, None), (config.data.prompts, "rl")]
    roles += [(e.path, "eval") for e in config.evals]
    out = [_count_file(root, root / path, kind) for path, kind in roles if path and not path.startswith("builtin:")]
    if config.data.knowledge:
        out.append(_count_docs(root, root / config.data.knowledge))
    return out


def _from_tree(root: Path) -> list[tuple[DataSource, dict[str, Any]]]:
    out: list[tuple[DataSource, dict[str, Any]]] = []
    seen = 0
    knowledge_dirs: list[Path] = []
    for path in sorted(root.rglob("*")):
        parts = path.relative_to(root).parts
        if any(p in SKIPPED_DIRS or p.startswith(".") for p in parts):
            continue
        if path.is_dir() and path.name.lower() in KNOWLEDGE_DIRS:
            if not any(path.is_relative_to(k) for k in knowledge_dirs):
                knowledge_dirs.append(path)
            continue
        if not path.is_file() or any(path.is_relative_to(k) for k in knowledge_dirs):
            continue
        if path.suffix.lower() in DATA_SUFFIXES:
            seen += 1
            if seen > MAX_FILES:
                break
            out.append(_count_file(root, path, None))
    out += [_count_docs(root, folder) for folder in knowledge_dirs]
    return out


def _relative(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)


def _count_file(root: Path, path: Path, role: str | None) -> tuple[DataSource, dict[str, Any]]:
    """Rows of one file by kind; ``role`` (from experiment.yaml) overrides the name-based eval guess."""
    from harness.data.formats import detect_format
    from harness.data.mapping import read_rows

    name = _relative(root, path)
    try:
        table = read_rows(path)  # Alpaca, ShareGPT and OpenAI files mapped onto TRL rows, as `data check` does
        fmt = detect_format(table.rows)
    except BadInput as error:
        reason = str(error).replace(str(path), "").strip(": ")
        return DataSource(path=name, kind="skipped", note=reason[:160]), {}
    kind = FORMAT_KIND.get(fmt, "skipped")
    looks_eval = any(word in path.stem.lower() for word in EVAL_WORDS)
    if role == "eval" or (role is None and looks_eval and kind in ("rl", "eval")):
        kind = "eval"
    elif role == "sft" and kind == "eval":
        kind = "sft"
    columns = {c: sum(1 for row in table.rows if row.get(c) not in (None, "", [])) for c in ANSWER_COLUMNS}
    known = [
        value if isinstance(value, str) else json.dumps(value)
        for row in table.rows[:_SAMPLE]
        for value in [row.get("answer", row.get("reference"))]
        if value not in (None, "", [])
    ]
    rows = len(table.rows)
    note = table.note or ""
    if kind == "rl":
        # Only prompts a reward can check count as RL prompts.
        checked = sum(1 for row in table.rows if any(row.get(c) not in (None, "", []) for c in ANSWER_COLUMNS))
        if checked < rows:
            note = (note + "; " if note else "") + f"{rows - checked:,} prompts without an answer or tests"
        rows = checked
    source = DataSource(path=name, kind=kind, rows=rows, answer=KIND_ANSWER.get(kind), note=note)
    return source, {"columns": columns, "answers": known}


def _count_docs(root: Path, folder: Path) -> tuple[DataSource, dict[str, Any]]:
    if folder.is_file():
        docs = 1
    else:
        docs = sum(
            1
            for p in folder.rglob("*")
            if p.is_file() and p.suffix.lower() in DOC_SUFFIXES + DATA_SUFFIXES and not p.name.startswith(".")
        )
    return DataSource(path=_relative(root, folder), kind="knowledge", rows=docs, answer="knowledge_docs"), {}

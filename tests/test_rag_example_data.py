"""The shipped support-assistant example's data: answerable from its knowledge documents, in the
assistant's fixed format, and without eval questions or answers leaking into the training data."""

from __future__ import annotations

import json
import re
from pathlib import Path

from harness.evaluation.metrics import contains, normalize

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "support-assistant"


def _rows(name: str) -> list[dict]:
    return [json.loads(line) for line in (EXAMPLE / name).read_text().splitlines() if line.strip()]


def _knowledge_text() -> str:
    return "\n".join(p.read_text() for p in sorted((EXAMPLE / "knowledge").glob("*.md")))


def test_knowledge_folder_holds_8_to_15_policy_documents() -> None:
    docs = sorted((EXAMPLE / "knowledge").glob("*.md"))
    assert 8 <= len(docs) <= 15
    assert all(p.read_text().startswith("# ") for p in docs)


def test_eval_questions_have_ids_and_answers_found_in_the_documents() -> None:
    rows = _rows("eval.jsonl")
    assert 35 <= len(rows) <= 50
    assert len({r["id"] for r in rows}) == len(rows)
    knowledge = _knowledge_text()
    for row in rows:
        assert set(row) == {"id", "prompt", "reference", "source"}
        assert contains(knowledge, row) == 1.0, f"{row['id']}: {row['reference']!r} is not in the documents"
        # the named source document holds the answer (the report's retrieval hit@k relies on it)
        source = EXAMPLE / "knowledge" / row["source"]
        assert row["reference"].lower() in source.read_text().lower(), row["id"]
        assert len(row["reference"].split()) <= 3  # short, exact facts a small model can copy


def test_train_conversations_follow_the_format_that_eval_format_checks() -> None:
    train = _rows("train.jsonl")
    fmt = _rows("eval_format.jsonl")
    assert 50 <= len(train) <= 80 and 15 <= len(fmt) <= 25
    pattern = fmt[0]["reference"]
    assert all(row["reference"] == pattern for row in fmt)
    for row in train:
        roles = [m["role"] for m in row["messages"]]
        assert roles[-1] == "assistant" and "user" in roles
        assert re.search(pattern, row["messages"][-1]["content"]), row["messages"][-1]["content"]
    # The untrained format is not what the regex accepts, so the SFT test can show a lift.
    assert not re.search(pattern, "Standard shipping costs $7.95.")


def test_no_eval_question_or_answer_leaks_into_training_data() -> None:
    train = _rows("train.jsonl")
    user_turns = [normalize(m["content"]) for r in train for m in r["messages"] if m["role"] == "user"]
    answers = [m["content"].lower() for r in train for m in r["messages"] if m["role"] == "assistant"]
    for row in _rows("eval.jsonl") + _rows("eval_format.jsonl"):
        question = normalize(row["prompt"])
        # A user turn may end with the question after retrieved context, so compare whole endings.
        assert not any(turn == question or turn.endswith(" " + question) for turn in user_turns), row["id"]
    for row in _rows("eval.jsonl"):
        assert not any(row["reference"].lower() in answer for answer in answers), row["id"]

"""Format detection, the user stating the kind, and per-kind validation with file:line and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.data.formats import detect_format, eval_messages, load_dataset, row_errors
from posttrain.errors import BadInput

U = {"role": "user", "content": "What is 2+2?"}
A = {"role": "assistant", "content": "4"}
S = {"role": "system", "content": "Be brief."}


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ({"messages": [U, A]}, "messages"),
        ({"prompt": "q", "completion": "a"}, "prompt_completion"),
        ({"prompt": [U], "completion": [A]}, "prompt_completion"),
        ({"prompt": "q", "chosen": "a", "rejected": "b"}, "preference"),
        ({"chosen": [U, A], "rejected": [U, {"role": "assistant", "content": "5"}]}, "preference"),
        ({"prompt": "q", "answer": "4"}, "prompt_only"),
        ({"prompt": "q", "reference": "4", "id": 1}, "eval"),
        ({"messages": [U], "reference": "4"}, "eval"),
    ],
)
def test_detect_format(row, expected):
    assert detect_format([row]) == expected


def test_unknown_columns_get_a_hint():
    with pytest.raises(BadInput, match="ShareGPT"):
        detect_format([{"conversations": [{"from": "human", "value": "hi"}]}])


@pytest.mark.parametrize(
    ("messages", "why"),
    [
        ([U, {"role": "bot", "content": "4"}], "unknown role 'bot'"),
        ([U, S, A], "a system message must come first"),
        ([U, U, A], "user follows user"),
        ([U, A, A], "assistant follows assistant"),
        ([U], "must end with an assistant turn"),
        ([U, {"role": "assistant", "content": "  "}], "messages[1].content: empty"),
        ([U, {"role": "assistant"}], 'messages[1]: missing field "content"'),
        ([U, {"role": "assistant", "content": 4}], "messages[1].content: expected text, got int"),
        ("hello", "expected a list of messages, got str"),
    ],
)
def test_bad_turn_structure(messages, why):
    errors = row_errors({"messages": messages}, "messages", "sft")
    assert any(why in e for e in errors), errors


def test_good_rows_have_no_errors():
    assert row_errors({"messages": [S, U, A, U, A]}, "messages", "sft") == []
    assert row_errors({"prompt": [S, U], "completion": [A]}, "prompt_completion", "sft") == []
    assert row_errors({"prompt": "q", "chosen": "a", "rejected": "b"}, "preference", "dpo") == []
    assert row_errors({"prompt": "q", "answer": 4}, "prompt_only", "rl") == []
    assert row_errors({"prompt": "q", "reference": "4", "choices": ["3", "4"], "id": "x"}, "eval", "eval") == []


def test_preference_identical_and_mistyped():
    assert row_errors({"prompt": "q", "chosen": "a", "rejected": "a"}, "preference") == [
        "chosen and rejected are identical"
    ]
    assert 'missing field "rejected"' in row_errors({"prompt": "q", "chosen": "a"}, "preference")
    assert "chosen: expected text or a list of messages, got int" in row_errors(
        {"prompt": "q", "chosen": 1, "rejected": "b"}, "preference"
    )


def test_load_dataset_names_file_line_and_field(tmp_path):
    path = _write(tmp_path / "train.jsonl", [{"messages": [U, A]}, {"messages": [U, A]}, {"messages": [U, U]}])
    with pytest.raises(BadInput) as error:
        load_dataset(path, "sft")
    assert str(error.value).startswith(f"{path}:3: messages[1]: user follows user")


def test_user_stated_kind_that_does_not_fit(tmp_path):
    path = _write(tmp_path / "pairs.jsonl", [{"prompt": "q", "chosen": "a", "rejected": "b"}])
    with pytest.raises(BadInput, match="--kind sft expects messages or prompt_completion rows, but the rows look like"):
        load_dataset(path, "sft")
    assert load_dataset(path, "dpo")[0]["chosen"] == "a"


def test_eval_kind_requires_reference(tmp_path):
    path = _write(tmp_path / "eval.jsonl", [{"prompt": "q", "reference": 4}, {"prompt": "q2"}])
    with pytest.raises(BadInput, match=r"eval\.jsonl:2: missing field \"reference\""):
        load_dataset(path, "eval")
    ok = _write(tmp_path / "ok.jsonl", [{"prompt": "q", "reference": 4}])
    assert load_dataset(ok, "eval")[0]["reference"] == "4"  # numbers become text for the metrics


def test_rl_accepts_prompts_with_reference_columns(tmp_path):
    path = _write(tmp_path / "rl.jsonl", [{"prompt": [U], "answer": "4"}, {"prompt": "1+1?", "answer": "2"}])
    assert len(load_dataset(path, "rl")) == 2


def test_eval_messages_drops_the_answer():
    assert eval_messages({"messages": [S, U, A], "reference": "4"}) == [S, U]
    assert eval_messages({"prompt": "2+2?", "reference": "4"}) == [{"role": "user", "content": "2+2?"}]

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
    # a tie is a warning with a count (data check), not a broken row
    assert row_errors({"prompt": "q", "chosen": "a", "rejected": "a"}, "preference") == []
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


# ---------------------------------------------------------------- formats from the ecosystem, mapped


def _convert(path: Path, kind: str = "sft", **options) -> list[dict]:
    from harness.training.prepare import convert_file

    return convert_file(str(path), kind, **options)


def test_alpaca_pretty_printed_json_array_with_system_and_history(tmp_path, capsys):
    path = tmp_path / "alpaca.json"
    rows = [
        {"instruction": "Translate", "input": "good morning", "output": "bonjour", "system": "You translate.",
         "history": [["hi", "hello"]]},
        {"instruction": "Name a colour", "input": "", "output": "blue"},
    ]  # fmt: skip
    path.write_text(json.dumps(rows, indent=2))
    out = _convert(path)
    assert out[1] == {
        "prompt": [
            {"role": "system", "content": "You translate."},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
            {"role": "user", "content": "Translate\ngood morning"},
        ],
        "completion": [{"role": "assistant", "content": "bonjour"}],
    }
    assert out[0]["completion"] == [{"role": "assistant", "content": "hello"}]  # history answers are trained too
    assert out[2] == {
        "prompt": [{"role": "user", "content": "Name a colour"}],
        "completion": [{"role": "assistant", "content": "blue"}],
    }
    assert f"{path}: Alpaca rows" in capsys.readouterr().err  # one line naming the file and the mapping


@pytest.mark.parametrize(("spelling", "role"), [("human", "user"), ("gpt", "assistant"), ("chatgpt", "assistant"),
                                                ("bing", "assistant"), ("bard", "assistant"), ("model", "assistant"),
                                                ("user", "user"), ("assistant", "assistant")])  # fmt: skip
def test_sharegpt_role_spellings(tmp_path, spelling, role):
    other = {"user": "assistant", "assistant": "user"}[role]
    turns = [{"from": spelling, "value": "x y"}, {"from": {"user": "gpt", "assistant": "human"}[role], "value": "z w"}]
    if role == "assistant":
        turns.reverse()
    path = _write(tmp_path / "s.jsonl", [{"conversations": turns}])
    out = _convert(path)
    roles = [m["role"] for m in out[0]["prompt"] + out[0]["completion"]]
    assert roles == ["user", "assistant"] and other in roles


def test_sharegpt_system_tools_and_observations(tmp_path):
    row = {
        "system": "Use tools.",
        "conversations": [
            {"from": "human", "value": "Weather in Oslo?"},
            {"from": "function_call", "value": '{"name": "weather", "arguments": {"city": "Oslo"}}'},
            {"from": "observation", "value": "rain"},
            {"from": "gpt", "value": "It rains."},
        ],
    }
    out = _convert(_write(tmp_path / "s.jsonl", [row]))
    assert len(out) == 2  # the call and the final answer are both trained
    assert out[1]["prompt"][0] == {"role": "system", "content": "Use tools."}
    assert [m["role"] for m in out[1]["prompt"]] == ["system", "user", "assistant", "tool"]
    assert out[1]["completion"][0]["content"] == "It rains."


def test_openai_chat_weights_names_and_tool_calls_without_content(tmp_path):
    rows = [
        {"messages": [
            {"role": "system", "content": "Marv is sarcastic."},
            {"role": "user", "name": "ann", "content": "Capital of France?"},
            {"role": "assistant", "content": "Paris, as if.", "weight": 0},
            {"role": "user", "content": "Be nice."},
            {"role": "assistant", "content": "Paris.", "weight": 1},
        ]},
        {"messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
            ]},
            {"role": "tool", "tool_call_id": "c1", "content": '{"celsius": 20}'},
            {"role": "assistant", "content": "20 degrees."},
        ]},
    ]  # fmt: skip
    out = _convert(_write(tmp_path / "openai.jsonl", rows))
    assert [r["completion"][0]["content"] for r in out] == [
        "Paris.",
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>',
        "20 degrees.",
    ]
    assert out[0]["prompt"][2] == {"role": "assistant", "content": "Paris, as if."}  # context, not a target
    assert all(set(m) == {"role", "content"} for r in out for m in r["prompt"])  # name/tool_call_id dropped
    bad = _write(tmp_path / "bad.jsonl", [{"messages": [U, {**A, "weight": 0.5}]}])
    with pytest.raises(BadInput, match=r"bad.jsonl:1: messages\[1\].weight: expected 0 or 1"):
        _convert(bad)


def test_kto_rows_keep_their_label(tmp_path):
    path = _write(tmp_path / "kto.jsonl", [{"prompt": "2+2?", "completion": "4", "label": True},
                                           {"prompt": "2+2?", "completion": "5", "label": False}])  # fmt: skip
    assert detect_format(load_dataset(path)) == "unpaired"
    out = _convert(path, "kto")
    assert [r["label"] for r in out] == [True, False] and out[1]["completion"][0]["content"] == "5"
    bad = _write(tmp_path / "bad.jsonl", [{"prompt": "q", "completion": "a", "label": "yes"}])
    with pytest.raises(BadInput, match=r"bad\.jsonl:1: label: expected true or false"):
        _convert(bad, "kto")
    # for SFT a label column is just extra data
    assert _convert(bad, "sft")[0]["completion"] == [{"role": "assistant", "content": "a"}]
    with pytest.raises(BadInput, match="--kind kto expects unpaired rows"):
        _convert(_write(tmp_path / "pc.jsonl", [{"prompt": "q", "completion": "a"}]), "kto")


def test_json_object_with_one_list_key_and_csv_with_column_mapping(tmp_path):
    wrapped = tmp_path / "wrapped.json"
    wrapped.write_text(json.dumps({"data": [{"prompt": "q", "completion": "a"}]}, indent=2))
    assert _convert(wrapped)[0]["completion"] == [{"role": "assistant", "content": "a"}]
    csv = tmp_path / "qa.csv"
    csv.write_text('question,answer,source\n"What is 2+2?",4,web\n')
    out = _convert(csv, columns="prompt=question,completion=answer")
    assert out == [{"prompt": [{"role": "user", "content": "What is 2+2?"}],
                    "completion": [{"role": "assistant", "content": "4"}]}]  # fmt: skip
    with pytest.raises(BadInput, match=r"--columns names 'querstion', not in the file \(it has answer, question"):
        _convert(csv, columns="prompt=querstion,completion=answer")


def test_parquet_with_column_mapping(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "qa.parquet"
    pq.write_table(pa.Table.from_pylist([{"q": "Capital of France?", "a": "Paris"}]), path)
    out = _convert(path, columns={"prompt": "q", "completion": "a"})
    assert out[0]["completion"] == [{"role": "assistant", "content": "Paris"}]


def test_dataset_dict_folder_with_split(tmp_path):
    import datasets

    folder = tmp_path / "saved"
    datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_list([{"prompt": "train q", "completion": "a"}]),
            "test": datasets.Dataset.from_list([{"prompt": "test q", "completion": "b"}]),
        }
    ).save_to_disk(str(folder))
    assert _convert(folder)[0]["prompt"][0]["content"] == "train q"
    assert _convert(folder, split="test")[0]["prompt"][0]["content"] == "test q"
    with pytest.raises(BadInput, match=r"no 'dev' split \(has train, test\)"):
        _convert(folder, split="dev")


def test_ambiguous_files_are_errors_naming_them(tmp_path):
    mixed = _write(tmp_path / "mixed.jsonl", [{"instruction": "a", "output": "b"}, {"conversations": [
        {"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]}])  # fmt: skip
    with pytest.raises(BadInput, match=r"mixed.jsonl: ambiguous file: rows in alpaca form .*mixed.jsonl:1.* sharegpt"):
        _convert(mixed)
    both = _write(tmp_path / "both.jsonl", [{"instruction": "a", "output": "b", "messages": [U, A]}])
    with pytest.raises(BadInput, match=r"both.jsonl:1: ambiguous row: it has columns of both alpaca and trl"):
        _convert(both)
    two_forms = _write(tmp_path / "two.jsonl", [{"messages": [U, A], "prompt": "q", "completion": "a"}])
    with pytest.raises(BadInput, match=r"two.jsonl:1: ambiguous row: it has both messages and prompt, completion"):
        _convert(two_forms)


def test_preference_rows_must_share_their_prompt():
    def conv(question: str, answer: str) -> list[dict]:
        return [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]

    same = {"chosen": conv("2+2?", "4"), "rejected": conv("2+2?", "5")}
    assert row_errors(same, "preference") == []
    different = {"chosen": conv("2+2?", "4"), "rejected": conv("Capital of France?", "Paris")}
    assert any("answer different prompts" in e for e in row_errors(different, "preference"))
    explicit = {"prompt": "q", "chosen": conv("q", "a"), "rejected": [{"role": "assistant", "content": "b"}]}
    assert any("chosen holds the answer only" in e for e in row_errors(explicit, "preference"))


def test_sharegpt_and_alpaca_ranking_rows_become_preference_pairs(tmp_path):
    sharegpt = {"conversations": [{"from": "human", "value": "2+2?"}],
                "chosen": {"from": "gpt", "value": "4"}, "rejected": {"from": "gpt", "value": "5"}}  # fmt: skip
    alpaca = {"instruction": "2+2?", "input": "", "chosen": "4", "rejected": "5"}
    for name, row in (("s.jsonl", sharegpt), ("a.jsonl", alpaca)):
        out = _convert(_write(tmp_path / name, [row]), "dpo")
        assert out == [{"prompt": [{"role": "user", "content": "2+2?"}],
                        "chosen": [{"role": "assistant", "content": "4"}],
                        "rejected": [{"role": "assistant", "content": "5"}]}], name  # fmt: skip

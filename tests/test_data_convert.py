"""``posttrain data convert`` writes exactly the rows training sees, through training's own code path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.training.prepare import training_rows
from harness.training.request import TrainRequest

SHAREGPT = [
    {"conversations": [{"from": "system", "value": "Be brief."}, {"from": "human", "value": "2+2?"},
                       {"from": "gpt", "value": "4"}, {"from": "human", "value": "And 3+3?"},
                       {"from": "gpt", "value": "6"}]},
    {"conversations": [{"from": "human", "value": "Capital of France?"}, {"from": "gpt", "value": "Paris"}]},
]  # fmt: skip


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize(
    ("kind", "method", "rows"),
    [
        ("sft", "sft", SHAREGPT),
        ("dpo", "dpo", [{"prompt": "2+2?", "chosen": "4", "rejected": "5"}]),
        ("kto", "kto", [{"prompt": "2+2?", "completion": "4", "label": True}]),
        ("rl", "grpo", [{"prompt": "2+2?", "answer": "4"}]),
    ],
)
def test_convert_writes_what_training_reads(tmp_path, cli, capsys, kind, method, rows):
    source = _write(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out" / "rows.jsonl"
    code, stdout, err = cli("data", "convert", str(source), "--kind", kind, "--out", str(out), capsys=capsys)
    assert code == 0, err
    trained = training_rows(TrainRequest(method=method, data=[{"path": str(source)}], out=str(tmp_path / "t")))
    assert _read(out) == json.loads(json.dumps(trained))
    assert f"to {out}" in stdout


def test_convert_of_sharegpt_prints_the_mapping_and_one_row_per_turn(tmp_path, cli, capsys):
    source = _write(tmp_path / "chat.jsonl", SHAREGPT)
    out = tmp_path / "chat.trl.jsonl"
    code, stdout, err = cli("data", "convert", str(source), "--kind", "sft", "--out", str(out), capsys=capsys)
    assert code == 0 and "wrote 3 sft rows from 2 input rows" in stdout
    assert f"{source}: ShareGPT rows" in err and "human→user" in err and "gpt→assistant" in err
    rows = _read(out)
    assert [r["completion"][0]["content"] for r in rows] == ["4", "6", "Paris"]
    assert rows[1]["prompt"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "4"},
        {"role": "user", "content": "And 3+3?"},
    ]


def test_convert_bad_input_is_one_message_and_writes_nothing(tmp_path, cli, capsys):
    source = _write(tmp_path / "pairs.jsonl", [{"prompt": "q", "chosen": "a", "rejected": "b"}])
    out = tmp_path / "o.jsonl"
    code, _, err = cli("data", "convert", str(source), "--kind", "sft", "--out", str(out), capsys=capsys)
    assert code == 2 and "preference rows" in err and "Traceback" not in err and not out.exists()
    code, _, err = cli("data", "convert", str(source), "--kind", "ppo", "--out", str(out), capsys=capsys)
    assert code == 2 and "--kind ppo: use one of sft, dpo, kto, rl" in err
    code, _, err = cli("data", "convert", str(source), "--kind", "dpo", "--out", str(source), capsys=capsys)
    assert code == 2 and "the same file as the input" in err


def test_a_column_mapping_in_experiment_yaml_reaches_training_and_config_check(tmp_path, cli, capsys):
    import yaml

    from harness.scaffold.plan import plan_from_flags
    from harness.scaffold.render import new_experiment
    from harness.training import build_request

    exp = tmp_path / "exp"
    new_experiment(exp, plan_from_flags("exp", "sft"))
    (exp / "data" / "qa.csv").write_text("question,answer\nWhat is 2+2?,4\nCapital of France?,Paris\n")
    config = yaml.safe_load((exp / "experiment.yaml").read_text())
    config["data"]["train"] = [{"path": "data/qa.csv", "columns": {"prompt": "question", "completion": "answer"}}]
    (exp / "experiment.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    code, out, err = cli("config", "check", str(exp), capsys=capsys)
    assert code == 0 and out.startswith("ok:"), err
    request = build_request(method="sft", out=str(tmp_path / "o"), config=str(exp))
    rows = training_rows(request)  # replay rows may be mixed in; ours are there, mapped
    ours = {r["prompt"][-1]["content"]: r["completion"][0]["content"] for r in rows}
    assert ours["What is 2+2?"] == "4" and ours["Capital of France?"] == "Paris"

"""Column mappings on every data entry of experiment.yaml (evals, preference, prompts, feedback), honoured by
``config check``, ``run``'s check stage (the same checks, the same messages), evaluation and training."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.config import load_config
from posttrain.errors import BadInput

QA = [("What is 2 + 3?", "5"), ("How many days are in a week?", "7")]


def _experiment(root: Path, model: Path, **data: Any) -> Path:
    """Baselines-only experiment with a CSV eval set whose columns are question,answer."""
    (root / "data").mkdir(parents=True)
    (root / "data" / "eval.csv").write_text("question,answer\n" + "".join(f'"{q}",{a}\n' for q, a in QA))
    config: dict[str, Any] = {
        "name": "cols",
        "model": str(model),
        "methods": [],
        "baselines": {"few_shot": 0},
        "data": data,
        "evals": [
            {
                "name": "qa",
                "path": "data/eval.csv",
                "columns": {"prompt": "question", "reference": "answer"},
                "metrics": ["contains"],
                "max_new_tokens": 2,
            }
        ],
        "forgetting": {"tasks": []},
    }
    (root / "experiment.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return root


def _edit(exp: Path, change: Any) -> None:
    file = exp / "experiment.yaml"
    config = yaml.safe_load(file.read_text())
    change(config)
    file.write_text(yaml.safe_dump(config, sort_keys=False))


def test_a_mapped_csv_eval_set_is_scored_by_run(tmp_path, tiny_model_dir):
    from harness.runner.pipeline import run_experiment

    exp = _experiment(tmp_path / "exp", tiny_model_dir)
    lines: list[str] = []
    result = run_experiment(exp, only=["check", "baselines"], say=lines.append)
    assert any("eval.csv (eval): 2 rows, 0 errors" in line for line in lines), lines
    folder = result.run_dir / "eval" / "prompt" / "qa"
    rows = [json.loads(r) for r in (folder / "results.jsonl").read_text().splitlines()]
    assert [r["reference"] for r in rows] == ["5", "7"]  # the answer column, read as reference
    assert "2 + 3" in json.dumps(rows[0]["prompt"])
    assert json.loads((folder / "summary.json").read_text())["metrics"]["contains"]["n"] == 2


def test_eval_columns_flag_scores_predictions(tmp_path, cli, capsys):
    data = tmp_path / "eval.csv"
    data.write_text("question,answer\n" + "".join(f'"{q}",{a}\n' for q, a in QA))
    preds = tmp_path / "preds.jsonl"
    preds.write_text('{"id": "0", "output": "it is 5"}\n{"id": "1", "output": "six"}\n')
    args = ["eval", "--data", str(data), "--predictions", str(preds), "--metrics", "contains", "--json"]
    code, out, err = cli(*args, "--columns", "prompt=question,reference=answer", capsys=capsys)
    assert code == 0, err
    assert json.loads(out)["metrics"]["contains"]["mean"] == pytest.approx(0.5)
    code, _, err = cli(*args, capsys=capsys)  # unmapped: no prompt/reference columns
    assert code == 2 and "Traceback" not in err


def test_preference_and_prompts_take_path_columns_split(tmp_path, tiny_model_dir, cli, capsys):
    exp = _experiment(tmp_path / "exp", tiny_model_dir)
    (exp / "data" / "prefs.csv").write_text("question,good,bad\nWhat is 2 + 3?,5,6\nName a colour.,blue,7\n")
    columns = {"prompt": "question", "chosen": "good", "rejected": "bad"}

    def dpo(config: dict) -> None:
        config["methods"] = ["dpo"]
        config["data"]["preference"] = {"path": "data/prefs.csv", "columns": columns}

    _edit(exp, dpo)
    config = load_config(exp / "experiment.yaml")
    assert config.data.preference == "data/prefs.csv"  # every reader still sees a path
    source = config.data.source("preference")
    assert source is not None and source.columns == columns
    code, _, err = cli("config", "check", str(exp), capsys=capsys)
    assert code == 0, err
    assert "prefs.csv (dpo)" in err and "question→prompt" in " ".join(err.split())


def test_config_check_and_run_reject_a_wrong_mapping_alike(tmp_path, tiny_model_dir, cli, capsys):
    from harness.runner.pipeline import run_experiment

    exp = _experiment(tmp_path / "exp", tiny_model_dir)
    (exp / "data" / "prefs.csv").write_text("question,good,bad\nWhat is 2 + 3?,5,6\n")

    def wrong(config: dict) -> None:
        config["methods"] = ["dpo"]
        config["data"]["preference"] = {"path": "data/prefs.csv", "columns": {"prompt": "question", "chosen": "gud"}}
        config["evals"][0]["columns"]["reference"] = "answr"

    _edit(exp, wrong)
    code, _, err = cli("config", "check", str(exp), capsys=capsys)
    assert code == 2 and "Traceback" not in err
    found = [line for line in err.splitlines() if "'gud'" in line or "'answr'" in line]
    assert len(found) == 2, err
    assert any(":" in line.split(" data.preference")[0] and "data.preference" in line for line in found)
    assert any("evals.0.path" in line for line in found)
    with pytest.raises(BadInput) as raised:
        run_experiment(exp, only=["check"], say=lambda _line: None)
    for line in found:  # the same file:line: field: message from both
        assert line.strip().removeprefix("error: ") in str(raised.value), (line, str(raised.value))
    assert not ((exp / "runs" / "latest") / "eval").exists()


def test_run_trains_dpo_on_a_mapped_preference_csv(tmp_path, tiny_model_dir):
    from harness.runner.pipeline import run_experiment

    exp = _experiment(tmp_path / "exp", tiny_model_dir)
    pairs = [
        ("Name a colour.", "blue", "7"),
        ("What is 1 + 1?", "2", "3"),
        ("Say hi.", "hi", "no"),
        ("Yes?", "yes", "x"),
    ]
    (exp / "data" / "prefs.csv").write_text("question,good,bad\n" + "".join(f"{q},{g},{b}\n" for q, g, b in pairs))

    def dpo(config: dict) -> None:
        config["methods"] = ["dpo"]
        config["training"] = {"max_steps": 1, "batch_size": 2, "max_length": 64}
        config["data"]["preference"] = {
            "path": "data/prefs.csv",
            "columns": {"prompt": "question", "chosen": "good", "rejected": "bad"},
        }

    _edit(exp, dpo)
    result = run_experiment(exp, only=["check", "train"], say=lambda _line: None)
    assert (result.run_dir / "train" / "dpo" / "adapter_config.json").is_file()


def test_feedback_mapping_is_checked_as_kto_rows(tmp_path, tiny_model_dir, cli, capsys):
    exp = _experiment(tmp_path / "exp", tiny_model_dir)
    rows = [{"q": "Name a colour.", "a": "blue", "ok": True}, {"q": "Say hi.", "a": "7", "ok": False}]
    (exp / "data" / "fb.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))

    def kto(config: dict) -> None:
        config["methods"] = ["kto"]
        config["data"]["feedback"] = {"path": "data/fb.jsonl", "columns": {"prompt": "q", "completion": "a"}}

    _edit(exp, kto)  # `ok` is not mapped to `label`: the rows are not KTO rows
    code, _, err = cli("config", "check", str(exp), capsys=capsys)
    assert code == 2 and "data.feedback: --kind kto expects unpaired rows" in err and "Traceback" not in err
    _edit(exp, lambda c: c["data"]["feedback"]["columns"].update(label="ok"))
    code, _, err = cli("config", "check", str(exp), capsys=capsys)
    assert code == 0 and "fb.jsonl (kto): 2 rows, 0 errors" in err, err

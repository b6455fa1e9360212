"""`external`: an adapter or model trained elsewhere, checked by the train stage and evaluated like posttrain's own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fixtures.outside import adapter_made_elsewhere, write_experiment

from harness.training.methods.external import weights_kind
from posttrain.errors import BadInput


def test_weights_kind_tells_adapters_from_models(tmp_path: Path, tiny_model_dir: Path) -> None:
    assert weights_kind(tiny_model_dir) == "model"
    assert weights_kind(adapter_made_elsewhere(tiny_model_dir, tmp_path / "lora")) == "adapter"
    (tmp_path / "empty").mkdir()
    with pytest.raises(BadInput, match="neither a PEFT adapter"):
        weights_kind(tmp_path / "empty")
    with pytest.raises(BadInput, match="does not exist"):
        weights_kind(tmp_path / "missing")


def test_external_plan_is_checked() -> None:
    from harness.config import parse_config

    with pytest.raises(BadInput, match=r"external\.path: methods has external but external\.path is not set"):
        parse_config("name: x\nmethods: [external]\nevals: [{path: e.jsonl}]\n")
    with pytest.raises(BadInput, match="plan it alone"):
        parse_config("name: x\nmethods: [sft, external]\ndata: {train: t.jsonl}\nexternal: {path: a}\n"
                     "evals: [{path: e.jsonl}]\n")  # fmt: skip


def test_external_adapter_is_evaluated_in_a_run(tmp_path: Path, tiny_model_dir: Path) -> None:
    from harness.runner.pipeline import run_experiment

    exp = write_experiment(tmp_path / "exp", tiny_model_dir, ["external"], external={"path": "elsewhere/lora"})
    adapter_made_elsewhere(tiny_model_dir, exp / "elsewhere" / "lora")
    result = run_experiment(exp, say=lambda _line: None)
    statuses = {o.name: o.status for o in result.outcomes}
    assert statuses["train"] == "ran" and statuses["tuned"] == "ran" and statuses["report"] == "ran"
    run = exp / "runs" / "latest"
    record = json.loads((run / "train" / "external" / "external.json").read_text())
    assert record["kind"] == "adapter" and "not run by posttrain" in record["trained_by"]
    tuned = json.loads((run / "eval" / "tuned" / "qa" / "summary.json").read_text())
    prompt = json.loads((run / "eval" / "prompt" / "qa" / "summary.json").read_text())
    assert tuned["adapter"] == str(exp / "elsewhere" / "lora") and tuned["n"] == prompt["n"] == 3
    outputs = [json.loads(line)["output"] for line in (run / "eval" / "tuned" / "qa" / "results.jsonl").open()]
    base = [json.loads(line)["output"] for line in (run / "eval" / "prompt" / "qa" / "results.jsonl").open()]
    assert outputs != base  # the adapter was applied, not the base model evaluated twice

"""experiment.yaml schema: valid configs load; every problem reads file:line: field.path: message, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config import ExperimentConfig, load_config, missing_files, parse_config
from posttrain.errors import BadInput

GOOD = """\
name: demo
model: smollm2-135m
methods: [sft, dpo]
training:
  max_steps: 10
  per_method:
    dpo: {learning_rate: 5.0e-5}
data:
  train: data/train.jsonl
  preference: data/preference.jsonl
evals:
  - name: task
    path: data/eval.jsonl
    metrics: [numeric, regex]
"""


def _errors(text: str) -> list[str]:
    with pytest.raises(BadInput) as caught:
        parse_config(text, "exp.yaml")
    return str(caught.value).splitlines()


def test_good_config_loads_with_per_method_overrides(tmp_path: Path) -> None:
    (tmp_path / "experiment.yaml").write_text(GOOD)
    config = load_config(tmp_path)
    assert isinstance(config, ExperimentConfig)
    assert config.methods == ["sft", "dpo"]
    assert config.data.train[0].path == "data/train.jsonl"
    assert config.training.for_method("dpo").learning_rate == 5e-5
    assert config.training.for_method("sft").learning_rate == 2e-4
    assert config.training.for_method("dpo").max_steps == 10


def test_wrong_type_points_at_its_line() -> None:
    text = GOOD.replace("max_steps: 10", "max_steps: ten")
    assert _errors(text) == [
        "exp.yaml:5: training.max_steps: Input should be a valid integer, unable to parse string as an integer "
        "(got 'ten')"
    ]


def test_unknown_field_and_unknown_metric_each_get_a_line() -> None:
    text = GOOD.replace("model: smollm2-135m", "modle: smollm2-135m").replace("regex]", "bleu]")
    lines = _errors(text)
    assert "exp.yaml:2: modle: Extra inputs are not permitted" in lines
    assert any(line.startswith("exp.yaml:14: evals.0.metrics: Value error, unknown metric 'bleu'") for line in lines)


def test_cross_field_rules_name_the_field_to_fix() -> None:
    text = GOOD.replace("methods: [sft, dpo]", "methods: [dpo, sft, grpo]").replace(
        "  preference: data/preference.jsonl\n", ""
    )
    lines = _errors(text)
    assert "exp.yaml:3: methods: sft must come before dpo" in lines
    assert "exp.yaml:8: data.preference: methods has dpo/reward but data.preference is not set" in lines
    assert "exp.yaml:1: rewards: methods has grpo but rewards is empty" in lines


def test_bad_override_points_inside_per_method() -> None:
    lines = _errors(GOOD.replace("{learning_rate: 5.0e-5}", "{learning_rate: 0}"))
    assert lines == ["exp.yaml:7: training.per_method.dpo.learning_rate: Input should be greater than 0"]


def test_reward_model_needs_the_reward_stage() -> None:
    text = "name: x\nmethods: [grpo]\ndata: {prompts: p.jsonl}\nrewards:\n  - name: reward_model\nevals: [{path: e}]\n"
    assert _errors(text) == ["exp.yaml:5: rewards.0.name: reward_model needs the `reward` method before grpo"]


def test_not_yaml_and_not_a_mapping() -> None:
    assert _errors("name: [unclosed\nmodel: x\n")[0].startswith("exp.yaml:2: not valid YAML")
    assert _errors("- a\n- b\n") == ["exp.yaml:1: the config must be a mapping of fields (name, model, methods, ...)"]


def test_missing_files_are_listed(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.jsonl").write_text("{}\n")
    config = parse_config(GOOD)
    problems = missing_files(config, tmp_path / "experiment.yaml")
    assert [p.split(":")[0] for p in problems] == ["data.preference", "evals.0.path"]


def test_cli_config_check_exit_codes(tmp_path: Path, cli, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "experiment.yaml"
    bad.write_text(GOOD.replace("max_steps: 10", "max_steps: -1"))
    code, _, err = cli("config", "check", str(bad), capsys=capsys)
    assert code == 2
    assert f"{bad}:5: training.max_steps: Input should be greater than or equal to 1" in " ".join(err.split())
    assert "Traceback" not in err
    bad.write_text(GOOD)
    code, _, err = cli("config", "check", str(tmp_path), capsys=capsys)
    assert code == 2 and "data.train.0.path: data/train.jsonl does not exist" in " ".join(err.split())
    code, _, err = cli("config", "check", str(tmp_path / "nowhere.yaml"), capsys=capsys)
    assert code == 2 and "posttrain new" in err


def test_known_metrics_match_the_evaluator_registry() -> None:
    from harness.config import KNOWN_METRICS
    from harness.evaluation.metrics import METRICS

    assert set(KNOWN_METRICS) == set(METRICS)

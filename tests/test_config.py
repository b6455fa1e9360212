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


def test_good_config_loads_with_a_method_sections_own_training_values(tmp_path: Path) -> None:
    (tmp_path / "experiment.yaml").write_text(GOOD)
    config = load_config(tmp_path)
    assert isinstance(config, ExperimentConfig)
    assert config.methods == ["sft", "dpo"]
    assert config.data.train[0].path == "data/train.jsonl"
    assert config.training_for("dpo").learning_rate == 5e-5
    assert config.training_for("sft").learning_rate == 2e-4
    assert config.training_for("dpo").max_steps == 10


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
    assert any(line.startswith("exp.yaml:13: evals.0.metrics: Value error, unknown metric 'bleu'") for line in lines)


def test_cross_field_rules_name_the_field_to_fix() -> None:
    text = GOOD.replace("methods: [sft, dpo]", "methods: [dpo, sft, grpo]").replace(
        "  preference: data/preference.jsonl\n", ""
    )
    lines = _errors(text)
    assert "exp.yaml:3: methods: sft must come before dpo" in lines
    assert "exp.yaml:7: data.preference: methods has dpo/reward but data.preference is not set" in lines
    assert "exp.yaml:1: rewards: methods has grpo but rewards is empty" in lines


def test_bad_method_override_is_checked_by_the_training_limits_at_its_line() -> None:
    lines = _errors(GOOD.replace("{learning_rate: 5.0e-5}", "{learning_rate: 0}"))
    assert lines == ["exp.yaml:6: dpo.learning_rate: Input should be greater than 0"]
    assert _errors(GOOD.replace("{learning_rate: 5.0e-5}", "{seed: 3}")) == [
        "exp.yaml:6: dpo.seed: Extra inputs are not permitted"
    ]


OLD_STYLE = """\
name: demo
methods: [sft, dpo, grpo]
training:
  max_steps: 10
  dpo_beta: 0.3
  num_generations: 8
  max_completion_length: 32
  per_method:
    dpo: {learning_rate: 5.0e-5, max_steps: 4}
data: {train: t.jsonl, preference: p.jsonl, prompts: q.jsonl}
rewards: [{name: numeric_answer}]
evals: [{path: e.jsonl}]
"""


def test_moved_fields_load_at_their_new_place_with_one_notice_each() -> None:
    notices: list[str] = []
    config = parse_config(OLD_STYLE, "exp.yaml", notify=notices.append)
    assert (config.dpo.beta, config.grpo.num_generations, config.rloo.num_generations) == (0.3, 8, 8)
    assert (config.grpo.max_completion_length, config.ppo.max_completion_length) == (32, 32)
    assert (config.training_for("dpo").learning_rate, config.training_for("dpo").max_steps) == (5e-5, 4)
    assert config.training_for("sft").max_steps == 10
    assert notices == [
        "exp.yaml:5: training.dpo_beta moved to dpo.beta; write `dpo: {beta: 0.3}` (read from its new place this time)",
        "exp.yaml:6: training.num_generations moved to grpo.num_generations; write `grpo: {num_generations: 8}` "
        "(read from its new place this time)",
        "exp.yaml:7: training.max_completion_length moved to grpo.max_completion_length; write "
        "`grpo: {max_completion_length: 32}` (read from its new place this time)",
        "exp.yaml:9: training.per_method.dpo moved to dpo; write `dpo: {learning_rate: 5.0e-05, max_steps: 4}` "
        "(read from its new place this time)",
    ]


def test_moved_field_set_at_both_places_is_refused_and_bad_moved_values_point_at_the_old_line(
    cli, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    both = OLD_STYLE.replace("evals:", "dpo: {beta: 0.2}\nevals:")
    assert _errors(both) == [
        "exp.yaml:5: training.dpo_beta: moved to dpo.beta, which is also set; remove training.dpo_beta"
    ]
    bad = OLD_STYLE.replace("learning_rate: 5.0e-5", "learning_rate: 0")
    assert _errors(bad) == ["exp.yaml:9: training.per_method.dpo.learning_rate: Input should be greater than 0"]
    # from the CLI: the notice on stderr (beside the missing data files' lines), no traceback
    (tmp_path / "experiment.yaml").write_text(OLD_STYLE.replace("0.3", "0.25"))
    _, _, err = cli("config", "check", str(tmp_path / "experiment.yaml"), capsys=capsys)
    assert "training.dpo_beta moved to dpo.beta; write `dpo: {beta: 0.25}`" in " ".join(err.split())
    assert "Traceback" not in err


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


def test_every_method_section_is_in_the_schema_and_the_request() -> None:
    """One section per method file: ExperimentConfig and TrainRequest carry each method's settings class."""
    import typing

    from harness.config import TrainingSettings
    from harness.training.methods import TRAINING_OVERRIDES, MethodSection, registry
    from harness.training.request import TrainRequest

    for name, spec in registry().items():
        assert ExperimentConfig.model_fields[name].annotation is spec.settings, name
        if spec.runs_here:
            assert TrainRequest.model_fields[name].annotation is spec.settings, name
            assert issubclass(spec.settings, MethodSection), name
    for name in TRAINING_OVERRIDES:  # each override has the type of the training field it overrides
        wanted = TrainingSettings.model_fields[name].annotation
        got = [a for a in typing.get_args(MethodSection.model_fields[name].annotation) if a is not type(None)]
        assert got == [a for a in typing.get_args(wanted) or (wanted,) if a is not type(None)], name

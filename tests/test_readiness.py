"""The check stage's RL readiness: pass@8 of the base model on up to 32 RL prompts, and the stop below it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from harness.runner.readiness import PROMPTS, SAMPLES
from harness.scaffold.plan import plan_from_flags
from harness.scaffold.render import new_experiment
from posttrain.errors import CheckFailed


def _experiment(tmp_path: Path, method: str, model: Path, prompts: int = 4, **training: object) -> Path:
    target = tmp_path / "exp"
    new_experiment(target, plan_from_flags("exp", method, model=str(model)))
    # A few prompts keep the test cheap (4 × 8 samples); the cap of 32 is sample_prompts' doctest.
    rows = (target / "data" / "prompts.jsonl").read_text().splitlines()
    (target / "data" / "prompts.jsonl").write_text("\n".join(rows[:prompts]) + "\n")
    config_file = target / "experiment.yaml"
    config = yaml.safe_load(config_file.read_text())
    config["training"].update(training)
    for rl in ("grpo", "rloo"):  # the RL method's own section (harness/training/methods)
        if rl in config:
            config[rl]["max_completion_length"] = 8
    config_file.write_text(yaml.safe_dump(config, sort_keys=False))
    return target


def test_random_model_cannot_start_rl_and_the_run_stops_with_sft_first(tiny_model_dir: Path, tmp_path: Path) -> None:
    from harness.runner.pipeline import run_experiment

    exp = _experiment(tmp_path, "grpo", tiny_model_dir)
    said: list[str] = []
    with pytest.raises(CheckFailed) as stopped:
        run_experiment(exp, only=["check"], say=said.append)
    message = str(stopped.value)
    assert "pass@8 0.00 < 0.10" in message and "Put SFT first" in message and "methods: [sft, grpo]" in message
    readiness = json.loads(next((exp / "runs").rglob("readiness.json")).read_text())
    assert readiness["prompts"] == 4 < PROMPTS and readiness["samples"] == SAMPLES
    assert readiness["solved_prompts"] == 0 and readiness["ready"] is False
    assert readiness["reward"] == "rewards.py:numeric_answer"
    assert any("RL readiness: base model pass@8 0.00 on 4 of 4 prompts" in line for line in said)
    assert readiness["needed"] == 1  # ceil(0.10 × 4)


def test_readiness_is_skipped_where_it_says_nothing(tiny_model_dir: Path, tmp_path: Path) -> None:
    from harness.runner.pipeline import run_experiment

    said: list[str] = []
    run_experiment(_experiment(tmp_path / "a", "sft+grpo", tiny_model_dir), only=["check"], say=said.append)
    assert any("RL readiness: skipped (grpo starts from the sft adapter" in line for line in said)
    said.clear()
    exp = _experiment(tmp_path / "b", "grpo", tiny_model_dir, readiness_min_pass=0)
    run_experiment(exp, only=["check"], say=said.append)
    assert any("skipped (turned off" in line for line in said)
    assert not list((exp / "runs").rglob("readiness.json"))


def test_a_ready_model_passes_after_the_first_chunk(tiny_model_dir: Path, tmp_path: Path) -> None:
    from harness.runner.pipeline import run_experiment

    exp = _experiment(tmp_path, "grpo", tiny_model_dir, prompts=32)
    # A reward every answer earns: the check stops sampling once ceil(0.10 × 32) = 4 prompts are solved.
    (exp / "always.py").write_text("def one(completions, **kwargs):\n    return [1.0] * len(completions)\n")
    config = yaml.safe_load((exp / "experiment.yaml").read_text())
    config["rewards"] = [{"name": "always.py:one", "weight": 1.0}]
    (exp / "experiment.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    run_experiment(exp, only=["check"], say=lambda line: None)
    readiness = json.loads(next((exp / "runs").rglob("readiness.json")).read_text())
    assert readiness["ready"] is True and readiness["needed"] == 4
    assert readiness["examined"] == 8 < readiness["prompts"] == 32 and readiness["pass_at_k"] == 1.0


def test_the_advice_and_the_check_quote_the_same_figures() -> None:
    from advisor.guidance import READINESS_MIN
    from harness.config import TrainingSettings

    assert TrainingSettings().readiness_min_pass == READINESS_MIN  # the caution's 10% is the check's default

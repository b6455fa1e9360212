"""The scaffold follows the advice: metrics, rewards, starter data and system prompt come from the success
check, the answer type and the goals; the chosen algorithms become the methods; advice.json keeps them."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from advisor.advice import make_advice
from advisor.engine import recommend
from advisor.schema import Answers
from harness.config import load_config, missing_files, parse_config
from harness.scaffold.advice import AdviceFile
from harness.scaffold.plan import plan_from_advice
from harness.scaffold.render import new_experiment
from posttrain.errors import BadInput


def scaffold(tmp_path: Path, method: str | None = None, **answers: Any) -> tuple[Path, dict[str, Any]]:
    given = Answers.model_validate(answers)
    advice = json.loads(make_advice(given, recommend(given)).model_dump_json())
    target = tmp_path / "exp"
    new_experiment(target, plan_from_advice(AdviceFile.model_validate(advice), "exp", method=method))
    config = load_config(target)
    assert missing_files(config, target / "experiment.yaml") == []
    return target, yaml.safe_load((target / "experiment.yaml").read_text())


def rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def rewards_module(target: Path) -> Any:
    spec = importlib.util.spec_from_file_location("scaffold_rewards", target / "rewards.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_unit_tests_give_the_sandboxed_metric_the_test_reward_and_a_tests_column(tmp_path: Path) -> None:
    target, config = scaffold(tmp_path, goals=["capability"], success_check="unit_tests", rl_prompts=3000)
    assert config["methods"] == ["grpo"]
    assert config["evals"][0]["metrics"] == ["unit_tests"]
    assert [r["name"] for r in config["rewards"]] == ["rewards.py:unit_tests"]
    assert (
        "Python" in config["baselines"]["system_prompt"]
        and "Answer: <number>" not in config["baselines"]["system_prompt"]
    )
    prompts, evals = rows(target / "data" / "prompts.jsonl"), rows(target / "data" / "eval.jsonl")
    assert all("tests" in r and "answer" not in r for r in prompts) and all(r["tests"] for r in evals)
    # The starter is coherent: each reference solution passes its own tests through the scaffold's reward.
    module = rewards_module(target)
    assert module.unit_tests([r["reference"] for r in evals[:4]], tests=[r["tests"] for r in evals[:4]]) == [1.0] * 4
    assert module.unit_tests(["def nothing():\n    pass"], tests=[evals[0]["tests"]]) == [0.0]
    advice = json.loads((target / "advice.json").read_text())["recommendation"]
    assert advice["success_check"] == "unit_tests" and advice["rl"]["algorithm"] == "grpo"
    assert advice["rl"]["check"] == "unit_tests"


@pytest.mark.parametrize(
    ("answer_type", "goals", "metrics", "reference_is"),
    [
        ("number", ["capability"], ["numeric"], "number"),
        ("auto", ["capability", "format"], ["exact_match"], "json"),
        ("json", ["capability"], ["exact_match"], "json"),
        ("label", ["capability"], ["exact_match"], "label"),
        ("text", ["capability"], ["exact_match", "contains"], "text"),
    ],
)
def test_exact_answers_get_the_metric_of_their_answer_type(
    tmp_path: Path, answer_type: str, goals: list[str], metrics: list[str], reference_is: str
) -> None:
    target, config = scaffold(tmp_path, "grpo", goals=goals, success_check="exact_answer", answer_type=answer_type)
    assert config["evals"][0]["metrics"] == metrics
    evals = rows(target / "data" / "eval.jsonl")
    reference = evals[0]["reference"]
    if reference_is == "number":
        assert reference.lstrip("-").isdigit()
        assert config["rewards"][0]["name"] == "rewards.py:numeric_answer"
    else:
        assert config["rewards"][0]["name"] == "rewards.py:exact_answer"
        if reference_is == "json":
            assert set(json.loads(reference)) == {"item", "quantity"}
        if reference_is == "label":
            assert {r["reference"] for r in evals} <= {"returns", "hours", "services", "prices"}
        prompts = rows(target / "data" / "prompts.jsonl")
        module = rewards_module(target)
        assert (
            module.exact_answer([p["answer"] for p in prompts[:3]], answer=[p["answer"] for p in prompts[:3]])
            == [1.0] * 3
        )


def test_human_judgment_gets_a_judge_that_is_not_the_tuned_model(tmp_path: Path) -> None:
    target, config = scaffold(
        tmp_path,
        goals=["identity", "style"],
        success_check="human_judgment",
        preference_pairs=2000,
        model_stage="sft_done",
    )
    task = config["evals"][0]
    assert task["metrics"][0] == "judge"
    judge = task["judge"]
    assert judge["url"].startswith("http") and judge["model"] != config["model"]
    assert "speaks as the shop's assistant" in judge["rubric"] and "tone" in judge["rubric"]  # from the goals
    labels = rows(target / judge["labels"])
    assert {r["human_score"] for r in labels} == {0.0, 1.0} and all(r["output"] for r in labels)
    assert "Work out the numbers" not in config["baselines"]["system_prompt"]
    # The config refuses a judge metric without a judge, and a judge that is the tuned model.
    text = (target / "experiment.yaml").read_text()
    unjudged = yaml.safe_load(text)
    del unjudged["evals"][0]["judge"]
    with pytest.raises(BadInput, match=r"evals.0.judge: the judge metric needs judge.url or judge.model"):
        parse_config(yaml.safe_dump(unjudged))
    tuned = yaml.safe_load(text)
    tuned["evals"][0]["judge"] = {"model": tuned["model"]}
    with pytest.raises(BadInput, match="the judge must not be the model being tuned"):
        parse_config(yaml.safe_dump(tuned))


def test_unpaired_labels_become_kto_with_a_feedback_file(tmp_path: Path) -> None:
    target, config = scaffold(tmp_path, goals=["style"], feedback_labels=5000, model_stage="sft_done")
    assert config["methods"] == ["kto"] and config["data"]["feedback"] == "data/feedback.jsonl"
    feedback = rows(target / "data" / "feedback.jsonl")
    assert {r["label"] for r in feedback} == {True, False} and all({"prompt", "completion"} <= set(r) for r in feedback)
    assert json.loads((target / "advice.json").read_text())["recommendation"]["preference"]["algorithm"] == "kto"


@pytest.mark.parametrize(("compute", "method"), [("gpu_80gb", "rloo"), ("multi_gpu", "ppo")])
def test_a_reward_model_feeds_rl_through_the_reward_stage(tmp_path: Path, compute: str, method: str) -> None:
    _, config = scaffold(tmp_path, goals=["agent"], success_check="reward_model", compute=compute, sft_examples=500)
    assert config["methods"] == ["sft", "reward", method]
    assert config["data"]["preference"] == "data/preference.jsonl" and config["data"]["prompts"]
    if method == "rloo":
        assert config["rewards"] == [{"name": "reward_model", "weight": 1.0}]
        assert config["rloo"]["beta"] == 0.05  # the KL guard against hacking a learned reward


def test_a_knowledge_plan_gets_a_help_desk_not_arithmetic(tmp_path: Path) -> None:
    target, config = scaffold(
        tmp_path, goals=["knowledge"], knowledge_changes="weekly_or_faster", knowledge_docs=200, eval_examples=300
    )
    assert config["methods"] == [] and config["data"]["knowledge"] == "data/knowledge"
    assert "Work out the numbers" not in config["baselines"]["system_prompt"]
    assert "policies" in config["baselines"]["system_prompt"]
    assert config["evals"][0]["metrics"] == ["contains", "f1"] and len(config["evals"]) == 1
    questions = {r["prompt"] for r in rows(target / "data" / "eval.jsonl")}
    from harness.scaffold.starter import FACTS

    assert len(questions & {question for _, _, question, _ in FACTS}) >= 8  # policies only the documents hold

"""The recommendation engine on scenarios taken from the decision guidance (DESIGN.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from advisor.advice import load_answers
from advisor.engine import recommend
from advisor.schema import Answers

REPO = Path(__file__).resolve().parent.parent

# (name, answers, primary, plan): each row is one piece of the guidance.
SCENARIOS = [
    # RAG for facts that change fast; no post-training first.
    (
        "weekly_policies",
        {"goals": ["knowledge"], "knowledge_changes": "weekly_or_faster", "knowledge_docs": 200},
        "rag",
        ["rag"],
    ),
    # Prompting first for a few simple rules of style.
    ("few_tone_rules", {"goals": ["style"], "model_stage": "instruct"}, "prompting", ["prompting"]),
    # Comprehensive format rules pasted into every prompt, thousands of expert pairs: SFT.
    (
        "comprehensive_format",
        {
            "goals": ["format"],
            "instruction_complexity": "comprehensive",
            "repeated_instructions": True,
            "sft_examples": 3000,
        },
        "sft",
        ["sft"],
    ),
    # Identity wording on an SFT'd model with hundreds of preference pairs: DPO.
    ("identity_after_sft", {"goals": ["identity"], "model_stage": "sft_done", "preference_pairs": 500}, "dpo", ["dpo"]),
    # Math with known answers: online RL with a verifiable reward.
    ("math_known_answers", {"goals": ["capability"], "success_check": "exact_answer"}, "rl", ["rl"]),
    # Nothing known yet: the cheapest baseline.
    ("all_defaults", {}, "prompting", ["prompting"]),
    # A base model must become a chat model: SFT.
    (
        "base_to_chat",
        {"goals": ["format", "style"], "model_stage": "base", "sft_examples": 5000},
        "sft",
        ["sft"],
    ),
    # Distilling a teacher into a small model: SFT on the teacher's outputs.
    ("distillation", {"goals": ["distillation"], "teacher_model": True, "compute": "gpu_24gb"}, "sft", ["sft"]),
    # Code with unit tests from a base model: SFT first, then RL with a verifiable reward.
    (
        "code_from_base",
        {
            "goals": ["capability"],
            "model_stage": "base",
            "success_check": "unit_tests",
            "sft_examples": 2000,
            "compute": "gpu_80gb",
        },
        "sft",
        ["sft", "rl"],
    ),
    # An agent scored by a reward model: RL with a learned reward, after SFT on the demonstrations.
    (
        "agent_reward_model",
        {"goals": ["agent"], "success_check": "reward_model", "compute": "multi_gpu", "sft_examples": 500},
        "rl",
        ["sft", "rl"],
    ),
    # A handful of static documents fits into the prompt.
    ("few_static_docs", {"goals": ["knowledge"], "knowledge_docs": 3}, "prompting", ["prompting"]),
    # Facts stay in retrieval even with plenty of SFT data.
    ("facts_not_trained", {"goals": ["knowledge"], "knowledge_docs": 500, "sft_examples": 5000}, "rag", ["rag"]),
    # Repeated corrections on a fine-tuned model with many pairs: DPO.
    (
        "repeated_corrections",
        {"goals": ["format"], "repeated_corrections": True, "model_stage": "sft_done", "preference_pairs": 1000},
        "dpo",
        ["dpo"],
    ),
    # Little data and low tolerance for forgetting: stay with prompting.
    (
        "low_forgetting_tolerance",
        {"goals": ["format"], "forgetting_tolerance": "low", "sft_examples": 300},
        "prompting",
        ["prompting"],
    ),
    # An agent with no way to score success and no data: prompting until there is one.
    ("agent_without_check", {"goals": ["agent"]}, "prompting", ["prompting"]),
    # Human judgement with many pairs on an instruct model that also has demonstrations: SFT then DPO.
    (
        "judged_voice",
        {
            "goals": ["style"],
            "success_check": "human_judgment",
            "preference_pairs": 2000,
            "sft_examples": 400,
            "repeated_corrections": True,
        },
        "dpo",
        ["sft", "dpo"],
    ),
]

EXAMPLES = [
    ("support-assistant", "sft", ["rag", "sft"]),
    ("arithmetic", "rl", ["rl"]),
    ("persona", "dpo", ["sft", "dpo"]),
]


@pytest.mark.parametrize(("name", "given", "primary", "plan"), SCENARIOS, ids=[s[0] for s in SCENARIOS])
def test_scenario(name: str, given: dict, primary: str, plan: list[str]) -> None:
    rec = recommend(Answers.model_validate(given))
    assert (rec.primary, rec.plan) == (primary, plan), [(r.approach, r.score) for r in rec.ranking]
    assert rec.ranking[0].approach == primary
    assert sorted(r.approach for r in rec.ranking) == ["dpo", "prompting", "rag", "rl", "sft"]


@pytest.mark.parametrize(("example", "primary", "plan"), EXAMPLES)
def test_shipped_examples(example: str, primary: str, plan: list[str]) -> None:
    rec = recommend(load_answers(REPO / "examples" / example / "answers.yaml"))
    assert (rec.primary, rec.plan) == (primary, plan)


def test_weekly_knowledge_never_starts_with_training() -> None:
    rec = recommend(Answers(goals=["knowledge", "format"], knowledge_changes="weekly_or_faster", sft_examples=2000))
    assert rec.plan[0] == "rag"


def test_rl_names_grpo_and_reward_kind() -> None:
    verifiable = recommend(Answers(goals=["capability"], success_check="unit_tests"))
    assert verifiable.rl is not None and (verifiable.rl.algorithm, verifiable.rl.reward) == ("grpo", "verifiable")
    learned = recommend(Answers(goals=["agent"], success_check="reward_model", compute="multi_gpu"))
    assert learned.primary == "rl"
    assert learned.rl is not None and learned.rl.reward == "learned"
    assert recommend(Answers(goals=["style"])).rl is None


@pytest.mark.parametrize(
    ("given", "strategy"),
    [
        ({"goals": ["distillation"], "teacher_model": True}, "distillation"),
        ({"goals": ["format"], "instruction_complexity": "comprehensive", "sft_examples": 800}, "expert_writing"),
        ({"goals": ["format"], "instruction_complexity": "comprehensive", "sft_examples": 20000}, "filtering"),
        (
            {
                "goals": ["capability"],
                "model_stage": "base",
                "success_check": "exact_answer",
                "instruction_complexity": "comprehensive",
            },
            "best_of_n",
        ),
    ],
)
def test_sft_data_strategy(given: dict, strategy: str) -> None:
    rec = recommend(Answers.model_validate(given))
    assert "sft" in rec.plan
    assert rec.sft_data_strategy == strategy


def test_counterfactual_names_preference_pairs_for_dpo() -> None:
    rec = recommend(Answers(goals=["style"], model_stage="sft_done"))
    assert rec.primary == "prompting"
    first = rec.counterfactuals[0]
    assert first.primary == "dpo" and first.change == {"preference_pairs": 200}
    assert first.text == "with about 200 preference pairs, DPO would come first"
    # The change really flips the primary, and the next rung down does not.
    assert recommend(Answers(goals=["style"], model_stage="sft_done", preference_pairs=200)).primary == "dpo"
    assert recommend(Answers(goals=["style"], model_stage="sft_done", preference_pairs=100)).primary == "prompting"


def test_counterfactuals_fall_back_to_pairs_of_changes() -> None:
    # A clear SFT case: no single answer moves SFT off the top, so the search combines two changes.
    rec = recommend(Answers.model_validate(SCENARIOS[2][1]))
    assert rec.counterfactuals, "expected a two-answer counterfactual"
    for counterfactual in rec.counterfactuals:
        assert len(counterfactual.change) == 2
        changed = Answers.model_validate(SCENARIOS[2][1]).model_copy(update=counterfactual.change)
        assert recommend(changed, counterfactuals=False).primary == counterfactual.primary != "sft"


def test_cautions_cover_the_risks() -> None:
    support = recommend(load_answers(REPO / "examples" / "support-assistant" / "answers.yaml"))
    kinds = {c.kind for c in support.cautions}
    assert {"forgetting", "data_quality", "facts_in_rag", "eval_size"} <= kinds
    forgetting = next(c.text for c in support.cautions if c.kind == "forgetting")
    assert "LoRA" in forgetting and "replay" in forgetting
    arithmetic = recommend(load_answers(REPO / "examples" / "arithmetic" / "answers.yaml"))
    assert "diversity" in {c.kind for c in arithmetic.cautions}
    thin = recommend(
        Answers(
            goals=["identity"],
            model_stage="sft_done",
            repeated_corrections=True,
            success_check="human_judgment",
            preference_pairs=150,
        )
    )
    assert thin.primary == "dpo"
    assert any(c.kind == "too_little_data" and "150" in c.text for c in thin.cautions)
    # Prompting alone changes no weights: no forgetting caution.
    assert "forgetting" not in {c.kind for c in recommend(Answers(goals=["style"])).cautions}


def test_next_steps_say_what_to_collect_and_what_to_beat() -> None:
    rec = recommend(Answers(goals=["knowledge"], knowledge_changes="monthly", knowledge_docs=40, eval_examples=50))
    text = "\n".join(rec.next_steps)
    assert "150 more held-out eval examples" in text  # 200 − 50
    assert "knowledge/" in text
    assert "Beat the baselines" in text and "RAG" in text

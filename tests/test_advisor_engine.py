"""The recommendation engine on scenarios taken from the decision guidance (DESIGN.md)."""

from __future__ import annotations

import sys
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


# Published cases: (name, answers, primary, plan, preference algorithm, RL algorithm, SFT data strategy).
PUBLISHED = [
    # RL with verifiable rewards on final answers (Tülu 3's RLVR, DeepSeek-R1-Zero): GRPO on known answers.
    (
        "rlvr_final_answers",
        {"goals": ["capability"], "success_check": "exact_answer", "rl_prompts": 5000, "compute": "gpu_80gb"},
        "rl", ["rl"], None, "grpo", None,
    ),
    # Retrieval for a large static corpus (Lewis et al., RAG): facts stay in the index.
    ("rag_large_static_corpus", {"goals": ["knowledge"], "knowledge_docs": 20000}, "rag", ["rag"], None, None, None),
    # RAG and fine-tuning add up on a domain corpus (RAFT; Microsoft's agriculture study): RAG then SFT.
    (
        "rag_plus_sft_domain",
        {
            "goals": ["knowledge", "format"],
            "knowledge_docs": 800,
            "knowledge_changes": "monthly",
            "instruction_complexity": "comprehensive",
            "repeated_instructions": True,
            "sft_examples": 3000,
        },
        "sft", ["rag", "sft"], None, None, "expert_writing",
    ),
    # LoRA SFT for structured extraction (labelled JSON outputs): SFT, no RL needed.
    (
        "lora_sft_extraction",
        {"goals": ["format", "capability"], "success_check": "exact_answer", "answer_type": "json",
         "sft_examples": 2000},
        "sft", ["sft"], None, None, "expert_writing",
    ),
    # Distillation into a small model (teacher outputs as SFT data).
    (
        "distill_small_model",
        {"goals": ["distillation", "capability"], "teacher_model": True, "eval_examples": 300},
        "sft", ["sft"], None, None, "distillation",
    ),
    # DPO against over-refusal: pairs of (helpful chosen, refusal rejected) on an instruct model.
    (
        "dpo_over_refusal",
        {"goals": ["identity"], "repeated_corrections": True, "preference_pairs": 3000,
         "success_check": "human_judgment"},
        "dpo", ["dpo"], "dpo", None, None,
    ),
    # Unpaired thumbs-up/down feedback from production: KTO (Ethayarajh et al.), no pairs needed.
    (
        "unpaired_feedback_kto",
        {"goals": ["style"], "feedback_labels": 20000, "success_check": "human_judgment"},
        "dpo", ["dpo"], "kto", None, None,
    ),
    # A code assistant with thousands of unit-tested tasks: GRPO on the unit-test reward.
    (
        "code_unit_tests_grpo",
        {"goals": ["capability"], "success_check": "unit_tests", "rl_prompts": 3000, "compute": "gpu_80gb"},
        "rl", ["rl"], None, "grpo", None,
    ),
    # A maths tutor the model cannot solve yet, with a teacher: distilled solutions → SFT → GRPO.
    (
        "math_tutor_cold_start",
        {"goals": ["capability"], "success_check": "exact_answer", "teacher_model": True},
        "rl", ["sft", "rl"], None, "grpo", "distillation",
    ),
    # A base model with a style goal is never sent to prompting: SFT makes it a chat model.
    ("base_model_style", {"goals": ["style"], "model_stage": "base", "sft_examples": 50}, "sft", ["sft"], None, None,
     "expert_writing"),
    # An SFT'd model with many pairs: DPO, without restarting SFT on the same demonstrations.
    (
        "sft_done_many_pairs",
        {"goals": ["identity", "style"], "model_stage": "sft_done", "sft_examples": 5000, "preference_pairs": 20000},
        "dpo", ["dpo"], "dpo", None, None,
    ),
    # RLHF with a learned reward model on several GPUs: PPO through the OpenRLHF hand-off; on one GPU, RLOO.
    (
        "rlhf_ppo_multi_gpu",
        {"goals": ["agent"], "success_check": "reward_model", "compute": "multi_gpu", "sft_examples": 500},
        "rl", ["sft", "rl"], None, "ppo", "expert_writing",
    ),
    (
        "rlhf_rloo_one_gpu",
        {"goals": ["agent"], "success_check": "reward_model", "compute": "gpu_80gb", "sft_examples": 500},
        "rl", ["sft", "rl"], None, "rloo", "expert_writing",
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "given", "primary", "plan", "preference", "rl", "strategy"), PUBLISHED, ids=[p[0] for p in PUBLISHED]
)
def test_published_case(
    name: str, given: dict, primary: str, plan: list[str], preference: str | None, rl: str | None, strategy: str | None
) -> None:
    rec = recommend(Answers.model_validate(given))
    assert (rec.primary, rec.plan) == (primary, plan), [(r.approach, r.score, r.missing) for r in rec.ranking]
    assert (rec.preference.algorithm if rec.preference else None) == preference
    assert (rec.rl.algorithm if rec.rl else None) == rl
    assert rec.sft_data_strategy == strategy
    assert rec.success_check == given.get("success_check", "none")
    if rec.rl:
        assert rec.rl.reason and rec.rl.check == rec.success_check
    if rec.preference:
        assert rec.preference.reason


def test_algorithm_reasons_name_the_baseline_and_the_reference_model() -> None:
    grpo = recommend(Answers(goals=["capability"], success_check="unit_tests")).rl
    assert grpo is not None and "beta = 0" in grpo.reason and "group" in grpo.reason and "critic" in grpo.reason
    rloo = recommend(Answers(goals=["agent"], success_check="reward_model", compute="gpu_80gb")).rl
    assert rloo is not None and "leave-one-out" in rloo.reason and "beta = 0.05" in rloo.reason
    ppo = recommend(Answers(goals=["agent"], success_check="reward_model", compute="multi_gpu")).rl
    assert ppo is not None and "critic" in ppo.reason and "OpenRLHF" in ppo.reason


def test_rl_prompts_replace_the_write_200_step() -> None:
    rec = recommend(Answers(goals=["capability"], success_check="unit_tests", rl_prompts=5000))
    text = "\n".join(rec.next_steps)
    assert "Use your 5,000 prompts with unit tests as GRPO's training set" in text and "Write ≥ 200" not in text
    assert any(r.rule == "rl_prompts_ready" for r in rec.ranking[0].reasons)


def test_readiness_caution_states_the_measurement() -> None:
    rec = recommend(Answers(goals=["capability"], success_check="exact_answer"))
    readiness = next(c.text for c in rec.cautions if c.kind == "readiness")
    assert "8 answers to each of up to 32 RL prompts" in readiness and "10%" in readiness and "pass@8" in readiness


def test_counterfactuals_respect_prerequisites_and_strengthen_what_they_flip_to() -> None:
    weekly = recommend(Answers(goals=["knowledge"], knowledge_changes="weekly_or_faster", knowledge_docs=200))
    assert not [c for c in weekly.counterfactuals if c.primary == "dpo"]  # no pairs: DPO cannot lead
    arithmetic = recommend(Answers(goals=["capability"], success_check="exact_answer"))
    assert not [c for c in arithmetic.counterfactuals if "reward model" in c.text]  # weakening RL is no advice
    assert not [c for c in weekly.counterfactuals + arithmetic.counterfactuals if "from a base model" in c.text]


def test_no_counterfactual_heading_when_there_are_none(capsys: pytest.CaptureFixture[str]) -> None:
    from rich.console import Console

    from advisor.render import render

    rec = recommend(Answers(goals=["style"]))
    rec = rec.model_copy(update={"counterfactuals": []})
    render(rec, Console(file=sys.stdout, width=120, highlight=False))
    assert "What would change it" not in capsys.readouterr().out


def test_headline_marks_the_leading_step_and_every_step_shows_its_reasons(capsys: pytest.CaptureFixture[str]) -> None:
    from rich.console import Console

    from advisor.render import render

    rec = recommend(load_answers(REPO / "examples" / "persona" / "answers.yaml"))
    assert rec.plan == ["sft", "dpo"] and rec.primary == "dpo"
    render(rec, Console(file=sys.stdout, width=200, highlight=False))
    out = capsys.readouterr().out
    assert "Plan: SFT → DPO ★" in out and "★ DPO leads (score" in out
    assert "Recommendation:" not in out
    why = out.split("Why")[1].split("Cautions")[0]
    assert "SFT: DPO works best on a model tuned with SFT first" in why and "DPO: " in why
    assert "(chosen, rejected) pairs" in why  # the algorithm's reason, in the text output too

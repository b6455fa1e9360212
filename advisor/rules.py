"""The scoring rules: the decision guidance of DESIGN.md as one table.

Each rule is one entry: an id, the answer keys its condition reads, the condition, and the score it adds
to each approach with a reason. Adding a rule is one entry here plus a scenario in the tests.

Weights are on one scale: 1 is a hint, 3 a strong reason, 5 a deciding one. Two invariants keep the
engine's promises (the property tests check them):

- a rule whose condition grows with ``preference_pairs`` ("at least N pairs") only adds to DPO, and a
  rule that holds for few pairs ("fewer than N") only takes from it, so more pairs never lower DPO;
- RL's rules score a verifiable success check (known answers, unit tests) at least as high as none.

``answers`` lists every key the condition reads, so a reason cites exactly the answers behind it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from advisor.schema import Answers

STYLE_GOALS = ("style", "format", "identity")
# Thresholds, with the reasoning behind them:
# - 100 SFT pairs is where LoRA SFT on a small model starts to move format/voice reliably; 1,000 makes it robust.
# - 200 preference pairs ("a few hundred") is the usual floor for a LoRA DPO run to shift wording.
# - 20 documents is roughly where the knowledge stops fitting into a prompt (20 × ~1,500 tokens = 30k tokens).
# - 400 unpaired labels: a thumbs-up/down label carries about half the signal of a (chosen, rejected) pair,
#   so 2 × 200 = 400 labels is the floor for a LoRA KTO run (TRL's KTOTrainer).
# - 200 RL prompts with known answers or tests: GRPO sees ~4 prompts per step on small hardware, so 200 prompts
#   are ~50 steps before any prompt repeats.
SFT_SOME, SFT_PLENTY = 100, 1000
PAIRS_SOME, PAIRS_PLENTY = 200, 1000
LABELS_SOME = 400
RL_PROMPTS_SOME = 200
DOCS_MANY, DOCS_FEW = 20, 5


@dataclass(frozen=True)
class Rule:
    id: str
    answers: tuple[str, ...]
    when: Callable[[Answers], bool]
    scores: Mapping[str, float]
    reason: str  # a str.format template over the answers' fields

    def text(self, answers: Answers) -> str:
        return self.reason.format(**dict(answers))


# fmt: off
RULES: tuple[Rule, ...] = (
    # --- prompting: the cheapest baseline, first for a few simple rules --------------------------------
    Rule("prompt_baseline", ("model_stage",), lambda a: a.model_stage != "base",
         {"prompting": 2},
         "an instruction-tuned model can simply be told what to do; every other approach must beat this baseline"),
    Rule("few_simple_rules", ("instruction_complexity", "goals"),
         lambda a: a.instruction_complexity == "few_simple" and a.has_goal(*STYLE_GOALS),
         {"prompting": 3},
         "a few simple rules of style or policy belong in the system prompt"),
    Rule("nothing_repeated", ("instruction_complexity", "repeated_instructions", "repeated_corrections"),
         lambda a: a.instruction_complexity == "few_simple"
         and not a.repeated_instructions and not a.repeated_corrections,
         {"prompting": 1},
         "prompting has not yet shown a repeated need (no instructions pasted every time, no repeated corrections)"),
    Rule("base_model", ("model_stage",), lambda a: a.model_stage == "base",
         {"prompting": -3, "sft": 3, "dpo": -3, "rl": -2},
         "a base model does not follow instructions; SFT turns it into a chat model before DPO or RL can help"),
    # --- post-training: comprehensive instructions, repeated instructions or corrections ----------------
    Rule("comprehensive_instructions", ("instruction_complexity",),
         lambda a: a.instruction_complexity == "comprehensive",
         {"prompting": -2, "sft": 3},
         "a comprehensive set of instructions is followed more consistently once trained in than when prompted"),
    Rule("repeated_instructions", ("repeated_instructions",), lambda a: a.repeated_instructions,
         {"prompting": -1, "sft": 2},
         "the same instructions are pasted into every prompt: SFT can bake them in and shorten every prompt"),
    Rule("repeated_corrections", ("repeated_corrections",), lambda a: a.repeated_corrections,
         {"prompting": -1, "sft": 1, "dpo": 2},
         "outputs are corrected the same way again and again: each correction is a (rejected, chosen) pair"),
    Rule("voice_overhaul", ("goals", "instruction_complexity", "repeated_instructions"),
         lambda a: a.has_goal("style", "format")
         and (a.instruction_complexity == "comprehensive" or a.repeated_instructions),
         {"sft": 1},
         "SFT overhauls voice and format wholesale"),
    # --- SFT data ----------------------------------------------------------------------------------------
    Rule("sft_examples_some", ("sft_examples",), lambda a: a.sft_examples >= SFT_SOME,
         {"sft": 2},
         f"{{sft_examples:,}} demonstration pairs are enough for a LoRA SFT run (≥ {SFT_SOME:,})"),
    Rule("sft_examples_plenty", ("sft_examples",), lambda a: a.sft_examples >= SFT_PLENTY,
         {"sft": 3},
         f"{{sft_examples:,}} demonstration pairs make SFT robust (≥ {SFT_PLENTY:,})"),
    Rule("sft_already_done", ("model_stage",), lambda a: a.model_stage == "sft_done",
         {"sft": -3},
         "the model was already tuned with SFT: another round only helps with new demonstrations"),
    Rule("sft_examples_few", ("sft_examples", "teacher_model"),
         lambda a: a.sft_examples < SFT_SOME and not a.teacher_model,
         {"sft": -2},
         f"only {{sft_examples:,}} demonstration pairs and no teacher model to generate more (< {SFT_SOME:,})"),
    Rule("labelled_outputs", ("sft_examples", "success_check", "answer_type", "goals"),
         lambda a: a.sft_examples >= SFT_SOME and a.success_check == "exact_answer"
         and a.resolved_answer_type in ("json", "label", "text"),
         {"sft": 4, "rl": -1},
         "the known answers are the whole output (labels, JSON, short texts): SFT imitates them directly; "
         "RL pays off when the steps to an answer must be discovered"),
    Rule("teacher_model", ("teacher_model",), lambda a: a.teacher_model,
         {"sft": 2},
         "a stronger teacher model can write the SFT data (distillation)"),
    Rule("distillation_goal", ("goals",), lambda a: a.has_goal("distillation"),
         {"sft": 4},
         "distilling a larger model into a smaller one is what SFT on the teacher's outputs does"),
    Rule("capability_goal", ("goals",), lambda a: a.has_goal("capability"),
         {"sft": 1, "rl": 1},
         "a specific capability is learned from demonstrations (SFT) or from a reward (RL)"),
    Rule("agent_goal", ("goals",), lambda a: a.has_goal("agent"),
         {"sft": 1, "rl": 2},
         "agents act over many steps; RL optimises the outcome of the whole episode"),
    # --- knowledge: facts belong in retrieval ------------------------------------------------------------
    Rule("knowledge_goal", ("goals",), lambda a: a.has_goal("knowledge"),
         {"rag": 4},
         "facts are best supplied at answer time by retrieval; post-training is a poor way to inject them"),
    Rule("knowledge_only", ("goals",), lambda a: a.goals == ["knowledge"],
         {"sft": -2, "dpo": -2, "rl": -2},
         "the only goal is knowledge, which training does not reliably add"),
    Rule("knowledge_monthly", ("knowledge_changes",), lambda a: a.knowledge_changes == "monthly",
         {"rag": 2, "sft": -1},
         "the knowledge changes monthly: retrieval picks up a new document at once, a trained model goes stale"),
    Rule("knowledge_fast", ("knowledge_changes",), lambda a: a.knowledge_changes == "weekly_or_faster",
         {"rag": 3, "sft": -2, "dpo": -1, "rl": -1},
         "the knowledge changes weekly or faster: only retrieval keeps up"),
    Rule("knowledge_corpus", ("knowledge_docs",), lambda a: a.knowledge_docs >= DOCS_MANY,
         {"rag": 1},
         f"{{knowledge_docs:,}} documents are too many to paste into a prompt (≥ {DOCS_MANY})"),
    Rule("knowledge_fits_prompt", ("goals", "knowledge_changes", "knowledge_docs"),
         lambda a: a.has_goal("knowledge") and a.knowledge_changes == "static" and 0 < a.knowledge_docs <= DOCS_FEW,
         {"prompting": 2},
         f"{{knowledge_docs:,}} static documents fit into the prompt itself (≤ {DOCS_FEW})"),
    # --- DPO: preferences, after SFT ---------------------------------------------------------------------
    Rule("pairs_some", ("preference_pairs",), lambda a: a.preference_pairs >= PAIRS_SOME,
         {"dpo": 4},
         f"{{preference_pairs:,}} preference pairs are enough for a LoRA DPO run (≥ {PAIRS_SOME:,})"),
    Rule("pairs_plenty", ("preference_pairs",), lambda a: a.preference_pairs >= PAIRS_PLENTY,
         {"dpo": 1},
         f"{{preference_pairs:,}} preference pairs cover many situations (≥ {PAIRS_PLENTY:,})"),
    Rule("labels_some", ("feedback_labels",), lambda a: a.feedback_labels >= LABELS_SOME,
         {"dpo": 4},
         f"{{feedback_labels:,}} unpaired good/bad labels are enough for KTO, which learns from them directly "
         f"(≥ {LABELS_SOME:,})"),
    Rule("pairs_few", ("preference_pairs", "feedback_labels"),
         lambda a: a.preference_pairs < PAIRS_SOME and a.feedback_labels < LABELS_SOME,
         {"dpo": -2},
         f"only {{preference_pairs:,}} preference pairs (< {PAIRS_SOME:,}) and {{feedback_labels:,}} unpaired labels "
         f"(< {LABELS_SOME:,})"),
    Rule("dpo_after_sft", ("model_stage",), lambda a: a.model_stage == "sft_done",
         {"dpo": 2},
         "DPO works best on a model that was already fine-tuned (SFT) and is decent"),
    Rule("dpo_on_instruct", ("model_stage",), lambda a: a.model_stage == "instruct",
         {"dpo": 1},
         "an instruct model is a decent starting point for DPO"),
    Rule("identity_voice", ("goals",), lambda a: a.has_goal("identity", "style"),
         {"dpo": 2},
         "identity and voice are matters of preference: DPO nudges the wording towards the chosen answers"),
    Rule("judged_by_people", ("success_check",), lambda a: a.success_check == "human_judgment",
         {"dpo": 1, "rl": -2},
         "success is a human judgement: preferences capture it; RL would first need a reward model"),
    # --- RL: needs a way to score success ----------------------------------------------------------------
    Rule("verifiable_reward", ("success_check",), lambda a: a.verifiable,
         {"rl": 5},
         "success is checked by a program ({success_check}): a verifiable reward for GRPO"),
    Rule("rl_prompts_ready", ("success_check", "rl_prompts"),
         lambda a: a.verifiable and a.rl_prompts >= RL_PROMPTS_SOME,
         {"rl": 2},
         f"{{rl_prompts:,}} training prompts with {{success_check}} checks already exist (≥ {RL_PROMPTS_SOME:,})"),
    Rule("learned_reward", ("success_check",), lambda a: a.success_check == "reward_model",
         {"rl": 2},
         "a reward model scores outputs: RL with a learned reward"),
    Rule("no_success_check", ("success_check",), lambda a: a.success_check == "none",
         {"rl": -4},
         "there is no way to score success, which online RL needs"),
    Rule("rl_on_cpu", ("compute",), lambda a: a.compute == "cpu",
         {"rl": -1},
         "online RL samples several completions per prompt and step; on a CPU keep it to a small model"),
    Rule("rl_big_compute", ("compute",), lambda a: a.compute in ("gpu_80gb", "multi_gpu"),
         {"rl": 1},
         "{compute} leaves room for online RL's sampling"),
    # --- forgetting --------------------------------------------------------------------------------------
    Rule("low_forgetting_tolerance", ("forgetting_tolerance",), lambda a: a.forgetting_tolerance == "low",
         {"prompting": 1, "rag": 1, "sft": -1, "dpo": -1, "rl": -1},
         "general skills must not drop: methods that leave the weights alone are safer"),
)
# fmt: on


@dataclass(frozen=True)
class Prerequisite:
    """What an approach needs before it can come first, whatever its score."""

    approach: str
    answers: tuple[str, ...]
    holds: Callable[[Answers], bool]
    missing: str  # what is missing, said when it does not hold


# fmt: off
PREREQUISITES: tuple[Prerequisite, ...] = (
    Prerequisite("prompting", ("model_stage",), lambda a: a.model_stage != "base",
                 "a base model does not follow instructions, so prompting alone cannot work"),
    Prerequisite("rag", ("goals",), lambda a: a.has_goal("knowledge"),
                 "retrieval needs facts to retrieve (the goal 'knowledge')"),
    Prerequisite("dpo", ("preference_pairs", "feedback_labels", "repeated_corrections"),
                 lambda a: a.preference_pairs > 0 or a.feedback_labels > 0 or a.repeated_corrections,
                 "preference tuning needs pairs, good/bad labels, or repeated corrections to turn into pairs"),
    Prerequisite("rl", ("success_check",), lambda a: a.success_check in ("exact_answer", "unit_tests", "reward_model"),
                 "online RL needs a reward for every output: known answers, unit tests or a reward model"),
)
# fmt: on


def missing_prerequisite(answers: Answers, approach: str) -> str | None:
    """What ``approach`` lacks to come first, or None when it can.

    >>> missing_prerequisite(Answers(model_stage="base"), "prompting")
    'a base model does not follow instructions, so prompting alone cannot work'
    >>> missing_prerequisite(Answers(), "sft") is None
    True
    """
    return next((p.missing for p in PREREQUISITES if p.approach == approach and not p.holds(answers)), None)


def check_rules(rules: tuple[Rule, ...] = RULES) -> None:
    """Catch table mistakes at import time: unique ids, known keys and approaches, formattable reasons.

    >>> check_rules()
    """
    from advisor.schema import APPROACHES

    ids = [rule.id for rule in rules]
    assert len(ids) == len(set(ids)), f"duplicate rule ids: {ids}"
    defaults = Answers()
    for rule in rules:
        assert set(rule.answers) <= set(Answers.model_fields), rule.id
        assert set(rule.scores) <= set(APPROACHES), rule.id
        rule.text(defaults)


check_rules()

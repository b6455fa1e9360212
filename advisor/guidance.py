"""Cautions and next steps for a plan: what can go wrong, and what to do first.

Pure functions of the answers and the plan; the figures in the texts come with their arithmetic.
"""

from __future__ import annotations

import math

from advisor.algorithms import preference_plan, rl_plan
from advisor.rules import LABELS_SOME, PAIRS_SOME, RL_PROMPTS_SOME, SFT_SOME
from advisor.schema import Answers, Approach, Caution

# 200 eval examples give a 95% interval of ±6.9 points on a 50% accuracy: 1.96 × √(0.25 / 200) = 0.069.
EVAL_TARGET = 200
# The readiness check of `posttrain run` (harness/runner/readiness.py imports these): 8 samples on
# each of up to 32 RL prompts; below 10% of prompts solved at least once, over 90% of GRPO's groups score
# all alike, which gives zero advantage and no learning signal.
READINESS_PROMPTS, READINESS_SAMPLES, READINESS_MIN = 32, 8, 0.10
CHECK_LABELS = {
    "exact_answer": "known exact answers",
    "unit_tests": "unit tests",
    "reward_model": "a reward model",
    "human_judgment": "human judgement",
    "none": "no success check",
}


def ci_half_width(n: int, p: float = 0.5) -> float:
    """Half-width, in accuracy points, of a 95% normal interval on an accuracy ``p`` from ``n`` examples.

    >>> round(ci_half_width(200), 1)
    6.9
    """
    return 100 * 1.96 * math.sqrt(p * (1 - p) / n)


def cautions_for(answers: Answers, plan: list[Approach], strategy: str | None) -> list[Caution]:
    trains = [a for a in plan if a in ("sft", "dpo", "rl")]
    out: list[Caution] = []

    def add(kind: str, text: str) -> None:
        out.append(Caution(kind=kind, text=text))  # type: ignore[arg-type]

    if "rag" in plan and answers.knowledge_docs == 0:
        add("too_little_data", "No knowledge documents yet: RAG is only as good as its corpus; collect them first.")
    if "sft" in plan and answers.sft_examples < SFT_SOME and strategy == "expert_writing":
        add(
            "too_little_data",
            f"SFT with {answers.sft_examples:,} examples is too little: write at least {SFT_SOME}, better 500.",
        )
    kto = "dpo" in plan and preference_plan(answers).algorithm == "kto"
    if kto and answers.feedback_labels < LABELS_SOME:
        add(
            "too_little_data",
            f"KTO with {answers.feedback_labels:,} labels is too little: collect at least {LABELS_SOME}, "
            "both good and bad ones.",
        )
    elif "dpo" in plan and not kto and answers.preference_pairs < PAIRS_SOME:
        add(
            "too_little_data",
            f"DPO with {answers.preference_pairs:,} preference pairs is too little: collect at least 300.",
        )
    if trains:
        lead = "Your tolerance for forgetting is low. " if answers.forgetting_tolerance == "low" else ""
        add(
            "forgetting",
            lead + "Fine-tuning can cost 20–30% on unrelated tasks; mitigate with LoRA (the default), ~10% "
            "replayed general data and 1–3 epochs. `posttrain run` measures it.",
        )
    if "sft" in plan:
        add(
            "data_quality",
            "Quality beats quantity: read 50 random SFT examples; drop duplicates and eval overlaps "
            "(`posttrain data check`).",
        )
    if "dpo" in plan and kto:
        add(
            "data_quality",
            "KTO needs both kinds of label: keep good:bad between 1:1 and 4:3 or set its desirable/undesirable "
            "weights to match; labels from one product version only teach that version's habits.",
        )
    elif "dpo" in plan:
        add(
            "data_quality",
            "Check that each chosen answer is better, not merely longer: DPO learns length bias.",
        )
    if "rl" in plan:
        name = rl_plan(answers).algorithm.upper()
        add(
            "readiness",
            f"{name} learns only from prompts the model sometimes solves: `posttrain run` samples "
            f"{READINESS_SAMPLES} answers to each of up to {READINESS_PROMPTS} RL prompts first and stops when "
            f"fewer than {READINESS_MIN:.0%} are solved at least once (pass@{READINESS_SAMPLES}) — then SFT "
            "(distilled or best-of-N solutions) or easier prompts come first.",
        )
    if strategy in ("distillation", "best_of_n") or "rl" in plan:
        add(
            "diversity",
            "Synthetic data and RL narrow the range of outputs; the report compares diversity before and after.",
        )
    if answers.has_goal("knowledge") and trains:
        add(
            "facts_in_rag",
            "Keep facts in the retrieved documents and train behaviour (format, identity, tone): trained-in "
            "facts go stale.",
        )
    if answers.eval_examples < EVAL_TARGET:
        n = answers.eval_examples
        if n == 0:
            text = (
                f"No eval set yet, so nothing can be compared. {EVAL_TARGET} examples give a 95% interval of "
                f"±{ci_half_width(EVAL_TARGET):.1f} points (1.96 × √(0.25/{EVAL_TARGET}))."
            )
        else:
            text = (
                f"{n} eval examples give a 95% interval of ±{ci_half_width(n):.1f} points at 50% accuracy "
                f"(1.96 × √(0.25/{n})); {EVAL_TARGET} give ±{ci_half_width(EVAL_TARGET):.1f}."
            )
        add("eval_size", text)
    if "rl" in plan and answers.compute == "cpu":
        add(
            "compute",
            f"{rl_plan(answers).algorithm.upper()} on a CPU: keep to the 135M default model, ≤ 128-token "
            "completions, 4 samples per prompt.",
        )
    return out


def _step_text(step: Approach, answers: Answers, strategy: str | None) -> str:
    if step == "rag":
        have = f"your {answers.knowledge_docs:,}" if answers.knowledge_docs else "the"
        return f"Put {have} knowledge documents in knowledge/; check retrieval on 20 real questions."
    if step == "sft":
        n = answers.sft_examples
        expert = (
            f"Have an expert review your {n:,} SFT examples (prompt, ideal response)."
            if n >= 500
            else f"Collect at least 500 expert-written SFT examples (prompt, ideal response); you have {n:,}."
        )
        return {
            "distillation": "Let the teacher answer ≥ 1,000 real prompts "
            "(`posttrain data distill PROMPTS --teacher MODEL`), then review a sample.",
            "best_of_n": "Sample 8 answers per prompt, keep those that pass your "
            f"{CHECK_LABELS[answers.success_check]} check (`posttrain data best-of-n`).",
            "filtering": f"Filter your {n:,} examples down to the best few thousand (`posttrain data filter`).",
        }.get(strategy or "", expert)
    if step == "dpo" and preference_plan(answers).algorithm == "kto":
        labels = answers.feedback_labels
        return (
            f"Export your {labels:,} labelled answers as (prompt, completion, label: true|false) rows for KTO; "
            "drop answers labelled both ways."
        )
    if step == "dpo":
        source = " (each repeated correction is one: original rejected, corrected chosen)"
        n = answers.preference_pairs
        if n >= 300:
            return f"Check your {n:,} preference pairs (prompt, chosen, rejected) for length bias and ties."
        return f"Collect at least 300 preference pairs (prompt, chosen, rejected); you have {n:,}" + (
            source if answers.repeated_corrections else "."
        )
    if step == "rl":
        choice = rl_plan(answers)
        name, check = choice.algorithm.upper(), CHECK_LABELS[answers.success_check]
        if answers.verifiable and answers.rl_prompts >= RL_PROMPTS_SOME:
            return (
                f"Use your {answers.rl_prompts:,} prompts with {check} as {name}'s training set, apart from the "
                "eval set."
            )
        if answers.verifiable:
            have = f" (you have {answers.rl_prompts:,})" if answers.rl_prompts else ""
            return (
                f"Write ≥ {RL_PROMPTS_SOME} training prompts with {check} for {name}'s verifiable reward{have}, "
                "apart from the eval set."
            )
        if choice.algorithm == "ppo":
            return (
                "Train a reward model on ≥ 1,000 human comparisons (`posttrain train --method reward`), then "
                "PPO through the OpenRLHF hand-off on your GPUs (`methods: [reward, ppo]`)."
            )
        return (
            f"Train a reward model on ≥ 1,000 human comparisons (`posttrain train --method reward`), then run {name}."
        )
    return "Write the instructions into a system prompt and try it on your eval set."


def next_steps_for(answers: Answers, plan: list[Approach], strategy: str | None) -> list[str]:
    steps: list[str] = []
    n = answers.eval_examples
    if n < EVAL_TARGET:
        steps.append(f"Write {EVAL_TARGET - n} more held-out eval examples from real traffic ({n} → {EVAL_TARGET}).")
    else:
        steps.append(f"Keep your {n} eval examples out of all training data.")
    steps.extend(_step_text(step, answers, strategy) for step in plan)
    baselines = "your system prompt, 3-shot prompting"
    if answers.has_goal("knowledge") or "rag" in plan:
        baselines += ", RAG over your documents"
    steps.append(f"Beat the baselines ({baselines}): `posttrain new DIR --from advice.json`, `posttrain run DIR`.")
    return steps

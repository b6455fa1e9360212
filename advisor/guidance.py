"""Cautions and next steps for a plan: what can go wrong, and what to do first.

Pure functions of the answers and the plan; the figures in the texts come with their arithmetic.
"""

from __future__ import annotations

import math

from advisor.rules import PAIRS_SOME, SFT_SOME
from advisor.schema import Answers, Approach, Caution

# 200 eval examples give a 95% interval of ±6.9 points on a 50% accuracy: 1.96 × √(0.25 / 200) = 0.069.
EVAL_TARGET = 200
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
    if "dpo" in plan and answers.preference_pairs < PAIRS_SOME:
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
    if "dpo" in plan:
        add(
            "data_quality",
            "Check that each chosen answer is better, not merely longer: DPO learns length bias.",
        )
    if "rl" in plan:
        add(
            "data_quality",
            "GRPO learns only from prompts the model sometimes solves: check its pass rate on ~50 first "
            "(near 0% means SFT or easier prompts first).",
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
            "GRPO on a CPU: keep to the 135M default model, ≤ 128-token completions, 4 samples per prompt.",
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
    if step == "dpo":
        source = " (each repeated correction is one: original rejected, corrected chosen)"
        n = answers.preference_pairs
        if n >= 300:
            return f"Check your {n:,} preference pairs (prompt, chosen, rejected) for length bias and ties."
        return f"Collect at least 300 preference pairs (prompt, chosen, rejected); you have {n:,}" + (
            source if answers.repeated_corrections else "."
        )
    if step == "rl":
        if answers.verifiable:
            return (
                f"Write ≥ 200 training prompts with {CHECK_LABELS[answers.success_check]} for GRPO's "
                "verifiable reward, apart from the eval set."
            )
        return "Train a reward model on ≥ 1,000 human comparisons (`posttrain train --method reward`), then run GRPO."
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

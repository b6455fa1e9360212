"""The smallest changes of answers that would change the primary approach.

Search: every single-answer change first; only when none changes the primary, every pair of changes.
For each approach that can come first, keep the cheapest change, where cheap means an answer the user
can act on (collect more data, get a teacher) before a fact about the use case (its goals), and for
counts the value nearest to the current one.

A change counts only when it makes sense: the approach it puts first must meet its prerequisites after
the change (the engine's ranking guarantees that) and must have gained score from it, so the flip comes
from a reason *for* that approach, not merely from weakening the current one ("with fewer documents,
DPO would come first" is no advice). Nobody turns their model back into a base model, so that is never
offered.

>>> from advisor.schema import Answers
>>> [c.text for c in find_counterfactuals(Answers(goals=["style"], model_stage="sft_done"), "prompting")][:1]
['with about 200 preference pairs, DPO would come first']
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from typing import Any, get_args

from advisor.schema import Answers, Approach, Counterfactual
from advisor.scoring import NAMES, primary_of, score

# Keys in the order a user can act on them; earlier is a "smaller" change.
KEY_ORDER = (
    "preference_pairs",
    "feedback_labels",
    "sft_examples",
    "rl_prompts",
    "teacher_model",
    "success_check",
    "knowledge_docs",
    "compute",
    "model_stage",
    "repeated_corrections",
    "repeated_instructions",
    "instruction_complexity",
    "forgetting_tolerance",
    "knowledge_changes",
    "goals",
)
# Rungs on a roughly logarithmic ladder: the counts a user would plausibly collect next.
COUNT_LADDER = {
    "sft_examples": (0, 50, 100, 200, 300, 500, 1000, 3000, 10000),
    "preference_pairs": (0, 50, 100, 200, 300, 500, 1000, 3000, 10000),
    "knowledge_docs": (0, 3, 10, 30, 100, 1000),
    "feedback_labels": (0, 100, 400, 1000, 5000, 20000),
    "rl_prompts": (0, 50, 200, 1000, 5000),
}
PHRASES: dict[str, Any] = {
    "preference_pairs": "with about {:,} preference pairs",
    "sft_examples": "with about {:,} SFT demonstrations",
    "knowledge_docs": "with about {:,} knowledge documents",
    "feedback_labels": "with about {:,} unpaired good/bad labels",
    "rl_prompts": "with about {:,} training prompts with known answers or tests",
    "teacher_model": {True: "with a stronger teacher model to generate data", False: "without a teacher model"},
    "repeated_instructions": {
        True: "if the same instructions were pasted into every prompt",
        False: "if the instructions were not repeated in every prompt",
    },
    "repeated_corrections": {
        True: "if outputs were corrected the same way again and again",
        False: "if outputs did not need the same corrections",
    },
    "success_check": {
        "exact_answer": "if success were checked against known exact answers",
        "unit_tests": "if success were checked by unit tests",
        "reward_model": "if a reward model scored the outputs",
        "human_judgment": "if success were a human judgement",
        "none": "with no way to check success",
    },
    "model_stage": {
        "base": "starting from a base model",
        "instruct": "starting from an instruct model",
        "sft_done": "starting from an already fine-tuned (SFT) model",
    },
    "compute": {
        "cpu": "on a CPU only",
        "gpu_24gb": "with a 24 GB GPU",
        "gpu_80gb": "with an 80 GB GPU",
        "multi_gpu": "with several GPUs",
    },
    "instruction_complexity": {
        "few_simple": "if the instructions were a few simple rules",
        "comprehensive": "if the instructions were a comprehensive set",
    },
    "knowledge_changes": {
        "static": "if the knowledge were static",
        "monthly": "if the knowledge changed monthly",
        "weekly_or_faster": "if the knowledge changed weekly or faster",
    },
    "forgetting_tolerance": {
        "low": "with a low tolerance for forgetting",
        "medium": "with a medium tolerance for forgetting",
        "high": "with a high tolerance for forgetting",
    },
}


def _options(answers: Answers, key: str) -> Iterator[tuple[Any, float]]:
    """Alternative values for one answer, each with its size (0 = smallest)."""
    current = getattr(answers, key)
    if key == "goals":
        all_goals = get_args(get_args(Answers.model_fields["goals"].annotation)[0])
        for goal in all_goals:
            if goal not in current:
                yield [*current, goal], 0.0
            elif len(current) > 1:
                yield [g for g in current if g != goal], 0.0
    elif key in COUNT_LADDER:
        for value in COUNT_LADDER[key]:
            if value != current:
                yield value, abs(math.log((value + 1) / (current + 1)))
    elif isinstance(current, bool):
        yield not current, 0.0
    else:
        for value in get_args(Answers.model_fields[key].annotation):
            if value != current and not (key == "model_stage" and value == "base"):
                yield value, 0.0


def _phrase(key: str, value: Any, before: Answers) -> str:
    if key == "goals":
        added = [g for g in value if g not in before.goals]
        return (
            f"adding the goal '{added[0]}'"
            if added
            else f"without the goal '{set(before.goals).difference(value).pop()}'"
        )
    phrase = PHRASES[key]
    if isinstance(phrase, str):
        # Fewer examples can also change the advice; say so, or "with about 50" reads like a target.
        return (
            phrase.format(value).replace("with about", "with only about")
            if value < getattr(before, key)
            else (phrase.format(value))
        )
    return phrase[value]


def _name_after(approach: str, after: Answers, plain: str) -> str:
    """The leader's name with the algorithm it would then use (KTO for labels, RLOO for a reward model)."""
    from advisor.algorithms import preference_plan, rl_plan

    if approach == "dpo":
        return preference_plan(after).algorithm.upper()
    if approach == "rl":
        return f"RL ({rl_plan(after).algorithm.upper()})"
    return plain


def find_counterfactuals(answers: Answers, primary: Approach, *, limit: int = 3) -> list[Counterfactual]:
    """Per other approach that a small change would put first, the smallest such change (at most ``limit``)."""
    before = score(answers)
    singles = [
        ((KEY_ORDER.index(key), size), {key: value}) for key in KEY_ORDER for value, size in _options(answers, key)
    ]
    best: dict[Approach, tuple[tuple[Any, ...], dict[str, Any]]] = {}

    def consider(cost: tuple[Any, ...], change: dict[str, Any]) -> None:
        after = answers.model_copy(update=change)
        changed = primary_of(after)
        if changed == primary or score(after)[changed] <= before[changed]:
            return  # no flip, or a flip that only weakens the current primary
        if changed not in best or cost < best[changed][0]:
            best[changed] = (cost, change)

    for cost, change in singles:
        consider(cost, change)
    if not best:
        for (cost_a, a), (cost_b, b) in itertools.combinations(singles, 2):
            if a.keys() != b.keys():
                consider((max(cost_a, cost_b), min(cost_a, cost_b)), {**a, **b})
    out = []
    for approach, (_, change) in sorted(best.items(), key=lambda item: item[1][0])[:limit]:
        phrases = " and ".join(_phrase(key, value, answers) for key, value in change.items())
        name = _name_after(approach, answers.model_copy(update=change), NAMES[approach])
        out.append(Counterfactual(change=change, primary=approach, text=f"{phrases}, {name} would come first"))
    return out

"""Scores and ranking of the five approaches: the part of the engine the counterfactual search reuses.

A module of its own so ``advisor.engine`` (which calls the counterfactual search) and
``advisor.counterfactuals`` (which re-scores changed answers) both import it and not each other.
"""

from __future__ import annotations

from advisor.rules import RULES, missing_prerequisite
from advisor.schema import PIPELINE_ORDER, Answers, Approach

NAMES = {"prompting": "prompting", "rag": "RAG", "sft": "SFT", "dpo": "DPO", "rl": "RL"}


def score(answers: Answers) -> dict[Approach, float]:
    """Each approach's total score: the sum of the weights of the rules that hold.

    >>> score(Answers(goals=["style"]))["prompting"]
    6.0
    """
    totals: dict[Approach, float] = dict.fromkeys(PIPELINE_ORDER, 0.0)
    for rule in RULES:
        if rule.when(answers):
            for approach, weight in rule.scores.items():
                totals[approach] += weight  # type: ignore[index]
    return totals


def rank(totals: dict[Approach, float], blocked: frozenset[str] = frozenset()) -> list[Approach]:
    """Best first; a tie goes to the cheaper approach (the pipeline order is cheapest first). Approaches
    whose prerequisites do not hold (``blocked``) come last, whatever their score.

    >>> rank({"prompting": 1.0, "rag": 3.0, "sft": 3.0, "dpo": 0.0, "rl": -1.0})
    ['rag', 'sft', 'prompting', 'dpo', 'rl']
    >>> rank({"prompting": 1.0, "rag": 3.0, "sft": 3.0, "dpo": 0.0, "rl": -1.0}, frozenset({"rag"}))
    ['sft', 'prompting', 'dpo', 'rl', 'rag']
    """
    return sorted(totals, key=lambda a: (a in blocked, -totals[a], PIPELINE_ORDER.index(a)))


def blocked_of(answers: Answers) -> frozenset[str]:
    """The approaches whose prerequisites do not hold (they cannot come first or join the plan)."""
    return frozenset(a for a in PIPELINE_ORDER if missing_prerequisite(answers, a) is not None)


def primary_of(answers: Answers) -> Approach:
    return rank(score(answers), blocked_of(answers))[0]

"""Results rows paired example by example, and the paired test of two variants on one metric.

Shared by the collection (the comparisons table) and the decision (its tests and power): a module of
its own so neither imports the other.
"""

from __future__ import annotations

from typing import Any

from harness.report.data import Comparison
from harness.stats import compare_paired

Results = dict[tuple[str, str], list[dict[str, Any]]]  # (eval_set, variant) -> results.jsonl rows
Pair = tuple[str, float, float, dict[str, Any], dict[str, Any]]  # id, score a, score b, row a, row b


def score(row: dict[str, Any], metric: str) -> float | None:
    """The row's score on ``metric``; None when absent or not scored (rundir.EvalRow normalised it).

    >>> score({"scores": {"a": 1.0, "b": None}}, "a"), score({"scores": {"a": 1.0, "b": None}}, "b")
    (1.0, None)
    """
    value = row["scores"].get(metric)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def metric_names(rows: list[dict[str, Any]]) -> list[str]:
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row["scores"]))
    return list(names)


def paired_scores(base: list[dict[str, Any]], other: list[dict[str, Any]], metric: str) -> list[Pair]:
    """Pair two variants' rows by example id (by position when rows carry no id)."""

    def key(i: int, row: dict[str, Any]) -> str:
        ident = row.get("id")
        return str(i if ident is None else ident)

    by_id = {key(i, r): r for i, r in enumerate(base)}
    pairs = []
    for i, row in enumerate(other):
        match = by_id.get(key(i, row))
        if match is None:
            continue
        x, y = score(match, metric), score(row, metric)
        if x is not None and y is not None:
            pairs.append((key(i, row), x, y, match, row))
    return pairs


def compare(results: Results, eval_set: str, metric: str, baseline: str, variant: str) -> Comparison | None:
    """``variant`` against ``baseline`` on the examples both scored (None when they share none)."""
    pairs = paired_scores(results[(eval_set, baseline)], results[(eval_set, variant)], metric)
    if not pairs:
        return None
    a, b = [p[1] for p in pairs], [p[2] for p in pairs]
    paired, test = compare_paired(a, b)
    return Comparison(
        eval_set=eval_set,
        metric=metric,
        variant=variant,
        baseline=baseline,
        difference=paired.difference,
        ci95=paired.ci95,
        p_value=paired.p,
        test=test,
        n=len(pairs),
        wins=sum(y > x for x, y in zip(a, b, strict=True)),
        losses=sum(y < x for x, y in zip(a, b, strict=True)),
    )

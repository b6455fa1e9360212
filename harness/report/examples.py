"""The report's per-example views: output diversity per variant, and the examples that changed most."""

from __future__ import annotations

from typing import Any

from harness.report.data import VARIANTS, ChangedExample, DiversityRow, VariantRow
from harness.report.diversity import distinct_n, self_similarity
from harness.report.pairing import Results, paired_scores

TUNED = ("tuned", "tuned_rag")
CHANGED_PER_DIRECTION = 3


def variant_order(item: tuple[tuple[str, str], Any]) -> tuple[str, int]:
    """Sort key of ``(eval_set, variant)`` items: by eval set, then cheapest variant first."""
    (eval_set, variant), _ = item
    return (eval_set, VARIANTS.index(variant) if variant in VARIANTS else len(VARIANTS))


def diversity_rows(results: Results) -> list[DiversityRow]:
    rows = []
    for (eval_set, variant), items in sorted(results.items(), key=variant_order):
        outputs = [str(r.get("output", "")) for r in items]
        rows.append(
            DiversityRow(
                eval_set=eval_set,
                variant=variant,
                distinct_1=distinct_n(outputs, 1),
                distinct_2=distinct_n(outputs, 2),
                self_similarity=self_similarity(outputs),
                n=len(outputs),
            )
        )
    return rows


def changed_examples(
    results: Results, variants: list[VariantRow], primary: dict[str, str], best: dict[tuple[str, str], str]
) -> list[ChangedExample]:
    """The examples where the best fine-tuned variant moved most from the best baseline, both ways."""
    changed: list[ChangedExample] = []
    for eval_set, metric in primary.items():
        leader = best.get((eval_set, metric))
        tuned = [v for v in variants if v.eval_set == eval_set and v.variant in TUNED and metric in v.metrics]
        if leader is None:
            continue
        if not tuned:  # no training: show how the other baselines differ from the best one
            tuned = [v for v in variants if v.eval_set == eval_set and v.variant != leader and metric in v.metrics]
        if not tuned:
            continue
        top = max(tuned, key=lambda v: v.metrics[metric].mean).variant
        pairs = paired_scores(results[(eval_set, leader)], results[(eval_set, top)], metric)
        # Largest change first; equal changes (every one of a 0/1 metric) in example order.
        worse = sorted((p for p in pairs if p[2] < p[1]), key=lambda p: (p[2] - p[1], p[0]))
        better = sorted((p for p in pairs if p[2] > p[1]), key=lambda p: (p[1] - p[2], p[0]))
        worse, better = worse[:CHANGED_PER_DIRECTION], better[:CHANGED_PER_DIRECTION]
        for direction, group in (("better", better), ("worse", worse)):
            for ident, x, y, base_row, row in group:
                changed.append(
                    ChangedExample(
                        eval_set=eval_set,
                        metric=metric,
                        id=ident,
                        variant=top,
                        baseline=leader,
                        direction=direction,
                        change=y - x,
                        prompt=_prompt_text(row),
                        reference=str(row.get("reference", "")),
                        baseline_output=str(base_row.get("output", "")),
                        variant_output=str(row.get("output", "")),
                    )
                )
    return changed


def _prompt_text(row: dict[str, Any]) -> str:
    prompt = row.get("prompt", "")
    if isinstance(prompt, list):  # a message list: show the last user turn
        users = [m.get("content", "") for m in prompt if isinstance(m, dict) and m.get("role") == "user"]
        return str(users[-1] if users else "")
    return str(prompt)

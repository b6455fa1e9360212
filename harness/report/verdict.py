"""The plain-language verdict: who won, by how much, how sure, what it cost in general skills, and
whether the advisor's recommendation held. Pure functions over the collected tables.
"""

from __future__ import annotations

from typing import Any

from harness.report.data import BASELINES, VARIANT_LABELS, Comparison, ForgettingRow, VariantRow, Verdict
from harness.report.stats import compare_paired

ALPHA = 0.05
FAMILIES = {
    "prompting": ("prompt", "kshot"),
    "rag": ("rag",),
    "sft": ("tuned", "tuned_rag"),
    "dpo": ("tuned", "tuned_rag"),
    "rl": ("tuned", "tuned_rag"),
}


def label(variant: str) -> str:
    """The variant's name in words.

    >>> label("tuned_rag")
    'fine-tuning + RAG'
    """
    return VARIANT_LABELS.get(variant, variant)


def points(value: float, scale: float) -> str:
    """A difference in report units: ×100 "points" for 0–1 metrics, with a real minus sign.

    >>> points(-0.008, 100), points(0.1234, 100), points(2.5, 1)
    ('−0.8', '12.3', '2.5')
    """
    return f"{value * scale:.1f}".replace("-", "−")


def scale_of(variants: list[VariantRow], metric: str) -> tuple[float, str]:
    """Metrics bounded by 0 and 1 are shown in points (×100); others in their own units."""
    means = [v.metrics[metric].mean for v in variants if metric in v.metrics]
    return (100.0, " points") if all(0.0 <= m <= 1.0 for m in means) else (1.0, "")


def verdict_sentence(
    variants: list[VariantRow],
    comparisons: list[Comparison],
    primary: dict[str, str],
    best_baseline: dict[tuple[str, str], str],
    forgetting: ForgettingRow | None,
) -> str:
    r"""One sentence per eval set on its first metric, then the general-skills change.

    >>> from harness.report.data import MetricCell
    >>> cell = lambda m: {"exact_match": MetricCell(mean=m, ci95=(m, m), n=100)}
    >>> vs = [VariantRow(eval_set="qa", variant="rag", metrics=cell(0.5)),
    ...       VariantRow(eval_set="qa", variant="tuned", metrics=cell(0.623))]
    >>> c = Comparison(eval_set="qa", metric="exact_match", variant="tuned", baseline="rag", difference=0.123,
    ...                ci95=(0.061, 0.18), p_value=0.001, test="McNemar exact", n=100, wins=20, losses=8)
    >>> f = ForgettingRow(task="all", base_acc=0.6, tuned_acc=0.592, n=300, delta=-0.008, ci95=(-0.03, 0.014),
    ...                   p_value=0.6)
    >>> text = verdict_sentence(vs, [c], {"qa": "exact_match"}, {("qa", "exact_match"): "rag"}, f)
    >>> print(*text.split("; "), sep="\n")
    On qa (exact_match), fine-tuning beat RAG by 12.3 points, 95% CI 6.1 to 18.0 (p = 0.001)
    general skills changed by −0.8 points, 95% CI −3.0 to 1.4, not significant.
    """
    parts = []
    for eval_set, metric in primary.items():
        leader = best_baseline.get((eval_set, metric))
        scale, unit = scale_of([v for v in variants if v.eval_set == eval_set], metric)
        tuned = [
            c
            for c in comparisons
            if c.eval_set == eval_set and c.metric == metric and c.variant not in BASELINES and c.baseline == leader
        ]
        if leader is None:
            continue
        if not tuned:
            mean = next(v.metrics[metric].mean for v in variants if v.eval_set == eval_set and v.variant == leader)
            parts.append(
                f"On {eval_set} ({metric}), the best approach was {label(leader)} ({metric} {mean:.3f}); "
                "nothing was fine-tuned"
            )
            continue
        best = max(tuned, key=lambda c: c.difference)
        interval = f"95% CI {points(best.ci95[0], scale)} to {points(best.ci95[1], scale)}"
        size = points(abs(best.difference), scale) + unit
        if best.p_value < ALPHA:
            verb = "beat" if best.difference > 0 else "lost to"
            parts.append(
                f"On {eval_set} ({metric}), {label(best.variant)} {verb} {label(leader)} by {size}, {interval} "
                f"({p_clause(best.p_value)})"
            )
        else:
            parts.append(
                f"On {eval_set} ({metric}), {label(best.variant)} and {label(leader)} were not distinguishable: "
                f"difference {points(best.difference, scale)}{unit}, {interval}, "
                f"{p_clause(best.p_value)}"
            )
    parts = parts[:1] + [part[0].lower() + part[1:] for part in parts[1:]]  # one sentence: "…; on facts …"
    sentence = "; ".join(parts) if parts else "No comparison could be made"
    if forgetting is not None:
        significance = (
            "not significant" if forgetting.p_value >= ALPHA else f"significant ({p_clause(forgetting.p_value)})"
        )
        sentence += (
            f"; general skills changed by {points(forgetting.delta, 100)} points, 95% CI "
            f"{points(forgetting.ci95[0], 100)} to {points(forgetting.ci95[1], 100)}, {significance}"
        )
    return sentence + "."


def p_clause(p: float) -> str:
    """The p-value as a clause.

    >>> p_clause(0.0004), p_clause(0.2)
    ('p < 0.001', 'p = 0.20')
    """
    text = p_text(p)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def p_text(p: float) -> str:
    """A p-value in three figures at most.

    >>> p_text(0.0004), p_text(0.0312), p_text(1.0)
    ('< 0.001', '0.031', '1.00')
    """
    if p < 0.001:
        return "< 0.001"
    return f"{p:.3f}" if p < 0.1 else f"{p:.2f}"


def advice_verdict(
    sentence: str,
    advised: str | None,
    variants: list[VariantRow],
    results: dict[tuple[str, str], list[dict[str, Any]]],
    primary: dict[str, str],
) -> Verdict:
    """Did the advised approach come out on top (or statistically tied with the top) on the first eval set?"""
    if not advised or not primary:
        return Verdict(sentence=sentence)
    family = FAMILIES.get(advised, ())
    eval_set, metric = next(iter(primary.items()))
    rows = [v for v in variants if v.eval_set == eval_set and metric in v.metrics]
    ours = [v for v in rows if v.variant in family]
    if not rows or not ours:
        return Verdict(
            sentence=sentence, advice=f"The advisor recommended {advised}; no {advised} variant was evaluated."
        )
    top = max(rows, key=lambda v: v.metrics[metric].mean)
    mine = max(ours, key=lambda v: v.metrics[metric].mean)
    scale, unit = scale_of(rows, metric)
    if top.variant == mine.variant:
        text = (
            f"The advisor recommended {advised}, and it held: {label(mine.variant)} scored best on {eval_set} "
            f"({metric} {mine.metrics[metric].mean:.3f})."
        )
        return Verdict(sentence=sentence, advice=text, advice_held=True)
    a = {
        str(r.get("id", i)): float(r["scores"].get(metric) or 0.0)
        for i, r in enumerate(results[(eval_set, top.variant)])
    }
    pairs = [
        (a[str(r.get("id", i))], float(r["scores"].get(metric) or 0.0))
        for i, r in enumerate(results[(eval_set, mine.variant)])
        if str(r.get("id", i)) in a
    ]
    paired, _ = compare_paired([p[0] for p in pairs], [p[1] for p in pairs])
    held = paired.p >= ALPHA
    low, high = points(paired.ci95[0], scale), points(paired.ci95[1], scale)
    gap = f"{points(paired.difference, scale)}{unit}, 95% CI {low} to {high}"
    if held:
        text = (
            f"The advisor recommended {advised}, and it held within noise: {label(top.variant)} scored higher, "
            f"but {label(mine.variant)} was not significantly worse ({gap}, {p_clause(paired.p)})."
        )
    else:
        text = (
            f"The advisor recommended {advised}, and it did not hold: {label(top.variant)} beat "
            f"{label(mine.variant)} ({gap}, {p_clause(paired.p)})."
        )
    return Verdict(sentence=sentence, advice=text, advice_held=held)

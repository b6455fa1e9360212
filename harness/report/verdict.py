"""The plain-language verdict: who won, by how much, how sure, what it cost in general skills, and
whether the advisor's recommendation held. Pure functions over the collected tables.
"""

from __future__ import annotations

from harness.report.data import (
    VARIANT_LABELS,
    VARIANTS,
    Comparison,
    ForgettingRow,
    VariantRow,
    Verdict,
)

ALPHA = 0.05
TUNED = ("tuned", "tuned_rag")
FAMILIES = {
    "prompting": ("prompt", "kshot"),
    "rag": ("rag",),
    "sft": ("tuned", "tuned_rag"),
    "dpo": ("tuned", "tuned_rag"),
    "rl": ("tuned", "tuned_rag"),
}


def label(variant: str) -> str:
    """The variant's name in words; a hosted endpoint's variants are named after it.

    >>> label("tuned_rag"), label("api-gpt4o"), label("api-gpt4o-rag")
    ('fine-tuning + RAG', 'gpt4o (hosted)', 'gpt4o (hosted) + RAG')
    """
    if variant.startswith("api-"):
        name = variant.removeprefix("api-")
        return f"{name.removesuffix('-rag')} (hosted) + RAG" if name.endswith("-rag") else f"{name} (hosted)"
    return VARIANT_LABELS.get(variant, variant)


def points(value: float, scale: float) -> str:
    """A difference in report units: ×100 "points" for 0–1 metrics, with a real minus sign.

    >>> points(-0.008, 100), points(0.1234, 100), points(2.5, 1), points(-0.0001, 100)
    ('−0.8', '12.3', '2.5', '0.0')
    """
    return f"{round(value * scale, 1) + 0.0:.1f}".replace("-", "−")  # + 0.0: no "−0.0"


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
            if c.eval_set == eval_set and c.metric == metric and c.variant in TUNED and c.baseline == leader
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


def advised_family(advised: str | None) -> tuple[str, ...]:
    """The variants that carry out an advised approach.

    >>> advised_family("sft"), advised_family("prompting"), advised_family(None)
    (('tuned', 'tuned_rag'), ('prompt', 'kshot'), ())
    """
    return FAMILIES.get(advised or "", ())


def cost_rank(variant: str) -> int:
    """Cheapest first: prompting < few-shot < RAG < fine-tuning < fine-tuning + RAG < a hosted model (+ RAG).

    A hosted model is ranked last: it is paid per request, and the question it answers is whether a
    small local variant is good enough to replace it.

    >>> sorted(["api-big", "tuned", "kshot", "api-big-rag", "prompt"], key=cost_rank)
    ['prompt', 'kshot', 'tuned', 'api-big', 'api-big-rag']
    """
    if variant in VARIANTS:
        return VARIANTS.index(variant)
    if variant.startswith("api-"):
        return len(VARIANTS) + (1 if variant.endswith("-rag") else 0)
    return len(VARIANTS) + 2


def _gap(c: Comparison, scale: float, unit: str) -> str:
    p = p_text(c.p_holm if c.p_holm is not None else c.p_value)
    p = f"Holm-adjusted p {p}" if p.startswith("<") else f"Holm-adjusted p = {p}"
    return (
        f"{'+' if c.difference > 0 else ''}{points(c.difference, scale)}{unit}, 95% CI {points(c.ci95[0], scale)} "
        f"to {points(c.ci95[1], scale)}, {p}"
    )


def advice_line(advised: str | None, variants: list[VariantRow], tests: list[Comparison]) -> Verdict:
    """Whether the advice held, told honestly from the Holm-corrected tests of the advised variant.

    ``tests`` compare the advised family's best variant on each eval set (``variant``) with every
    other variant (``baseline``). "held": it scored best and beat every cheaper variant
    significantly; "tied with X (cheaper)": a cheaper variant could not be told from it; "did not
    hold": another variant was significantly better. The sentence field is filled in by the caller.
    """
    if not advised:
        return Verdict(sentence="")
    family = advised_family(advised)
    if not any(v.variant in family for v in variants) or not tests:
        return Verdict(
            sentence="",
            advice=f"The advisor recommended {advised}; no {advised} variant was evaluated.",
            advice_status="not evaluated",
        )
    significant = [t for t in tests if (t.p_holm if t.p_holm is not None else t.p_value) < ALPHA]
    outside = [t for t in tests if t.baseline not in family]
    lost = [t for t in outside if t in significant and t.difference < 0]
    if lost:
        worst = min(lost, key=lambda t: t.difference)
        scale, unit = scale_of([v for v in variants if v.eval_set == worst.eval_set], worst.metric)
        text = (
            f"The advisor recommended {advised}, and it did not hold: {label(worst.baseline)} beat "
            f"{label(worst.variant)} on {worst.eval_set} ({_gap(worst, scale, unit).lstrip('+')})."
        )
        return Verdict(sentence="", advice=text, advice_held=False, advice_status="did not hold")
    tied = [t for t in outside if t not in significant]
    cheaper = [t for t in tied if cost_rank(t.baseline) < cost_rank(t.variant)]
    # a dearer variant that is not significantly different matters only when it scored higher
    tied = cheaper + [t for t in tied if t not in cheaper and t.difference < 0]
    if cheaper or tied:
        # A rival the advised variant beat significantly on another eval set cannot replace it: name such a
        # rival only when no rival matches it everywhere, and then say where it fell short.
        beaten = {t.baseline: t for t in outside if t in significant and t.difference > 0}
        pool = [t for t in (cheaper or tied) if t.baseline not in beaten] or (cheaper or tied)
        tie = min(pool, key=lambda t: t.difference)  # the strongest rival: smallest lead over it
        scale, unit = scale_of([v for v in variants if v.eval_set == tie.eval_set], tie.metric)
        which = "cheaper" if cheaper else "it scored higher"
        how = (
            f"{label(tie.variant)} was not shown better than {label(tie.baseline)}"
            if tie.difference >= 0
            else f"{label(tie.baseline)} scored higher than {label(tie.variant)}, not significantly after correction,"
        )
        text = (
            f"The advisor recommended {advised}; tied with {label(tie.baseline)} ({which}): {how} on {tie.eval_set} "
            f"({_gap(tie, scale, unit)})"
        )
        elsewhere = beaten.get(tie.baseline)
        if elsewhere is not None:
            e_scale, e_unit = scale_of([v for v in variants if v.eval_set == elsewhere.eval_set], elsewhere.metric)
            text += (
                f", though {label(tie.baseline)} was significantly worse on {elsewhere.eval_set} "
                f"({_gap(elsewhere, e_scale, e_unit)}): no cheaper variant matched it on every eval set"
            )
        text += "."
        return Verdict(sentence="", advice=text, advice_held=None, advice_status="tied")
    closest = min(outside, key=lambda t: t.difference) if outside else tests[0]
    scale, unit = scale_of([v for v in variants if v.eval_set == closest.eval_set], closest.metric)
    sets = ", ".join(dict.fromkeys(t.eval_set for t in tests))
    text = (
        f"The advisor recommended {advised}, and it held: {label(closest.variant)} scored best on {sets} and "
        f"beat every cheaper variant after Holm correction (closest: {label(closest.baseline)}, "
        f"{_gap(closest, scale, unit)})."
    )
    return Verdict(sentence="", advice=text, advice_held=True, advice_status="held")


def subtask_clause(rows: list[ForgettingRow]) -> str:
    """The subtasks that dropped significantly after Holm correction, in words ('' when none).

    >>> r = ForgettingRow(task="posttrain_general_arithmetic", base_acc=0.35, tuned_acc=0.25, n=200,
    ...                   delta=-0.10, ci95=(-0.16, -0.04), p_value=0.002, p_holm=0.008)
    >>> subtask_clause([r])
    'but arithmetic dropped by 10.0 points (0.35 → 0.25, Holm-adjusted p = 0.008)'
    """
    drops = [r for r in rows if r.delta < 0 and r.p_holm is not None and r.p_holm < ALPHA]
    if not drops:
        return ""
    parts = [
        f"{r.task.replace('posttrain_general_', '')} dropped by {points(-r.delta, 100)} points "
        f"({r.base_acc:.2f} → {r.tuned_acc:.2f}, Holm-adjusted {p_clause(r.p_holm or r.p_value)})"
        for r in sorted(drops, key=lambda r: r.delta)
    ]
    return "but " + " and ".join(parts)

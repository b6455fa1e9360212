"""What to ship, and the corrected comparisons behind it.

The decision is non-inferiority with a margin δ (``report.margin_points``, default 5; points for 0–1
metrics, that percentage of the best score for unbounded ones): the cheapest variant whose 95% lower
bound of (variant − best) lies above −δ on every eval set ships. A variant is ruled out where its
interval lies below 0. When the best ships only because a cheaper variant could be shown neither
within δ nor worse, the decision is "undecided", with roughly how many more paired rows would settle
it; when no variant is within δ everywhere but exactly one is ruled out nowhere, that one ships with
the caveat. Cost order, cheapest first: prompting, few-shot prompting, RAG, fine-tuning, fine-tuning +
RAG, a hosted endpoint (+ RAG).
"""

from __future__ import annotations

import math
from typing import Any

from harness.report.data import (
    Comparison,
    CostRow,
    Decision,
    PowerRow,
    RagDiagnosis,
    ReportData,
    VariantRow,
)
from harness.report.diagnosis import cost_text
from harness.report.pairing import Results, compare, paired_scores
from harness.report.power import (
    graded_detectable,
    graded_pairs_needed,
    holm,
    mcnemar_detectable,
    mcnemar_pairs_needed,
    pairs_to_decide,
)
from harness.report.verdict import (
    ALPHA,
    advice_line,
    advised_family,
    cost_rank,
    label,
    points,
    scale_of,
    subtask_clause,
)

DEFAULT_MARGIN_POINTS = 5.0


def conclude(data: ReportData, results: Results, config: dict[str, Any]) -> ReportData:
    """Add health, cost, Holm-corrected tests, power, the RAG diagnosis, the advisor line and the decision."""
    from harness.report.diagnosis import cost_rows, rag_diagnosis, with_row_facts

    variants = [with_row_facts(v, results[(v.eval_set, v.variant)]) for v in data.variants]
    margin = _margin(config)
    forgetting = _holm_forgetting(data)
    tests = verdict_tests(results, variants, data.primary_metric, data.advised_primary)
    verdict = advice_line(data.advised_primary, variants, tests)
    drops = subtask_clause(forgetting)
    sentence = data.verdict.sentence
    if drops:
        sentence = sentence.rstrip(".") + f", {drops}."
    rag = [
        d
        for (eval_set, variant), rows in results.items()
        if (variant == "rag" or variant.endswith(("_rag", "-rag"))) and eval_set in data.primary_metric
        if (d := rag_diagnosis(eval_set, variant, rows, data.primary_metric[eval_set])) is not None
    ]
    costs = cost_rows(results, data.training)
    decision, power = decide(results, variants, data.primary_metric, margin, costs, rag, bool(drops))
    return data.model_copy(
        update={
            "variants": variants,
            "forgetting": forgetting,
            "verdict": verdict.model_copy(update={"sentence": sentence}),
            "verdict_tests": tests,
            "costs": costs,
            "rag": rag,
            "power": power,
            "decision": decision,
        }
    )


def _margin(config: dict[str, Any]) -> float:
    report = config.get("report")
    value = report.get("margin_points") if isinstance(report, dict) else None
    return float(value) if isinstance(value, (int, float)) else DEFAULT_MARGIN_POINTS


def _holm_forgetting(data: ReportData) -> list[Any]:
    rows = data.forgetting
    adjusted = holm([r.p_value for r in rows])
    return [r.model_copy(update={"p_holm": p}) for r, p in zip(rows, adjusted, strict=True)]


def verdict_tests(
    results: Results, variants: list[VariantRow], primary: dict[str, str], advised: str | None
) -> list[Comparison]:
    """The advised variant (best of its family per eval set; else the best variant) against every other
    variant on each eval set's first metric, with Holm–Bonferroni adjusted p-values over them all."""
    family = advised_family(advised)
    tests: list[Comparison] = []
    for eval_set, metric in primary.items():
        rows = [v for v in variants if v.eval_set == eval_set and metric in v.metrics]
        ours = [v for v in rows if v.variant in family] or ([] if family else rows)
        if not ours:
            continue
        anchor = max(ours, key=lambda v: v.metrics[metric].mean).variant
        for other in rows:
            if other.variant != anchor and (found := compare(results, eval_set, metric, other.variant, anchor)):
                tests.append(found)
    adjusted = holm([t.p_value for t in tests])
    return [t.model_copy(update={"p_holm": p}) for t, p in zip(tests, adjusted, strict=True)]


def decide(
    results: Results,
    variants: list[VariantRow],
    primary: dict[str, str],
    margin_points: float,
    costs: list[CostRow],
    rag: list[RagDiagnosis],
    subtask_drop: bool = False,
) -> tuple[Decision | None, list[PowerRow]]:
    """The variant to ship by non-inferiority (see the module docstring), and the power rows behind it."""
    sets = [e for e in primary if any(v.eval_set == e and primary[e] in v.metrics for v in variants)]
    if not sets:
        return None, []
    present = [{v.variant for v in variants if v.eval_set == e and primary[e] in v.metrics} for e in sets]
    candidates = sorted(set.intersection(*present), key=cost_rank)
    best = {
        e: max(
            (v for v in variants if v.eval_set == e and primary[e] in v.metrics), key=lambda v: _mean(v, primary[e])
        ).variant
        for e in sets
    }
    scale = {e: scale_of([v for v in variants if v.eval_set == e], primary[e]) for e in sets}
    # δ in the metric's units: points for 0–1 metrics; for unbounded ones (numeric, judge grades) the
    # same share of the best variant's mean, so "5" reads as 5% there
    top_mean = {
        e: next(_mean(v, primary[e]) for v in variants if v.eval_set == e and v.variant == best[e]) for e in sets
    }
    delta = {e: margin_points / 100 * (1.0 if scale[e][0] == 100 else abs(top_mean[e])) for e in sets}
    words = {e: f"{margin_points:g} points" if scale[e][0] == 100 else f"{margin_points:g}% of the best" for e in sets}
    against: dict[tuple[str, str], Comparison] = {}
    for e in sets:
        for c in candidates:
            if c != best[e] and (found := compare(results, e, primary[e], best[e], c)):
                against[(e, c)] = found  # difference = candidate − best

    def within(c: str, e: str) -> bool:
        return c == best[e] or ((e, c) in against and against[(e, c)].ci95[0] > -delta[e])

    def worse(c: str, e: str) -> bool:
        return (e, c) in against and against[(e, c)].ci95[1] < 0

    qualified = [c for c in candidates if all(within(c, e) for e in sets)]
    open_ = [c for c in candidates if c not in qualified and not any(worse(c, e) for e in sets)]
    only = False  # shipped as the only variant not shown worse anywhere, though not shown within the margin
    contender: str | None = None
    if qualified:
        ship: str | None = qualified[0]
        winner = qualified[0]
        if all(best[e] == ship for e in sets):  # top everywhere: a cheaper open variant leaves it undecided
            contender = next((c for c in open_ if cost_rank(c) < cost_rank(winner)), None)
    elif len(open_) == 1:
        ship = winner = open_[0]
        only = True
    else:  # several variants each lead somewhere and none is shown within the margin everywhere
        ship = None
        winner = open_[-1] if open_ else best[sets[0]]
        contender = open_[0] if len(open_) > 1 else None
    decisive = contender or (winner if any(best[e] != winner for e in sets) else None)
    decisive = decisive or _closest(candidates, best, winner, sets)
    other_of = {e: (decisive if decisive != best[e] else winner if winner != best[e] else None) for e in sets}
    power = _power_rows(results, primary, sets, best, other_of)
    cost_of = {c.variant: c for c in costs}

    def undecided_on(c: str) -> list[str]:
        return [e for e in sets if not within(c, e) and not worse(c, e) and (e, c) in against]

    def more_rows(c: str) -> int | None:
        """Roughly how many more paired rows would settle ``c`` against the best on every open eval set."""
        tests = [(e, against[(e, c)]) for e in undecided_on(c)]
        need = [pairs_to_decide(t.n, t.difference, t.ci95, delta[e]) for e, t in tests]
        finite = [n for n in need if n is not None and math.isfinite(n)]
        return _round_up(max(finite) - max(t.n for _e, t in tests)) if finite else None

    if contender is not None:
        more = more_rows(contender)
        e = (undecided_on(contender) or [sets[0]])[0]
        gap = against.get((e, contender))
        s, unit = scale[e]
        why = (
            f"{label(best[e])} scored {points(-gap.difference, s)}{unit} above {label(contender)} on {e}, but the "
            f"95% CI of the difference ({points(-gap.ci95[1], s)} to {points(-gap.ci95[0], s)}) neither shows "
            f"{label(contender)} within {words[e]} of it nor shows it worse."
            if gap is not None
            else f"{label(contender)} could not be compared with {label(best[e])} on {e} (no shared example ids)."
        )
        trained = any(c.startswith("tuned") for c in candidates)
        step = (
            f"Add about {more:,} paired rows to the eval set (the same rows for every variant) and rerun"
            + (": only the evaluations rerun, not the training." if trained else ".")
            if more
            else "Add paired rows to the eval set and rerun the evaluations."
        )
        decision = Decision(
            status="undecided",
            variant=winner,
            contender=contender,
            margin_points=margin_points,
            why=why,
            cost=f"{label(winner)}: {cost_text(cost_of.get(winner))}; {label(contender)}: "
            f"{cost_text(cost_of.get(contender))}",
            next_step=step,
            more_rows=more,
        )
    elif ship is not None:
        step = _next_step(ship, subtask_drop)
        cheaper_open = [c for c in open_ if cost_rank(c) < cost_rank(ship)]
        if cheaper_open and (n := more_rows(cheaper_open[0])):
            step += (
                f" {label(cheaper_open[0])} (cheaper still) could not be told from the best either way; "
                f"about {n:,} more paired rows would tell."
            )
        why = _ship_why(ship, best, sets, candidates, against, scale, words)
        if only:
            why = _only_why(ship, best, sets, against, scale, words)
            if n := more_rows(ship):
                step += f" About {n:,} more paired rows would show whether it is within the margin everywhere."
        decision = Decision(
            status="ship",
            variant=ship,
            margin_points=margin_points,
            why=why,
            cost=cost_text(cost_of.get(ship)),
            next_step=step,
        )
    else:
        decision = Decision(
            status="undecided",
            margin_points=margin_points,
            why="Every variant is worse than another one on some eval set: no single variant serves them all "
            "(best: " + ", ".join(f"{label(best[e])} on {e}" for e in sets) + ").",
            next_step="Decide per eval set, or make one variant good on all of them and rerun.",
        )
    reading = [d for d in rag if d.retrieved_not_used > d.not_retrieved]
    if reading:
        d = max(reading, key=lambda d: d.retrieved_not_used)
        decision = decision.model_copy(
            update={
                "next_step": decision.next_step
                + f" Retrieval is not the problem: {label(d.variant)} retrieved the right document for {d.hits} of "
                f"{d.n} questions on {d.eval_set}, yet answered {d.retrieved_not_used} of the retrieved ones wrongly "
                "(reading fails more than retrieval). Fine-tune on retrieved context: training rows whose prompt "
                "carries the retrieved chunks, as RAFT does (posttrain has no command that builds them yet)."
            }
        )
    return decision, power


def _mean(v: VariantRow, metric: str) -> float:
    return v.metrics[metric].mean


def _closest(candidates: list[str], best: dict[str, str], ship: str | None, sets: list[str]) -> str | None:
    top = ship or best[sets[0]]
    cheaper = [c for c in candidates if cost_rank(c) < cost_rank(top)]
    return cheaper[-1] if cheaper else next((c for c in candidates if c != top), None)


def _ship_why(
    ship: str,
    best: dict[str, str],
    sets: list[str],
    candidates: list[str],
    against: dict[tuple[str, str], Comparison],
    scale: dict[str, tuple[float, str]],
    words: dict[str, str],
) -> str:
    if all(best[e] == ship for e in sets):
        cheaper = [c for c in candidates if cost_rank(c) < cost_rank(ship)]
        if not cheaper:
            return f"{label(ship)} scored best and is the cheapest option."
        e = sets[0]
        nearest = max((against[(e, c)] for c in cheaper if (e, c) in against), key=lambda c: c.difference)
        s, unit = scale[e]
        return (
            f"{label(ship)} scored best on every eval set and every cheaper variant was worse (nearest: "
            f"{label(nearest.variant)}, {points(nearest.difference, s)}{unit}, 95% CI {points(nearest.ci95[0], s)} "
            f"to {points(nearest.ci95[1], s)} on {e})."
        )
    parts = []
    for e in sets:
        if best[e] == ship:
            parts.append(f"best on {e}")
            continue
        c = against[(e, ship)]
        s, unit = scale[e]
        parts.append(
            f"{points(c.difference, s)}{unit} vs {label(best[e])} on {e} (95% CI {points(c.ci95[0], s)} to "
            f"{points(c.ci95[1], s)})"
        )
    return (
        f"{label(ship)} is the cheapest variant within {' / '.join(dict.fromkeys(words.values()))} of the best on "
        "every eval set (its lower 95% bound above minus the margin): " + "; ".join(parts) + "."
    )


def _only_why(
    ship: str,
    best: dict[str, str],
    sets: list[str],
    against: dict[tuple[str, str], Comparison],
    scale: dict[str, tuple[float, str]],
    words: dict[str, str],
) -> str:
    parts = []
    for e in sets:
        if best[e] == ship or (e, ship) not in against:
            parts.append(f"best on {e}")
            continue
        c = against[(e, ship)]
        s, unit = scale[e]
        parts.append(
            f"on {e} {points(c.difference, s)}{unit} vs {label(best[e])} (95% CI {points(c.ci95[0], s)} to "
            f"{points(c.ci95[1], s)}: not yet shown within {words[e]})"
        )
    return f"{label(ship)} is the only variant not shown worse than the best on any eval set: " + "; ".join(parts) + "."


def _next_step(ship: str, subtask_drop: bool) -> str:
    if ship.startswith("tuned"):
        step = "Export the adapter with `posttrain export RUN` and serve it"
        step += " with the retrieval index." if ship == "tuned_rag" else "."
        if subtask_drop:
            step += (
                " First look at the general-skill drop named in the verdict (mix general data back in, or train less)."
            )
        return step
    if ship.startswith("api-"):
        return "Keep the hosted model: no local variant came within the margin of it."
    if ship == "rag":
        return "Serve the base model with the retrieval index; no training is needed."
    return "Ship the prompt (and its examples) as it is; no training is needed."


def _round_up(n: float) -> int:
    """Roughly: up to 2 significant figures, at least 10.

    >>> _round_up(63.2), _round_up(1234), _round_up(3)
    (70, 1300, 10)
    """
    if n <= 10:
        return 10
    step = 10 ** max(1, int(math.log10(n)) - 1)
    return int(math.ceil(n / step) * step)


def _power_rows(
    results: Results,
    primary: dict[str, str],
    sets: list[str],
    best: dict[str, str],
    other_of: dict[str, str | None],
) -> list[PowerRow]:
    """Per eval set, the power of the comparison the decision rests on (the best vs ``other_of[set]``)."""
    rows = []
    for e in sets:
        other = other_of.get(e)
        if other is None or other == best[e] or (e, other) not in results:
            continue
        metric = primary[e]
        pairs = paired_scores(results[(e, other)], results[(e, best[e])], metric)
        if not pairs:
            continue
        diffs = [p[2] - p[1] for p in pairs]
        n = len(diffs)
        observed = sum(diffs) / n
        binary = all(p[1] in (0.0, 1.0) and p[2] in (0.0, 1.0) for p in pairs)
        test = compare(results, e, metric, other, best[e])
        significant = bool(test and test.p_value < ALPHA)
        if binary:
            discordant = sum(d != 0 for d in diffs) / n
            detectable = mcnemar_detectable(n, discordant)
            needed = mcnemar_pairs_needed(discordant, observed)
        else:
            discordant = None
            mean = observed
            sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / max(n - 1, 1))
            detectable = graded_detectable(n, sd)
            needed = graded_pairs_needed(sd, observed)
        rows.append(
            PowerRow(
                eval_set=e,
                metric=metric,
                n=n,
                variant=best[e],
                other=other,
                discordant=discordant,
                detectable=None if math.isnan(detectable) else detectable,
                observed=observed,
                significant=significant,
                pairs_needed=needed if math.isfinite(needed) else None,
            )
        )
    return rows

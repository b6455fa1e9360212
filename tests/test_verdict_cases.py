"""The decision block and the advisor line on constructed runs: one per verdict case, with exact outcomes."""

from __future__ import annotations

from pathlib import Path

from fixtures.report_run import build_case_run, paired

from harness.report.collect import collect_run
from harness.report.power import holm
from harness.report.render import render_markdown, verdict_text


def _baselines(n: int, passes: dict[str, int]) -> dict[str, list[float]]:
    """Nested pass sets: a variant with k passes passes rows 0..k-1 (so better variants win every pair)."""
    return {v: [1.0] * k + [0.0] * (n - k) for v, k in passes.items()}


def test_held_when_the_advised_variant_beats_every_cheaper_one(tmp_path: Path) -> None:
    run = build_case_run(tmp_path, {"qa": _baselines(60, {"prompt": 12, "kshot": 15, "rag": 20, "tuned": 48})})
    data = collect_run(run)
    assert data.verdict.advice_status == "held" and data.verdict.advice_held is True
    assert "and it held" in (data.verdict.advice or "") and "Holm" in (data.verdict.advice or "")
    assert data.decision is not None and data.decision.status == "ship" and data.decision.variant == "tuned"
    assert "every cheaper variant was worse" in data.decision.why
    text = verdict_text(data)
    assert text.startswith("Decision: Ship fine-tuning.")


def test_tied_with_a_cheaper_variant_is_not_held_and_undecided(tmp_path: Path) -> None:
    # the demo case: fine-tuning +15 points over few-shot prompting on 20 rows, CI across zero
    kshot, tuned = paired(20, both=9, only_a=1, only_b=4)
    prompt = [0.0] * 20
    run = build_case_run(tmp_path, {"format": {"prompt": prompt, "kshot": kshot, "tuned": tuned}})
    data = collect_run(run)
    advice = data.verdict.advice or ""
    assert data.verdict.advice_status == "tied" and data.verdict.advice_held is None
    assert "tied with few-shot prompting (cheaper)" in advice and "not shown better than few-shot prompting" in advice
    assert "and it held" not in advice
    d = data.decision
    assert d is not None and d.status == "undecided" and (d.variant, d.contender) == ("tuned", "kshot")
    assert d.more_rows is not None and d.more_rows > 0 and f"{d.more_rows:,} paired rows" in d.next_step
    power = data.power[0]
    assert (power.variant, power.other, power.n) == ("tuned", "kshot", 20) and not power.significant
    assert power.discordant == 0.25 and power.pairs_needed is not None and power.pairs_needed > 20
    assert render_markdown(data).index("## Decision: Undecided") < render_markdown(data).index("## Verdict")


def test_did_not_hold_when_another_approach_won(tmp_path: Path) -> None:
    run = build_case_run(tmp_path, {"qa": _baselines(60, {"prompt": 10, "rag": 20, "tuned": 50})}, advised="rag")
    data = collect_run(run)
    assert data.verdict.advice_status == "did not hold" and data.verdict.advice_held is False
    assert "fine-tuning beat RAG on qa" in (data.verdict.advice or "")
    assert data.decision is not None and data.decision.variant == "tuned"


def test_no_fine_tune_decides_among_the_baselines(tmp_path: Path) -> None:
    run = build_case_run(tmp_path, {"qa": _baselines(80, {"prompt": 10, "kshot": 30, "rag": 60})})
    data = collect_run(run)
    assert data.verdict.advice_status == "not evaluated" and "no sft variant was evaluated" in (
        data.verdict.advice or ""
    )
    assert data.decision is not None and (data.decision.status, data.decision.variant) == ("ship", "rag")
    assert "no training is needed" in data.decision.next_step
    assert "nothing was fine-tuned" in data.verdict.sentence


def test_a_cheaper_variant_within_the_margin_ships(tmp_path: Path) -> None:
    # few-shot prompting and fine-tuning differ on 2 of 200 rows: non-inferior within 5 points
    kshot, tuned = paired(200, both=150, only_a=0, only_b=2)
    run = build_case_run(tmp_path, {"qa": {"prompt": [0.0] * 200, "kshot": kshot, "tuned": tuned}})
    data = collect_run(run)
    d = data.decision
    assert d is not None and (d.status, d.variant) == ("ship", "kshot")
    assert "cheapest variant within 5 points of the best" in d.why
    assert d.cost is not None and "no training" in d.cost
    # a margin of 0.5 points is too tight for this eval set: undecided between the two
    other = build_case_run(
        tmp_path / "tight",
        {"qa": {"prompt": [0.0] * 200, "kshot": kshot, "tuned": tuned}},
        report={"margin_points": 0.5},
    )
    tight = collect_run(other).decision
    assert tight is not None and tight.status == "undecided" and tight.margin_points == 0.5


def test_holm_correction_turns_two_marginal_wins_into_a_tie(tmp_path: Path) -> None:
    # fine-tuning wins 10 and loses 2 discordant pairs against both few-shot prompting and RAG:
    # McNemar p = 2 × (1 + 12 + 66) / 4096 = 0.0386 each, below 0.05 uncorrected, 0.077 after Holm.
    n = 40
    tuned = [1.0] * 10 + [0.0] * 2 + [1.0] * 10 + [0.0] * 18
    other = [0.0] * 10 + [1.0] * 2 + [1.0] * 10 + [0.0] * 18
    run = build_case_run(tmp_path, {"qa": {"prompt": [0.0] * n, "kshot": other, "rag": list(other), "tuned": tuned}})
    data = collect_run(run)
    tests = {t.baseline: t for t in data.verdict_tests}
    assert set(tests) == {"prompt", "kshot", "rag"}
    assert round(tests["kshot"].p_value, 4) == 0.0386 and round(tests["kshot"].p_holm or 0, 4) == 0.0771
    assert tests["prompt"].p_holm is not None and tests["prompt"].p_holm < 0.05
    assert data.verdict.advice_status == "tied"  # uncorrected it would have "held"
    assert holm([tests[b].p_value for b in ("prompt", "kshot", "rag")]) == [
        tests[b].p_holm for b in ("prompt", "kshot", "rag")
    ]
    assert "Holm–Bonferroni" in render_markdown(data)


def test_a_subtask_drop_is_named_under_a_flat_aggregate(tmp_path: Path) -> None:
    forgetting = {
        "posttrain_general_arithmetic": (0.35, 0.25, 200, 0.002),
        "posttrain_general_commonsense": (0.60, 0.63, 200, 0.30),
        "posttrain_general_knowledge": (0.62, 0.65, 200, 0.30),
        "posttrain_general_reading": (0.66, 0.67, 200, 0.8),
    }
    run = build_case_run(tmp_path, {"qa": _baselines(60, {"prompt": 10, "tuned": 50})}, forgetting=forgetting)
    data = collect_run(run)
    assert data.forgetting_overall is not None and abs(data.forgetting_overall.delta) < 0.01  # flat overall
    assert "but arithmetic dropped by 10.0 points (0.35 → 0.25, Holm-adjusted p = 0.008)" in data.verdict.sentence
    holms = {f.task: f.p_holm for f in data.forgetting}
    assert holms["posttrain_general_arithmetic"] == 0.008 and holms["posttrain_general_reading"] == 0.9
    assert data.decision is not None and "general-skill drop" in data.decision.next_step


def test_rag_diagnosis_splits_misses_and_points_to_training_on_retrieved_context(tmp_path: Path) -> None:
    n = 10
    rag = [1.0] * 3 + [0.0] * 7
    sources = [f"docs/page{i}.md" for i in range(n)]
    retrieved = [[f"page{i}.md", "other.md"] if i != 9 else ["other.md", "more.md"] for i in range(n)]
    extra = {
        "qa": {
            v: [{"source": sources[i], "context_ids": [f"{s}#0" for s in retrieved[i]]} for i in range(n)]
            for v in ("rag",)
        }
    }
    run = build_case_run(tmp_path, {"qa": {"prompt": [0.0] * n, "rag": rag}}, advised="rag", extra=extra)
    data = collect_run(run)
    (d,) = data.rag
    assert (d.variant, d.k, d.n, d.hits, d.misses) == ("rag", 2, 10, 9, 7)
    assert (d.not_retrieved, d.retrieved_not_used) == (1, 6)
    assert data.decision is not None and "reading fails more than retrieval" in data.decision.next_step
    assert "RAFT" in data.decision.next_step
    assert "| qa | RAG | 9/10 (k=2) | 7 | 1 | 6 |" in render_markdown(data)


def test_rows_without_source_have_no_rag_diagnosis(tmp_path: Path) -> None:
    run = build_case_run(tmp_path, {"qa": _baselines(20, {"prompt": 5, "rag": 10})}, advised="rag")
    assert collect_run(run).rag == []


def test_margin_is_a_validated_config_field() -> None:
    import pytest
    from pydantic import ValidationError

    from harness.config import ReportSettings

    assert ReportSettings().margin_points == 5.0
    with pytest.raises(ValidationError, match="margin_points"):
        ReportSettings(margin_points=0)


def test_held_when_a_dearer_variant_is_only_not_significantly_worse(tmp_path: Path) -> None:
    # advised RAG scores best; fine-tuning (dearer) is 2 rows behind, not significant: still held
    rag, tuned = paired(60, both=30, only_a=3, only_b=1)
    run = build_case_run(tmp_path, {"qa": {"prompt": [0.0] * 60, "rag": rag, "tuned": tuned}}, advised="rag")
    data = collect_run(run)
    assert data.verdict.advice_status == "held", data.verdict.advice


def test_the_demos_shape_ships_the_only_variant_good_everywhere_and_ties_the_advice(tmp_path: Path) -> None:
    # format: fine-tuning 19/20, few-shot 16/20, fine-tuning + RAG 18/20; facts: only the RAG variants answer
    def rows(n: int, passes: int) -> list[float]:
        return [1.0] * passes + [0.0] * (n - passes)

    outcomes = {
        "format": {"prompt": rows(20, 0), "kshot": rows(20, 16), "rag": rows(20, 0), "tuned": rows(20, 19),
                   "tuned_rag": rows(20, 18)},
        "facts": {"prompt": rows(42, 0), "kshot": rows(42, 1), "rag": rows(42, 31), "tuned": rows(42, 0),
                  "tuned_rag": rows(42, 40)},
    }  # fmt: skip
    data = collect_run(build_case_run(tmp_path, outcomes))
    d = data.decision
    assert d is not None and (d.status, d.variant) == ("ship", "tuned_rag")
    assert "only variant not shown worse" in d.why and "on format" in d.why
    assert data.verdict.advice_status == "tied" and "few-shot prompting (cheaper)" in (data.verdict.advice or "")
    assert {p.eval_set: (p.variant, p.other) for p in data.power} == {"format": ("tuned", "tuned_rag")}


def test_an_unbounded_metric_reads_the_margin_as_a_share_of_the_best(tmp_path: Path) -> None:
    # graded 1-5 scores: fine-tuning is 0.8 above prompting (≈ 21% of its 3.9); a 5% margin is 0.19
    scores = {"prompt": [2.5, 3.0, 1.0, 4.0], "tuned": [3.0, 3.5, 2.0, 5.0]}
    data = collect_run(build_case_run(tmp_path, {"a": scores}, advised="rl", metric="numeric"))
    assert data.decision is not None and (data.decision.status, data.decision.variant) == ("ship", "tuned")
    assert data.verdict.advice_status == "held"


def test_a_tie_on_one_set_names_where_the_rival_fell_short(tmp_path: Path) -> None:
    # few-shot prompting ties fine-tuning on format but is far worse on facts: the line says both
    kshot, tuned = paired(20, both=9, only_a=1, only_b=4)
    sets = {
        "format": {"prompt": [0.0] * 20, "kshot": kshot, "tuned": tuned},
        "facts": _baselines(40, {"prompt": 2, "kshot": 3, "tuned": 30}),
    }
    data = collect_run(build_case_run(tmp_path, sets))
    advice = data.verdict.advice or ""
    assert data.verdict.advice_status == "tied"
    assert "tied with few-shot prompting (cheaper)" in advice and "on format" in advice
    assert "few-shot prompting was significantly worse on facts" in advice
    assert "no cheaper variant matched it on every eval set" in advice

"""Output health: cut, repeated and hedged answers, counted per variant and shown beside the scores."""

from __future__ import annotations

from pathlib import Path

from fixtures.report_run import build_case_run

from harness.evaluation.health import hedged, output_health, repeated_line, repeated_prefix
from harness.report.collect import collect_run
from harness.report.render import render_markdown


def test_detectors_flag_the_issues_examples_and_spare_plain_answers() -> None:
    assert repeated_prefix("Northwind Support: Northwind Support: Your order ships today.")
    assert not repeated_prefix("Northwind Support: Your order ships today.")
    assert repeated_line("Step 1\nOpen Settings\nStep 1\nOpen Settings")
    assert not repeated_line("Open Settings\nChoose Security")
    assert hedged("It costs between $10 and $500.", "$10")
    assert hedged("Refunds take 5-10 days.", "10")
    assert hedged("Maybe Settings, Help or Billing?", "Billing")
    assert not hedged("It costs $10.", "$10") and not hedged("Call 1-800-555-0147 today.", "1-800-555-0147")
    assert not hedged("Go to Team, press Invite and enter their e-mail.", "Team")
    assert not hedged("Invoices are under Billing, then History.", "Billing")


def test_counts_per_variant_are_shown_beside_the_scores(tmp_path: Path) -> None:
    n = 6
    outputs = {
        "prompt": ["$10", "between $10 and $500", "$10 or $20", "no idea", "A: A: $10", "$10\nmore\n$10"],
        "tuned": ["$10", "$10", "$10", "$10", "$10", "$10 and more"],
    }
    scores = {v: [1.0 if "$10" in o else 0.0 for o in outs] for v, outs in outputs.items()}
    extra = {
        "qa": {
            v: [{"output": o, "reference": "$10", "cut": i == 3 and v == "prompt"} for i, o in enumerate(outs)]
            for v, outs in outputs.items()
        }
    }
    run = build_case_run(tmp_path, {"qa": scores}, metric="contains", extra=extra)
    data = collect_run(run)
    health = {v.variant: v.health for v in data.variants}
    prompt, tuned = health["prompt"], health["tuned"]
    assert prompt is not None and tuned is not None
    assert (prompt.n, prompt.cut, prompt.repeated_prefix, prompt.repeated_line, prompt.hedged) == (n, 1, 1, 1, 2)
    assert (tuned.cut, tuned.repeated_prefix, tuned.repeated_line, tuned.hedged) == (0, 0, 0, 0)
    text = render_markdown(data)
    assert "| prompting | 0.833 [" in text and "| 1/6 | 1/6 · 1/6 | 2/6 |" in text


def test_unknown_cut_and_no_contains_metric_are_not_counted() -> None:
    counts = output_health([{"output": "x", "reference": "x", "scores": {"exact_match": 1.0}}])
    assert counts.cut is None and counts.hedged is None

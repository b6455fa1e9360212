"""A bigger hosted model as a baseline: asked over loopback (the project's OpenAI-compatible stand-in),
scored and paired like the local variants, and priced in the decision block."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fixtures.report_run import build_case_run

from harness.config import ExperimentConfig
from harness.datagen.standin_server import StandinServer
from harness.evaluation.endpoint import EndpointSpec
from harness.evaluation.runner import EvalRequest, evaluate
from harness.report.collect import collect_run
from harness.report.render import render_markdown
from harness.runner.stages import _hosted_variants
from posttrain.errors import BadInput

ROWS = [
    {"id": "a", "prompt": "How many days to return an item?", "reference": "47 days"},
    {"id": "b", "prompt": "Which carrier delivers parcels?", "reference": "Parcelwing"},
    {"id": "c", "prompt": "What is the warehouse city?", "reference": "Reno"},
]


def _respond(messages: list[dict[str, str]], body: dict) -> str:
    question = messages[-1]["content"]
    return "You have 47 days." if "return" in question else ("Parcelwing." if "carrier" in question else "Boise.")


def test_an_endpoint_is_evaluated_with_latency_tokens_and_price(tiny_model_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "eval.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    with StandinServer(_respond, delay_s=0.05) as server:
        spec = EndpointSpec(url=server.url, model="big", price_input_per_m=2.0, price_output_per_m=8.0)
        summary = evaluate(
            EvalRequest(
                data=str(data),
                model=str(tiny_model_dir),
                metrics=["contains"],
                variant="api-big",
                system_prompt="Answer briefly.",
                endpoint=spec,
                out=str(tmp_path / "out"),
            )
        )
        assert server.requests == 3
    assert summary.variant == "api-big" and summary.metrics["contains"].mean == pytest.approx(2 / 3)
    rows = [json.loads(line) for line in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    assert [r["output"] for r in rows] == ["You have 47 days.", "Parcelwing.", "Boise."]
    for r in rows:
        assert r["latency_bs1_s"] >= 0.05 and r["tokens_estimated"] is True and r["cut"] is False
        # system + user turn, ≈ 1 token per 4 characters + 4 per message
        assert r["prompt_tokens"] > 8 and r["cost_usd"] == pytest.approx(
            (r["prompt_tokens"] * 2.0 + r["output_tokens"] * 8.0) / 1e6
        )


def test_choice_metric_is_refused_for_an_endpoint(tmp_path: Path) -> None:
    data = tmp_path / "eval.jsonl"
    data.write_text(json.dumps({"prompt": "2+2?", "reference": "4", "choices": ["4", "5"]}) + "\n")
    spec = EndpointSpec(url="http://127.0.0.1:9/v1", model="m")
    with pytest.raises(BadInput, match="choice"):
        evaluate(EvalRequest(data=str(data), metrics=["choice"], variant="api-m", endpoint=spec))


def test_config_endpoints_become_prompt_and_rag_variants() -> None:
    cfg = ExperimentConfig.model_validate(
        {
            "name": "x",
            "methods": [],
            "evals": [{"path": "e.jsonl"}],
            "baselines": {
                "endpoints": [
                    {"name": "big", "url": "http://127.0.0.1:8000/v1", "model": "m", "price_input_per_m": 0.15},
                    {"name": "mini", "url": "https://api.example.com/v1", "model": "n", "rag": False},
                ]
            },
        }
    )
    assert [v for v, _ in _hosted_variants(cfg, None)] == ["api-big", "api-mini"]
    with_rag = _hosted_variants(cfg, ("retriever", "docs:1"))
    assert [v for v, _ in with_rag] == ["api-big", "api-big-rag", "api-mini"]
    assert with_rag[1][1]["retriever_id"] == "docs:1" and with_rag[0][1]["endpoint"].price_input_per_m == 0.15
    with pytest.raises(ValueError, match="url"):
        ExperimentConfig.model_validate(
            {
                "name": "x",
                "evals": [{"path": "e"}],
                "baselines": {"endpoints": [{"name": "b", "url": "ftp://h", "model": "m"}]},
            }
        )


def test_a_tuned_small_model_within_the_margin_replaces_the_hosted_one(tmp_path: Path) -> None:
    n = 200
    hosted = [1.0] * 150 + [0.0] * 50
    tuned = [1.0] * 149 + [0.0] * 51  # one row worse: within 5 points
    price = [{"cost_usd": 0.0004, "latency_bs1_s": 0.9, "prompt_tokens": 60, "tokens_estimated": True}] * n
    run = build_case_run(
        tmp_path,
        {"qa": {"prompt": [0.0] * n, "tuned": tuned, "api-big": hosted}},
        extra={"qa": {"api-big": price}},
    )
    data = collect_run(run)
    assert data.decision is not None and (data.decision.status, data.decision.variant) == ("ship", "tuned")
    assert "within 5 points of the best" in data.decision.why and "big (hosted)" in data.decision.why
    cost = {c.variant: c for c in data.costs}["api-big"]
    assert cost.usd_per_1k_requests == pytest.approx(0.4) and cost.latency_bs1_s == 0.9
    text = render_markdown(data)
    assert "| big (hosted) |" in text and "| api-big |" not in text  # the report's names
    # the hosted model wins when the small one is clearly worse, and its price is in the decision
    worse = build_case_run(
        tmp_path / "w",
        {"qa": {"prompt": [0.0] * n, "tuned": [1.0] * 80 + [0.0] * 120, "api-big": hosted}},
        extra={"qa": {"api-big": price}},
    )
    decision = collect_run(worse).decision
    assert (
        decision is not None and decision.variant == "api-big" and "≈$0.40 per 1,000 requests" in (decision.cost or "")
    )

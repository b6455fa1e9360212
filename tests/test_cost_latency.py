"""Batch-1 latency is timed on short generations and extrapolated to each answer's length."""

from __future__ import annotations

import time
from typing import Any

import pytest

from harness.evaluation import cost


def test_latency_extrapolates_prefill_plus_per_token_decode(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[int] = []

    def fake_generate(model: Any, tokenizer: Any, conversations: Any, *, max_new_tokens: int, **_: Any) -> Any:
        asked.append(max_new_tokens)
        time.sleep(0.02 + 0.01 * max_new_tokens)  # prefill 20 ms, 10 ms a token
        return [["x"]]

    monkeypatch.setattr("harness.evaluation.generate.generate_batch", fake_generate)
    rows = [[{"role": "user", "content": "q"}]] * 3
    seconds = cost.batch1_latencies(
        None, None, rows, output_tokens=[40, 1, 30], max_new_tokens=64, stop=None, generation_s=100.0
    )
    assert asked == [1, cost.PROBE_TOKENS, 1, 1, cost.PROBE_TOKENS]  # never the whole 40-token answer
    assert seconds[0] == pytest.approx(0.02 + 0.01 * 40, rel=0.25)
    assert seconds[1] == pytest.approx(0.03, rel=0.5)
    assert seconds[2] == pytest.approx(0.02 + 0.01 * 30, rel=0.25)


def test_the_sample_stops_before_a_row_would_overrun_a_tenth_of_the_generation_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[int] = []

    def fake_generate(model: Any, tokenizer: Any, conversations: Any, *, max_new_tokens: int, **_: Any) -> Any:
        asked.append(max_new_tokens)
        time.sleep(0.05)  # a row costs 0.1 s (two timed runs)
        return [["x"]]

    monkeypatch.setattr("harness.evaluation.generate.generate_batch", fake_generate)
    rows = [[{"role": "user", "content": "q"}]] * 5
    # Budget 0.25 s: two rows (0.2 s) fit, a third would end at ~0.3 s.
    seconds = cost.batch1_latencies(
        None, None, rows, output_tokens=[20] * 5, max_new_tokens=64, stop=None, generation_s=2.5
    )
    assert len(seconds) == 2 and len(asked) == 4

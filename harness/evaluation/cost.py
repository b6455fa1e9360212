"""What one request costs: prompt tokens (chat template, system prompt, k-shot turns and retrieved
context included), generated tokens, whether the answer hit ``max_new_tokens``, and latency at batch
size 1 on a small sample.

Batched eval latency (batch time / rows) says nothing about serving one user; the report's decision
needs the time a single request takes, so a few rows are generated again one at a time. To keep the
eval's cost down (< 10% of its generation time) the sample stops once it has used a tenth of the
batched generation's wall time, after at least one row and at most ``BS1_SAMPLE`` rows.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

BS1_SAMPLE = 5  # rows timed at batch size 1; the median of 5 shrugs off one slow first call
BS1_BUDGET = 0.10  # share of the batched generation time the sample may add


def token_counts(
    tokenizer: Any, conversations: list[list[dict[str, str]]], outputs: list[str]
) -> tuple[list[int], list[int]]:
    """Prompt tokens of each rendered (chat-templated) conversation and tokens of each answer."""
    from harness.evaluation.generate import render_prompts

    prompts = render_prompts(tokenizer, conversations)
    prompt_tokens = [len(ids) for ids in tokenizer(prompts, add_special_tokens=False)["input_ids"]]
    output_tokens = [len(ids) for ids in tokenizer(outputs, add_special_tokens=False)["input_ids"]] if outputs else []
    return prompt_tokens, output_tokens


def was_cut(output_tokens: int, max_new_tokens: int) -> bool:
    """The answer used the whole token budget (re-encoding the decoded text may merge a token, hence −1).

    >>> was_cut(128, 128), was_cut(127, 128), was_cut(40, 128)
    (True, True, False)
    """
    return output_tokens >= max(1, max_new_tokens - 1)


def batch1_latencies(
    model: Any,
    tokenizer: Any,
    conversations: list[list[dict[str, str]]],
    *,
    max_new_tokens: int,
    stop: list[str] | None,
    generation_s: float,
) -> list[float]:
    """Seconds per request at batch size 1 for the first rows, within the time budget above."""
    from harness.evaluation.generate import generate_batch

    budget = BS1_BUDGET * generation_s
    spent, seconds = 0.0, list[float]()
    for conversation in conversations[:BS1_SAMPLE]:
        if seconds and spent >= budget:
            break
        started = time.perf_counter()
        generate_batch(model, tokenizer, [conversation], max_new_tokens=max_new_tokens, stop=stop, batch_size=1)
        seconds.append(time.perf_counter() - started)
        spent += seconds[-1]
    return seconds


def median_or_none(values: list[float]) -> float | None:
    """
    >>> median_or_none([3.0, 1.0, 2.0]), median_or_none([])
    (2.0, None)
    """
    return statistics.median(values) if values else None

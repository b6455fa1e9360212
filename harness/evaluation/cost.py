"""What one request costs: prompt tokens (chat template, system prompt, k-shot turns and retrieved
context included), generated tokens, whether the answer hit ``max_new_tokens``, and latency at batch
size 1 on a small sample.

Batched eval latency (batch time / rows) says nothing about serving one user; the report's decision
needs the time a single request takes, so a few rows are generated again one at a time. Each is timed
on a short generation (1 and ``PROBE_TOKENS`` new tokens: prefill plus per-token decode time) and
extrapolated linearly to the answer's own length, which costs a fraction of generating it whole. To
keep the eval's cost down the sample stops before a row would take it past a tenth of the batched
generation's wall time (each row is predicted to cost what the rows before it did), after at least one
row and at most ``BS1_SAMPLE`` rows.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

BS1_SAMPLE = 5  # rows timed at batch size 1; the median of 5 shrugs off one slow first call
BS1_BUDGET = 0.10  # share of the batched generation time the sample may add
PROBE_TOKENS = 8  # new tokens of the longer timing run; decode time per token is linear beyond it


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
    output_tokens: list[int],
    max_new_tokens: int,
    stop: list[str] | None,
    generation_s: float,
) -> list[float]:
    """Seconds per request at batch size 1 for the first rows, within the time budget above.

    A row that answered in ``n`` tokens costs about prefill + ``n`` decode steps: timing 1 and ``k``
    new tokens gives both (greedy decoding repeats the answer's first ``k`` tokens exactly).
    """
    from harness.evaluation.generate import generate_batch

    def timed(conversation: list[dict[str, str]], tokens: int) -> float:
        started = time.perf_counter()
        generate_batch(model, tokenizer, [conversation], max_new_tokens=tokens, stop=stop, batch_size=1)
        return time.perf_counter() - started

    budget = BS1_BUDGET * generation_s
    spent, seconds = 0.0, list[float]()
    for conversation, produced in zip(conversations[:BS1_SAMPLE], output_tokens, strict=False):
        if seconds and spent + spent / len(seconds) > budget:  # the next row would overrun the budget
            break
        first = timed(conversation, 1)
        spent += first
        probe = min(PROBE_TOKENS, produced, max_new_tokens)
        if probe <= 1:
            seconds.append(first)
            continue
        longer = timed(conversation, probe)
        spent += longer
        per_token = max(0.0, (longer - first) / (probe - 1))
        seconds.append(first + per_token * (produced - 1))
    return seconds


def median_or_none(values: list[float]) -> float | None:
    """
    >>> median_or_none([3.0, 1.0, 2.0]), median_or_none([])
    (2.0, None)
    """
    return statistics.median(values) if values else None

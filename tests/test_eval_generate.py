"""Batched generation: left padding gives the same greedy answers as one-at-a-time; stops; sampling."""

from __future__ import annotations

import pytest

CONVERSATIONS = [
    [{"role": "user", "content": "Hi"}],
    [{"role": "user", "content": "Write a long sentence about the weather in the mountains in spring."}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2+2?"}],
]


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    from harness.models import load_model_and_tokenizer

    return load_model_and_tokenizer(str(tiny_model_dir))


def test_batched_greedy_equals_one_at_a_time(tiny):
    from harness.evaluation.generate import generate_batch

    model, tokenizer = tiny
    batched = generate_batch(model, tokenizer, CONVERSATIONS, max_new_tokens=6, batch_size=3)
    single = [generate_batch(model, tokenizer, [c], max_new_tokens=6, batch_size=1)[0] for c in CONVERSATIONS]
    assert batched == single
    assert all(len(o) == 1 and o[0] for o in batched)  # one non-empty answer each


def test_stop_sequence_cuts_the_answer(tiny):
    from harness.evaluation.generate import generate_batch

    model, tokenizer = tiny
    full = generate_batch(model, tokenizer, CONVERSATIONS[:1], max_new_tokens=8)[0][0]
    stop = full[len(full) // 2 :][:2]  # a piece of the answer's second half
    cut = generate_batch(model, tokenizer, CONVERSATIONS[:1], max_new_tokens=8, stop=[stop])[0][0]
    assert cut == full[: full.find(stop)]


def test_sampling_returns_several_answers_per_prompt(tiny):
    from harness.evaluation.generate import generate_batch

    model, tokenizer = tiny
    out = generate_batch(
        model, tokenizer, CONVERSATIONS[:2], max_new_tokens=5, do_sample=True, temperature=1.5, num_return_sequences=3
    )
    assert [len(o) for o in out] == [3, 3]
    assert len(set(out[0])) > 1  # random weights at temperature 1.5: the three samples differ


def test_batch_size_fits_memory_and_respects_the_cap(tiny):
    from harness.evaluation.generate import pick_batch_size

    model, _ = tiny
    assert 1 <= pick_batch_size(model, prompt_tokens=100, max_new_tokens=100) <= 32

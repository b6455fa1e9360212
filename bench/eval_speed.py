"""Eval throughput: batched generation vs one example at a time, on the default model.

Prints examples/s and generated tokens/s for both and their ratio (target: batched ≥ 3× faster).
Both runs use the evaluator's own ``generate_batch`` (chat template, greedy, the KV cache); the
only difference is the batch size. Generated tokens are the answers re-tokenised, so a run that
stops early at EOS is not credited with padding.

    .venv/bin/python bench/eval_speed.py [--examples 32] [--max-new-tokens 32] [--batch-size N]
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

QUESTIONS = [
    "What is the capital of France?",
    "Give one tip for staying focused while studying.",
    "What is 12 times 7?",
    "Name three primary colours.",
    "Why is the sky blue? Answer in one sentence.",
    "Translate 'good morning' into Spanish.",
    "What is the boiling point of water in Celsius?",
    "Suggest a name for a friendly robot.",
    "What does a bee make?",
    "Write a haiku about autumn leaves.",
    "How many days are in a leap year?",
    "What is the opposite of 'ancient'?",
    "Explain what a noun is to a child.",
    "Which planet is known as the Red Planet?",
    "What is photosynthesis, in short?",
    "List two uses of a paperclip.",
]


def _tokens(tokenizer: Any, outputs: list[list[str]]) -> int:
    return sum(len(tokenizer(o[0], add_special_tokens=False)["input_ids"]) for o in outputs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=None, help="default: chosen to fit memory")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import torch

    from harness.evaluation.generate import generate_batch, pick_batch_size
    from harness.models import load_model_and_tokenizer

    model, tokenizer = load_model_and_tokenizer("smollm2-135m")
    conversations = [[{"role": "user", "content": QUESTIONS[i % len(QUESTIONS)]}] for i in range(args.examples)]
    generate_batch(model, tokenizer, conversations[:2], max_new_tokens=4)  # warm-up: kernels, allocator
    size = args.batch_size or pick_batch_size(model, 64, args.max_new_tokens)
    print(f"default model, {args.examples} examples, max_new_tokens={args.max_new_tokens}, "
          f"torch threads={torch.get_num_threads()}, batch size={size}")  # fmt: skip

    started = time.perf_counter()
    single = [generate_batch(model, tokenizer, [c], max_new_tokens=args.max_new_tokens, batch_size=1)[0]
              for c in conversations]  # fmt: skip
    single_s = time.perf_counter() - started

    started = time.perf_counter()
    batched = generate_batch(model, tokenizer, conversations, max_new_tokens=args.max_new_tokens, batch_size=size)
    batched_s = time.perf_counter() - started

    rows = []
    for name, outputs, seconds in (("one at a time", single, single_s), (f"batched ({size})", batched, batched_s)):
        tokens = _tokens(tokenizer, outputs)
        rows.append((name, seconds, args.examples / seconds, tokens / seconds, tokens))
    print(f"{'mode':<16}{'wall s':>9}{'examples/s':>12}{'gen tok/s':>11}{'gen tokens':>12}")
    for name, seconds, eps, tps, tokens in rows:
        print(f"{name:<16}{seconds:>9.1f}{eps:>12.2f}{tps:>11.1f}{tokens:>12}")
    same = sum(a == b for a, b in zip(single, batched, strict=True))
    ratio = rows[1][2] / rows[0][2]
    print(f"speed-up (examples/s batched ÷ one at a time): {rows[1][2]:.2f} ÷ {rows[0][2]:.2f} = {ratio:.2f}x "
          f"(target ≥ 3x: {'met' if ratio >= 3 else 'NOT met'})")  # fmt: skip
    print(f"identical greedy answers in both modes: {same}/{args.examples}")


if __name__ == "__main__":
    main()

"""Best-of-N sampling speed on the default model: samples per second, batched versus one at a time.

Batched is what ``posttrain data best-of-n`` does: all N samples of a group of prompts come from one
``generate`` call (``num_return_sequences=N``, left padding, KV cache). One-at-a-time is the naive loop
(one ``generate`` per sample). The end-to-end line runs the command's library function, which adds
scoring and fsynced writes.

    .venv/bin/python bench/best_of_n_speed.py [--prompts FILE] [-n 4] [--prompts-used 8] [--max-new-tokens 32]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prompts", default=str(REPO / "tests" / "data" / "arith_prompts.jsonl"))
    parser.add_argument("-n", type=int, default=4)
    parser.add_argument("--prompts-used", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--sequential-prompts", type=int, default=2, help="prompts for the one-at-a-time loop")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (1 avoids spin-wait collapse on a shared, busy CPU)"
    )
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    from harness.datagen.best_of_n import best_of_n
    from harness.datagen.prompts import load_prompts
    from harness.evaluation.generate import generate_batch
    from harness.models import load_model_and_tokenizer

    prompts = load_prompts(args.prompts, limit=args.prompts_used)
    conversations = [p.messages for p in prompts]
    model, tokenizer = load_model_and_tokenizer("smollm2-135m")
    sample = {"max_new_tokens": args.max_new_tokens, "do_sample": True, "temperature": 0.7}
    generate_batch(model, tokenizer, conversations[:1], **sample)  # warm-up: first-call allocations

    def new_tokens(outputs: list[list[str]]) -> int:
        texts = [t for group in outputs for t in group]
        return sum(len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"])

    tick = time.perf_counter()
    batched = generate_batch(model, tokenizer, conversations, num_return_sequences=args.n, **sample)
    batched_s = time.perf_counter() - tick
    batched_samples = sum(len(g) for g in batched)

    seq_convs = conversations[: args.sequential_prompts]
    tick = time.perf_counter()
    sequential = [generate_batch(model, tokenizer, [c], **sample, seed=k)[0] for c in seq_convs for k in range(args.n)]
    sequential_s = time.perf_counter() - tick
    sequential_samples = len(sequential)

    with tempfile.TemporaryDirectory() as tmp:
        tick = time.perf_counter()
        summary = best_of_n(
            args.prompts, "smollm2-135m", args.n, "numeric_answer", Path(tmp) / "sft.jsonl",
            pairs=Path(tmp) / "dpo.jsonl", max_new_tokens=args.max_new_tokens, limit=args.prompts_used,
        )  # fmt: skip
        end_to_end_s = time.perf_counter() - tick

    batched_rate = batched_samples / batched_s
    sequential_rate = sequential_samples / sequential_s
    print(f"machine: {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, load {os.getloadavg()[0]:.1f}")
    print(f"setup: {len(prompts)} prompts × n={args.n}, max_new_tokens={args.max_new_tokens}, default model")
    print(
        f"batched:        {batched_samples} samples in {batched_s:.1f} s = {batched_rate:.2f} samples/s "
        f"({new_tokens(batched) / batched_s:.0f} generated tokens/s)"
    )
    print(
        f"one at a time:  {sequential_samples} samples in {sequential_s:.1f} s = {sequential_rate:.2f} samples/s "
        f"({new_tokens(sequential) / sequential_s:.0f} generated tokens/s)"
    )
    print(f"ratio batched / one at a time: {batched_rate / sequential_rate:.1f}×")
    print(
        f"end to end (posttrain data best-of-n, model load + sampling + scoring + writes): {end_to_end_s:.1f} s, "
        f"sampling {summary.samples_per_s:.2f} samples/s; mean reward single sample {summary.sample_scores.mean}, "
        f"best of {args.n} {summary.best_scores.mean}; usable pairs {summary.pairs}/{summary.prompts}"
    )


if __name__ == "__main__":
    main()

"""``posttrain data convert`` and ``posttrain data check`` on 100,000 synthetic ShareGPT conversations.

Each command runs in its own process (as a user runs it), so its peak RSS is its own. Targets:
each ≤ 60 s and ≤ 2 GB. ``--tokens`` also measures what training one row per assistant turn costs
against one masked sequence per conversation, with the default model's tokenizer (see
harness/training/prepare.py for why posttrain trains per turn).

    .venv/bin/python bench/data_convert.py [--rows 100000] [--turns 5] [--tokens]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parent.parent
WORDS = [
    "the",
    "a",
    "river",
    "mountain",
    "code",
    "python",
    "answer",
    "question",
    "model",
    "data",
    "train",
    "loss",
    "token",
    "garden",
    "window",
    "paper",
    "energy",
    "market",
    "number",
    "letter",
    "story",
    "planet",
    "ocean",
    "forest",
    "engine",
    "signal",
    "memory",
    "pattern",
    "theory",
    "method",
    "value",
]
# Runs one CLI command in-process and prints its own peak RSS (KiB on Linux) and CPU seconds on stderr:
# on a shared machine CPU time says what the command costs, wall time what the user waits.
_CHILD = (
    "import resource, sys\n"
    "from harness.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "use = resource.getrusage(resource.RUSAGE_SELF)\n"
    "print('maxrss_kib', use.ru_maxrss, use.ru_utime + use.ru_stime, file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def conversation(rng: random.Random, turns: int) -> dict:
    def text(lo: int, hi: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi)))

    convs = [{"from": "system", "value": "You are a helpful assistant."}]
    for _ in range(turns):
        convs += [{"from": "human", "value": text(8, 30)}, {"from": "gpt", "value": text(20, 60)}]
    return {"conversations": convs}


def write_dataset(path: Path, rows: int, turns: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as handle:
        for _ in range(rows):
            handle.write(json.dumps(conversation(rng, turns)) + "\n")


def timed(args: list[str]) -> tuple[float, float, float, int]:
    """(wall seconds, CPU seconds, peak RSS in MB, exit code) of one posttrain command in a fresh process."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _CHILD, *args], capture_output=True, text=True, cwd=REPO)
    wall = time.perf_counter() - start
    last = next((line.split() for line in done.stderr.splitlines() if line.startswith("maxrss_kib")), ["", "0", "0"])
    if done.returncode not in (0, 1):
        print(done.stderr[-2000:], file=sys.stderr)
    return wall, float(last[2]), int(last[1]) / 1024, done.returncode


def token_cost(turns: int, conversations: int = 200) -> None:
    from transformers import AutoTokenizer

    from harness.models import ensure_default_model
    from harness.training.prepare import sft_rows

    tokenizer = AutoTokenizer.from_pretrained(ensure_default_model())

    def count(messages: list[dict]) -> int:
        ids = tokenizer.apply_chat_template(messages, tokenize=True)
        return len(ids["input_ids"]) if hasattr(ids, "keys") else len(ids)

    rng = random.Random(1)
    masked = per_turn = 0
    for _ in range(conversations):
        row = conversation(rng, turns)
        roles = {"system": "system", "human": "user", "gpt": "assistant"}
        messages = [{"role": roles[t["from"]], "content": t["value"]} for t in row["conversations"]]
        masked += count(messages)
        per_turn += sum(count(r["prompt"] + r["completion"]) for r in sft_rows({"messages": messages}))
    print(
        f"tokens for {conversations} {turns}-turn conversations: one masked sequence each {masked:,}; "
        f"one row per assistant turn {per_turn:,} ({per_turn / masked:.2f}x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--turns", type=int, default=5)
    parser.add_argument("--tokens", action="store_true", help="also measure per-turn vs masked token cost")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "sharegpt.jsonl"
        start = time.perf_counter()
        write_dataset(data, args.rows, args.turns)
        size = data.stat().st_size / 2**20
        print(f"wrote {args.rows:,} ShareGPT conversations ({args.turns} turns, {size:,.0f} MB) in "
              f"{time.perf_counter() - start:.1f} s")  # fmt: skip
        out = Path(tmp) / "train.trl.jsonl"
        for name, command in (
            ("data convert", ["data", "convert", str(data), "--kind", "sft", "--out", str(out)]),
            ("data check", ["data", "check", str(data), "--kind", "sft", "--json"]),
        ):
            wall, cpu, rss, code = timed(command)
            verdict = "ok" if wall <= 60 and rss <= 2048 else "OVER TARGET"
            print(
                f"{name:13s} wall {wall:6.1f} s   CPU {cpu:6.1f} s   peak RSS {rss:7,.0f} MB   exit {code}   "
                f"{verdict} (≤ 60 s, ≤ 2 GB)"
            )
        rows_out = sum(1 for _ in out.open()) if out.exists() else 0
        print(f"converted rows: {rows_out:,} (one per assistant turn)")
    if args.tokens:
        token_cost(args.turns)


if __name__ == "__main__":
    main()

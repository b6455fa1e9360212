"""``make bench``: run every benchmark script and print one table of their headline figures.

Each script prints its own detailed output (kept in ``bench/results/<script>.txt``); this runner
picks the headline figures out of it with the patterns below, one row per figure, with the target.
Usage: .venv/bin/python bench/run_all.py [--only NAME ...]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"

# script -> [(figure, regex with one group, target)]: the scripts' own output lines are the source.
FIGURES: dict[str, list[tuple[str, str, str]]] = {
    "cli_startup.py": [
        ("posttrain --help, wall s", r"posttrain --help\s+([\d.]+)", "≤ 0.25"),
        ("advise --answers … --json, wall s", r"advise --answers … --json\s+([\d.]+)", "≤ 0.40"),
    ],
    "data_check.py": [
        ("data check 100k rows, wall s", r"wall ([\d.]+) s", "≤ 60"),
        ("data check peak RSS, MB", r"peak RSS ([\d,]+) MB", "≤ 2048"),
        ("near duplicates found", r"near duplicates\s+found\s+\d+ /\s+\d+ =\s+([\d.]+%)", "≥ 90%"),
        ("exact duplicates + eval leaks found", r"exact duplicates\s+found\s+\d+ /\s+\d+ =\s+([\d.]+%)", "100%"),
    ],
    "eval_speed.py": [
        ("batched / one-at-a-time eval speed-up", r"= ([\d.]+)x", "≥ 3×"),
    ],
    "rag_speed.py": [
        ("index 10,000 chunks, s", r"chunks of ~\d+ chars: ([\d.]+) s", "≤ 120"),
        ("median query latency, ms", r"median ([\d.]+) ms", "≤ 50"),
    ],
    "train_overhead.py": [
        ("train wall ratio posttrain / plain TRL", r"posttrain / plain TRL: ([\d.]+)", "≤ 1.05"),
        ("posttrain training share of fp32 peak", r"posttrain\s+wall.*= (\d+%) of fp32 peak", "≥ 50%"),
    ],
    "cuda_check.py": [
        ("CUDA paths: SFT, DPO, GRPO and eval on cuda/bf16", r"cuda paths: (\S+)", "ok"),
    ],
    "best_of_n_speed.py": [
        ("best-of-N samples/s (batched)", r"batched:.*= ([\d.]+) samples/s", "—"),
    ],
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="script names (e.g. eval_speed.py)")
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    rows: list[tuple[str, str, str, str]] = []
    for script, patterns in FIGURES.items():
        if args.only and script not in args.only:
            continue
        started = time.perf_counter()
        print(f"running {script} ...", flush=True)
        proc = subprocess.run(
            [sys.executable, str(BENCH / script)], capture_output=True, text=True, env=dict(os.environ), check=False
        )
        output = proc.stdout + proc.stderr
        (RESULTS / f"{script}.txt").write_text(output)
        took = f"{time.perf_counter() - started:.0f} s"
        for figure, pattern, target in patterns:
            match = re.search(pattern, output)
            value = match.group(1) if match else f"(not found; exit {proc.returncode})"
            rows.append((script, figure, value, target))
        print(f"  done in {took}", flush=True)
    load = os.getloadavg()[0]
    print(f"\nmachine: {os.cpu_count()} cores, load average {load:.1f}; details in {RESULTS.relative_to(Path.cwd())}/")
    widths = [max(len(r[i]) for r in [("script", "figure", "value", "target"), *rows]) for i in range(4)]
    for row in [("script", "figure", "value", "target"), *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

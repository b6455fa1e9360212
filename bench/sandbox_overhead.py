"""Per-program cost of the unit-test sandbox: each mode that works here against a bare interpreter.

The program is a one-line ``add`` with one assert, so the figure is the sandbox's own overhead:
namespaces, mounts, the launcher and the trusted runner. The modes and the bare run are interleaved
(one of each per round), so a busy machine slows them alike. Prints the median and the minimum.
Usage: .venv/bin/python bench/sandbox_overhead.py [ROUNDS]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.evaluation.sandbox import run_in_mode
from harness.evaluation.sandbox_modes import probe_capabilities

CODE = "def add(a, b):\n    return a + b\n"
TESTS = "assert add(2, 3) == 5\n"


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    python = os.path.realpath(sys.executable)
    cases: dict[str, Callable[[], object]] = {
        "bare python -I -S": lambda: subprocess.run([python, "-I", "-S", "-c", CODE + TESTS], check=True),
    }
    for mode in [*probe_capabilities().available, "unsandboxed"]:
        cases[mode] = lambda mode=mode: run_in_mode(mode, CODE, TESTS)  # type: ignore[misc]
    for run in cases.values():
        run()  # warm: the world-writable scan and the file cache
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, run in cases.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    bare = statistics.median(times["bare python -I -S"])
    print(f"load average {os.getloadavg()[0]:.1f}, {rounds} interleaved rounds")
    print(f"{'mode':20s} {'median ms':>10s} {'min ms':>8s} {'over bare ms':>13s}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:20s} {median * 1000:10.1f} {min(values) * 1000:8.1f} {(median - bare) * 1000:13.1f}")
    # The headline: the strongest mode that works here (the one unit tests run in) against the bare run.
    mode = next((m for m in cases if m not in ("bare python -I -S", "unsandboxed")), "unsandboxed")
    ours = times[mode]
    print(
        f"sandbox {mode}: median {statistics.median(ours) * 1000:.1f} ms, "
        f"min–max {min(ours) * 1000:.1f}–{max(ours) * 1000:.1f} ms; "
        f"bare python median {bare * 1000:.1f} ms; sandbox / bare: {statistics.median(ours) / bare:.2f}x"
    )


if __name__ == "__main__":
    main()

"""Start-up wall time of the CLI: `posttrain --help` and `posttrain advise --answers F --json`.

Each command runs as a fresh subprocess (what a user waits for), several times; the median wall time is
printed with its target and the ratio (≤ 1.00 meets the target). The CPU time (user + system) of the
same runs is printed too: on a shared machine wall time includes waiting for a core, CPU time does not.
Usage: .venv/bin/python bench/cli_startup.py [RUNS]
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# The console script beside this interpreter; `python -m harness.cli` when it is not installed.
SCRIPT = Path(sys.executable).with_name("posttrain")
POSTTRAIN = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "harness.cli"]
ANSWERS = REPO / "examples" / "support-assistant" / "answers.yaml"
CASES = [
    ("posttrain --help", ["--help"], 0.25),
    ("posttrain advise --answers … --json", ["advise", "--answers", str(ANSWERS), "--json"], 0.40),
]


def wall_and_cpu_times(args: list[str], runs: int) -> tuple[list[float], list[float]]:
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run([*POSTTRAIN, *args], cwd=REPO, check=True, capture_output=True)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return walls, cpus


def main() -> int:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    wall_and_cpu_times(["--help"], 1)  # warm the file cache and the .pyc files; not counted
    print(f"load average (1 min): {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; {runs} runs each")
    print(f"{'command':<38} {'wall s':>7} {'min s':>6} {'cpu s':>6} {'target s':>9} {'ratio':>6}")
    met = True
    for name, args, target in CASES:
        walls, cpus = wall_and_cpu_times(args, runs)
        median = statistics.median(walls)
        met &= median <= target
        print(
            f"{name:<38} {median:7.3f} {min(walls):6.3f} {statistics.median(cpus):6.3f} {target:9.2f} "
            f"{median / target:6.2f}"
        )
    print("all targets met" if met else "some targets missed (ratio > 1.00)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

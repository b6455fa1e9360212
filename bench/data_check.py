"""Benchmark ``posttrain data check`` on a 100,000-row conversational JSONL (~100 MB) with planted problems.

Plants exact duplicates, near duplicates (a few words changed) and eval leaks (exact and near), runs
``posttrain data check FILE --eval EVAL --json`` in a child process, and prints the wall time, the
child's peak memory (``ru_maxrss`` from ``wait4``) and how many planted problems of each type were found.

Targets (issue 3): ≤ 60 s, ≤ 2 GB peak, every exact duplicate and leak found, ≥ 90 % of near duplicates.

    python bench/data_check.py [--rows 100000] [--keep DIR]
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

SYSTEM = "You are a helpful assistant. Answer clearly and cite the relevant facts."


def _vocab(rng: random.Random, n: int = 20_000) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choice(letters) for _ in range(rng.randint(2, 10))) for _ in range(n)]


def _text(rng: random.Random, vocab: list[str], n: int) -> str:
    # Zipf-like word choice (index ~ exponential) so frequent words repeat as in real text
    words = [vocab[min(len(vocab) - 1, int(rng.expovariate(1 / 1500)))] for _ in range(n)]
    out = []
    for i, w in enumerate(words):
        out.append(w.capitalize() if i % 12 == 0 else w)
        if i % 12 == 11:
            out[-1] += "."
    return " ".join(out)


def _row(prompt: str, answer: str, source: str, system: bool) -> dict:
    messages = [{"role": "system", "content": SYSTEM}] if system else []
    messages += [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]
    return {"messages": messages, "source": source}


def _perturb(rng: random.Random, text: str, changes: int) -> str:
    words = text.split()
    for pos in rng.sample(range(len(words)), changes):
        words[pos] = rng.choice(["indeed", "perhaps", "notably", "also", "really"])
    return " ".join(words)


def generate(path: Path, eval_path: Path, rows: int, seed: int = 0) -> dict[str, list]:
    """Write the train and eval files; return the planted problems by row index (0-based)."""
    rng = random.Random(seed)
    vocab = _vocab(rng)
    n_exact, n_near, n_leak_exact, n_leak_near, n_eval = rows // 100, rows // 100, rows // 500, rows // 500, rows // 200
    base_count = rows - n_exact - n_near - n_leak_exact - n_leak_near
    data = [
        _row(_text(rng, vocab, 35), _text(rng, vocab, 100), rng.choice(["web", "books", "code"]), rng.random() < 0.5)
        for _ in range(base_count)
    ]
    evals = [{"prompt": _text(rng, vocab, 35), "reference": _text(rng, vocab, 5), "id": i} for i in range(n_eval)]
    plants: list[tuple[str, int, dict]] = []  # (kind, partner: base row or eval row, new row)
    originals = rng.sample(range(base_count), n_exact + n_near)
    for k, orig in enumerate(originals):
        src = data[orig]
        if k < n_exact:
            plants.append(("exact", orig, json.loads(json.dumps(src))))
        else:  # 3 words of ~135 changed: Jaccard of word 3-grams ≈ (133 - 9) / (133 + 9) = 0.87
            msgs = json.loads(json.dumps(src["messages"]))
            msgs[-1]["content"] = _perturb(rng, msgs[-1]["content"], 3)
            plants.append(("near", orig, {"messages": msgs, "source": src["source"]}))
    leaked = rng.sample(range(n_eval), n_leak_exact + n_leak_near)
    for k, j in enumerate(leaked):
        prompt = evals[j]["prompt"]
        if k >= n_leak_exact:  # 1 word of 35 changed: (33 - 3) / (33 + 3) ≈ 0.83 ≥ 0.7
            prompt = _perturb(rng, prompt, 1)
        kind = "leak_exact" if k < n_leak_exact else "leak_near"
        plants.append((kind, j, _row(prompt, _text(rng, vocab, 100), "web", False)))
    # Planted rows go to random positions; record where each ended up.
    order = list(range(base_count)) + [-(i + 1) for i in range(len(plants))]
    rng.shuffle(order)
    position = {key: pos for pos, key in enumerate(order)}
    planted: dict[str, list] = {"exact": [], "near": [], "leak_exact": [], "leak_near": []}
    with path.open("w") as f:
        for key in order:
            f.write(json.dumps(data[key] if key >= 0 else plants[-key - 1][2]) + "\n")
    for i, (kind, partner, _) in enumerate(plants):
        row = position[-(i + 1)]
        planted[kind].append((position[partner], row) if kind in ("exact", "near") else row)
    with eval_path.open("w") as f:
        for e in evals:
            f.write(json.dumps(e) + "\n")
    return planted


def run_check(path: Path, eval_path: Path) -> tuple[dict, float, float, float, int]:
    """Run the CLI in a child; return (report, wall s, CPU s, peak RSS in MB, exit code)."""
    cmd = [sys.executable, "-m", "harness.cli", "data", "check", str(path), "--eval", str(eval_path), "--json"]
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        out.seek(0)
        text = out.read().decode()
    code = os.waitstatus_to_exitcode(status)
    if not text.strip().startswith("{"):
        sys.exit(f"data check failed (exit {code}): {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}")
    cpu = usage.ru_utime + usage.ru_stime  # the fair figure on a shared machine: wall includes waiting for a core
    return json.loads(text), wall, cpu, usage.ru_maxrss / 1024, code  # ru_maxrss is in KiB on Linux


def score(report: dict, planted: dict[str, list]) -> dict[str, tuple[int, int]]:
    groups = {"duplicate": [], "near_duplicate": []}
    leaks: set[int] = set()
    for f in report["warnings"]:
        if f["check"] in groups:
            groups[f["check"]].append(set(f["rows"]))
        elif f["check"] in ("eval_overlap", "eval_near_overlap"):
            leaks.update(f["rows"])

    def together(pair: tuple[int, int], check: str) -> bool:
        return any(pair[0] in g and pair[1] in g for g in groups[check])

    return {
        "exact duplicates": (sum(together(p, "duplicate") for p in planted["exact"]), len(planted["exact"])),
        "near duplicates": (sum(together(p, "near_duplicate") for p in planted["near"]), len(planted["near"])),
        "exact eval leaks": (sum(r in leaks for r in planted["leak_exact"]), len(planted["leak_exact"])),
        "near eval leaks": (sum(r in leaks for r in planted["leak_near"]), len(planted["leak_near"])),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--keep", type=Path, help="write the generated files here and keep them")
    args = parser.parse_args()
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="posttrain-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    path, eval_path = workdir / "train.jsonl", workdir / "eval.jsonl"
    t0 = time.perf_counter()
    planted = generate(path, eval_path, args.rows)
    size_mb = path.stat().st_size / 1e6
    print(f"generated {args.rows:,} rows, {size_mb:.0f} MB in {time.perf_counter() - t0:.0f} s")
    report, wall, cpu, peak_mb, code = run_check(path, eval_path)
    found = score(report, planted)
    flagged_dups = sum(len(f["rows"]) - 1 for f in report["warnings"] if f["check"] in ("duplicate", "near_duplicate"))
    planted_dups = len(planted["exact"]) + len(planted["near"])
    print(f"data check: exit {code}, wall {wall:.1f} s (target ≤ 60), CPU {cpu:.1f} s, peak RSS {peak_mb:,.0f} MB")
    print(f"throughput: {args.rows / wall:,.0f} rows/s, {size_mb / wall:.1f} MB/s (wall); peak target ≤ 2048 MB")
    for name, (hit, total) in found.items():
        print(f"  {name:17s} found {hit:5d} / {total:5d} = {hit / max(1, total):6.1%}")
    print(f"  redundant rows flagged {flagged_dups} vs planted {planted_dups} (extra = false positives)")
    every = ("exact duplicates", "exact eval leaks", "near eval leaks")
    found_ok = all(found[k][0] == found[k][1] for k in every)
    found_ok = found_ok and found["near duplicates"][0] >= 0.9 * found["near duplicates"][1]
    ok = wall <= 60 and peak_mb <= 2048 and found_ok
    load = os.getloadavg()[0]
    print(f"machine: {os.cpu_count()} cores, load average {load:.1f} during the run (wall includes waiting for a core)")
    cpu_ok = cpu <= 60 and peak_mb <= 2048 and found_ok
    print("targets met" if ok else "targets met on CPU time, wall over 60 s" if cpu_ok else "TARGETS MISSED")
    if not args.keep:
        for p in (path, eval_path):
            p.unlink()
        workdir.rmdir()


if __name__ == "__main__":
    main()

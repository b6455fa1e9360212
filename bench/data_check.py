"""Benchmark ``posttrain data check`` on a 100,000-row conversational JSONL (~100 MB) with planted problems.

Plants exact duplicates, near duplicates (a few words changed) and eval leaks (exact and near), then
runs, alternating ``--runs`` times each, in child processes:

- ``posttrain data check FILE --eval EVAL --json`` (which also checks structure and eval leaks), and
- the peer: the plain datasketch script a user would write for dedup (:func:`plain_dedup`: word 3-gram
  ``MinHash`` per row, ``MinHashLSH(threshold=0.8)``, every row queried; no verification).

Prints for each the median wall time with its min–max, the CPU time, the peak memory (``ru_maxrss``
from ``wait4``), the speed-up, and the recall of each against the planted duplicates.

Targets (issue 3): ≤ 60 s, ≤ 2 GB peak, every exact duplicate and leak found, ≥ 90 % of near duplicates.

    python bench/data_check.py [--rows 100000] [--runs 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
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
        prompt = str(evals[j]["prompt"])
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


NEAR_THRESHOLD = 0.8  # posttrain's default (harness/data/quality.py), given to the peer too


def plain_dedup(path: Path, threshold: float = NEAR_THRESHOLD, num_perm: int = 128) -> list[tuple[int, int]]:
    """The peer: near-duplicate pairs by datasketch's MinHash LSH, as its README shows it, on the same rows.

    Each row's message texts are joined, lower-cased and split into words; the word 3-grams go into a
    ``MinHash`` with ``update_batch``; every row is inserted into a ``MinHashLSH`` and then queried.
    """
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    hashes = []
    with path.open() as handle:
        for i, line in enumerate(handle):
            row = json.loads(line)
            words = " ".join(m["content"] for m in row["messages"]).lower().split()
            shingles = {" ".join(words[k : k + 3]) for k in range(max(1, len(words) - 2))}
            m = MinHash(num_perm=num_perm)
            m.update_batch([s.encode() for s in shingles])
            lsh.insert(i, m)
            hashes.append(m)
    return sorted({(min(i, j), max(i, j)) for i, m in enumerate(hashes) for j in lsh.query(m) if j != i})


def run_child(cmd: list[str]) -> tuple[str, float, float, float, int]:
    """Run ``cmd``; return (stdout, wall s, CPU s, peak RSS in MB, exit code)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        text, problems = out.read().decode(), err.read().decode()
    code = os.waitstatus_to_exitcode(status)
    if not text.strip().startswith(("{", "[")):
        sys.exit(f"{' '.join(cmd[:4])} failed (exit {code}): {problems[-2000:]}")
    cpu = usage.ru_utime + usage.ru_stime  # the fair figure on a shared machine: wall includes waiting for a core
    return text, wall, cpu, usage.ru_maxrss / 1024, code  # ru_maxrss is in KiB on Linux


def run_check(path: Path, eval_path: Path) -> tuple[dict, float, float, float, int]:
    """``posttrain data check`` in a child; return (report, wall s, CPU s, peak RSS in MB, exit code)."""
    cmd = [sys.executable, "-m", "harness.cli", "data", "check", str(path), "--eval", str(eval_path), "--json"]
    text, wall, cpu, peak, code = run_child(cmd)
    return json.loads(text), wall, cpu, peak, code


def run_plain(path: Path) -> tuple[list[tuple[int, int]], float, float, float]:
    """The peer in a child (its own interpreter start, imports and peak memory, as posttrain's)."""
    text, wall, cpu, peak, _ = run_child([sys.executable, __file__, "--plain-peer", str(path)])
    return [(a, b) for a, b in json.loads(text)], wall, cpu, peak


def score(report: dict, planted: dict[str, list]) -> dict[str, tuple[int, int]]:
    groups: dict[str, list[set[int]]] = {"duplicate": [], "near_duplicate": []}
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


def score_pairs(pairs: list[tuple[int, int]], planted: dict[str, list]) -> dict[str, tuple[int, int]]:
    """The peer's recall: a planted (original, copy) pair counts when the peer paired the two rows."""
    found = set(pairs)
    return {
        kind: (sum((min(a, b), max(a, b)) in found for a, b in planted[key]), len(planted[key]))
        for kind, key in (("exact duplicates", "exact"), ("near duplicates", "near"))
    }


def _spread(values: list[float]) -> str:
    return f"median {statistics.median(values):.1f} s, min–max {min(values):.1f}–{max(values):.1f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3, help="alternating runs of posttrain and of the peer")
    parser.add_argument("--keep", type=Path, help="write the generated files here and keep them")
    parser.add_argument("--plain-peer", type=Path, help=argparse.SUPPRESS)  # the child that runs the peer
    args = parser.parse_args()
    if args.plain_peer:
        print(json.dumps(plain_dedup(args.plain_peer)))
        return
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="posttrain-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    path, eval_path = workdir / "train.jsonl", workdir / "eval.jsonl"
    t0 = time.perf_counter()
    planted = generate(path, eval_path, args.rows)
    size_mb = path.stat().st_size / 1e6
    print(f"generated {args.rows:,} rows, {size_mb:.0f} MB in {time.perf_counter() - t0:.0f} s")
    loads = [os.getloadavg()[0]]
    ours: dict[str, list[float]] = {"wall": [], "cpu": [], "peak": []}
    plain: dict[str, list[float]] = {"wall": [], "cpu": [], "peak": []}
    for run in range(max(1, args.runs)):  # alternate, so drifting load hits both alike
        for who in ("posttrain", "plain") if run % 2 == 0 else ("plain", "posttrain"):
            if who == "posttrain":
                report, wall, cpu, peak, code = run_check(path, eval_path)
                for key, value in (("wall", wall), ("cpu", cpu), ("peak", peak)):
                    ours[key].append(value)
            else:
                pairs, wall, cpu, peak = run_plain(path)
                for key, value in (("wall", wall), ("cpu", cpu), ("peak", peak)):
                    plain[key].append(value)
            loads.append(os.getloadavg()[0])
            print(f"  run {run + 1} {who:<9} wall {wall:5.1f} s, CPU {cpu:5.1f} s", flush=True)
    found, peer_found = score(report, planted), score_pairs(pairs, planted)
    flagged_dups = sum(len(f["rows"]) - 1 for f in report["warnings"] if f["check"] in ("duplicate", "near_duplicate"))
    planted_dups = len(planted["exact"]) + len(planted["near"])
    runs = len(ours["wall"])
    print(f"{runs} alternating runs each on {args.rows:,} rows (load average {min(loads):.1f}–{max(loads):.1f}):")
    for name, fig in (("posttrain data check", ours), ("plain datasketch", plain)):
        print(
            f"{name:21s} {_spread(fig['wall'])}, CPU {statistics.median(fig['cpu']):.1f} s, "
            f"peak RSS {max(fig['peak']):,.0f} MB"
        )
    speedup = statistics.median(plain["wall"]) / statistics.median(ours["wall"])
    cpu_ratio = statistics.median(plain["cpu"]) / statistics.median(ours["cpu"])
    print(
        f"speed-up posttrain vs plain datasketch: {speedup:.2f}x wall, {cpu_ratio:.2f}x CPU "
        "(posttrain also checks structure, exact duplicates and eval leaks)"
    )
    print(f"exit {code}; throughput {args.rows / statistics.median(ours['wall']):,.0f} rows/s (wall)")
    print("found of planted:")
    for name, (hit, total) in found.items():
        peer = peer_found.get(name)
        theirs = f"   plain {peer[0]:5d} / {peer[1]:5d} = {peer[0] / max(1, peer[1]):6.1%}" if peer else ""
        print(f"  {name:17s} posttrain {hit:5d} / {total:5d} = {hit / max(1, total):6.1%}{theirs}")
    leaks = [found[k] for k in ("exact eval leaks", "near eval leaks")]
    print(f"  eval leaks        posttrain {sum(h for h, _ in leaks)} / {sum(t for _, t in leaks)} = "
          f"{sum(h for h, _ in leaks) / max(1, sum(t for _, t in leaks)):.1%}")  # fmt: skip
    print(
        f"  redundant rows flagged: posttrain {flagged_dups}, plain datasketch pairs {len(pairs)}; "
        f"planted {planted_dups} (extra = false positives)"
    )
    every = ("exact duplicates", "exact eval leaks", "near eval leaks")
    found_ok = all(found[k][0] == found[k][1] for k in every)
    found_ok = found_ok and found["near duplicates"][0] >= 0.9 * found["near duplicates"][1]
    wall, cpu, peak_mb = (statistics.median(ours["wall"]), statistics.median(ours["cpu"]), max(ours["peak"]))
    print(f"machine: {os.cpu_count()} cores (wall includes waiting for a core)")
    cpu_ok = cpu <= 60 and peak_mb <= 2048 and found_ok
    ok = wall <= 60 and cpu_ok
    print("targets met" if ok else "targets met on CPU time, wall over 60 s" if cpu_ok else "TARGETS MISSED")
    if not args.keep:
        for p in (path, eval_path):
            p.unlink()
        workdir.rmdir()


if __name__ == "__main__":
    main()

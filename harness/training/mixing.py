"""Mixing several training sources by weight, and replaying general data against forgetting.

Pure functions over lists of rows; the seed makes every mix reproducible.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

BUILTIN_GENERAL = Path(__file__).parent / "replay" / "general.jsonl"


def weighted_counts(sizes: list[int], weights: list[float]) -> list[int]:
    """Rows drawn from each source: the total stays ``sum(sizes)``, shared in proportion to ``weights``.

    Rounding uses largest remainders so the counts add up exactly.

    >>> weighted_counts([100, 100], [1.0, 1.0])
    [100, 100]
    >>> weighted_counts([90, 10], [1.0, 1.0])    # 100 rows, half each: the small source is repeated
    [50, 50]
    >>> weighted_counts([30, 30, 30], [2.0, 1.0, 1.0])
    [45, 22, 23]
    """
    total = sum(sizes)
    weight_sum = sum(weights)
    exact = [total * w / weight_sum for w in weights]
    counts = [int(x) for x in exact]
    order = sorted(range(len(exact)), key=lambda i: (-(exact[i] - counts[i]), -i))
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


def draw(rows: list[dict[str, Any]], count: int, rng: random.Random) -> list[dict[str, Any]]:
    """``count`` rows: whole shuffled passes over ``rows``, then a random remainder.

    >>> len(draw([{"a": 1}, {"a": 2}], 5, random.Random(0)))
    5
    >>> sorted(r["a"] for r in draw([{"a": 1}, {"a": 2}], 2, random.Random(0)))
    [1, 2]
    """
    if not rows or count <= 0:
        return []
    out: list[dict[str, Any]] = []
    while len(out) + len(rows) <= count:
        out.extend(rng.sample(rows, len(rows)))
    out.extend(rng.sample(rows, count - len(out)))
    return out


def replay_count(train_rows: int, fraction: float) -> int:
    """Replay rows to add so they make up ``fraction`` of the final mix: n·f/(1−f), rounded.

    >>> replay_count(90, 0.1)    # 90 task rows + 10 replay rows = 10% replay
    10
    >>> replay_count(40, 0.0)
    0
    """
    if fraction <= 0:
        return 0
    return round(train_rows * fraction / (1 - fraction))


def mix(
    sources: list[list[dict[str, Any]]],
    weights: list[float],
    replay_rows: list[dict[str, Any]] | None = None,
    replay_fraction: float = 0.0,
    seed: int = 42,
) -> list[dict[str, Any]]:
    """Mix sources by weight, add replay rows to make up ``replay_fraction``, and shuffle.

    Each row gets a ``source`` tag (``source0``, ``source1``, ..., ``replay``) unless it has one.

    >>> a = [{"x": i} for i in range(8)]
    >>> b = [{"x": 100 + i} for i in range(2)]
    >>> rows = mix([a, b], [1.0, 1.0], replay_rows=[{"x": -1}], replay_fraction=0.2, seed=0)  # 10 + round(2.5)
    >>> len(rows), sum(r["source"] == "source1" for r in rows), sum(r["source"] == "replay" for r in rows)
    (12, 5, 2)
    """
    rng = random.Random(seed)
    counts = weighted_counts([len(s) for s in sources], weights)
    mixed: list[dict[str, Any]] = []
    for index, (rows, count) in enumerate(zip(sources, counts, strict=True)):
        mixed.extend({"source": f"source{index}", **row} for row in draw(rows, count, rng))
    if replay_rows and replay_fraction > 0:
        extra = draw(replay_rows, replay_count(len(mixed), replay_fraction), rng)
        mixed.extend({**row, "source": "replay"} for row in extra)
    rng.shuffle(mixed)
    return mixed

"""Weighted mixing of data sources with a seed, as open post-training mixes combine their sources.

``posttrain data mix A.jsonl:0.7 B.jsonl:0.3 --out mix.jsonl`` draws 70% of the rows from A and 30%
from B. Without ``--n`` the mix is as large as it can be without repeating a row: a source with
``len`` rows and weight ``w`` supports at most ``len / w`` rows in total, so n = min(len_i / w_i).
With a larger ``--n`` a short source is repeated (sampled with replacement) and the report says so.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from harness.datagen.resumable import write_jsonl_atomic
from posttrain.errors import BadInput


class SourceShare(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="The source file.")
    weight: float = Field(description="Its weight after normalising the weights to sum to 1.")
    available: int = Field(description="Rows in the source.")
    taken: int = Field(description="Rows drawn from it into the mix.")
    repeated: bool = Field(description="True when taken > available, so rows were drawn with replacement.")


class MixSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    out: str = Field(description="The mixed file written.")
    n: int = Field(description="Rows in the mix.")
    seed: int = Field(description="Seed of the draw and the shuffle.")
    format: str = Field(description="The rows' format, shared by every source.")
    sources: list[SourceShare] = Field(description="What each source contributed.")


def parse_source(spec: str) -> tuple[str, float]:
    """Split ``PATH:WEIGHT``; a bare path has weight 1.

    >>> parse_source("a.jsonl:0.7"), parse_source("b.jsonl")
    (('a.jsonl', 0.7), ('b.jsonl', 1.0))
    >>> parse_source("a.jsonl:-1")
    Traceback (most recent call last):
    posttrain.errors.BadInput: a.jsonl:-1: the weight must be a positive number, e.g. a.jsonl:0.7
    """
    path, sep, weight = spec.rpartition(":")
    if not sep or "/" in weight or not weight:
        return spec, 1.0
    try:
        value = float(weight)
    except ValueError:
        return spec, 1.0  # a colon inside the path, not a weight
    if not value > 0:
        raise BadInput(f"{spec}: the weight must be a positive number, e.g. {path}:0.7")
    return path, value


def allocate(n: int, weights: list[float]) -> list[int]:
    """Split ``n`` by ``weights`` into whole counts that sum to exactly ``n`` (largest remainder).

    >>> allocate(10, [0.7, 0.3]), allocate(10, [1, 1, 1])
    ([7, 3], [4, 3, 3])
    """
    total = sum(weights)
    shares = [n * w / total for w in weights]
    counts = [int(s) for s in shares]
    by_remainder = sorted(range(len(weights)), key=lambda i: (counts[i] - shares[i], i))
    for i in by_remainder[: n - sum(counts)]:
        counts[i] += 1
    return counts


def mix_rows(
    sources: list[list[dict[str, Any]]], weights: list[float], n: int | None, seed: int
) -> tuple[list[dict[str, Any]], list[int]]:
    """Draw ``n`` rows across ``sources`` by ``weights``, then shuffle; returns rows and per-source counts.

    >>> rows, taken = mix_rows([[{"a": i} for i in range(10)], [{"b": i} for i in range(10)]], [3, 1], None, 0)
    >>> len(rows), taken
    (13, [10, 3])
    """
    if n is None:
        total = sum(weights)
        n = int(min(len(rows) * total / w for rows, w in zip(sources, weights, strict=True)))
    counts = allocate(n, weights)
    rng = random.Random(seed)
    mixed: list[dict[str, Any]] = []
    for rows, count in zip(sources, counts, strict=True):
        if count <= len(rows):
            mixed.extend(rng.sample(rows, count))
        else:  # every row once, then the remainder drawn again without bias towards any row
            mixed.extend(rows * (count // len(rows)))
            mixed.extend(rng.sample(rows, count % len(rows)))
    rng.shuffle(mixed)
    return mixed, counts


def mix(specs: list[str], out: str | Path, *, n: int | None = None, seed: int = 0) -> MixSummary:
    """``posttrain data mix``: read each ``PATH:WEIGHT``, check the formats agree, write the mix."""
    from harness.data.formats import detect_format
    from harness.data.io import read_records

    if not specs:
        raise BadInput("give at least one source, e.g. posttrain data mix a.jsonl:0.7 b.jsonl:0.3 --out mix.jsonl")
    if n is not None and n < 1:
        raise BadInput(f"--n {n}: must be at least 1")
    parsed = [parse_source(spec) for spec in specs]
    out_path = Path(out)
    sources: list[list[dict[str, Any]]] = []
    formats: list[str] = []
    for path, _ in parsed:
        if Path(path).resolve() == out_path.resolve():
            raise BadInput(f"--out {out}: is also a source; write the mix to a new file")
        rows = read_records(path)
        if not rows:
            raise BadInput(f"{path}: no rows to mix")
        sources.append(rows)
        formats.append(detect_format(rows))
    if len(set(formats)) > 1:
        listing = ", ".join(f"{p} is {f}" for (p, _), f in zip(parsed, formats, strict=True))
        raise BadInput(f"the sources have different formats ({listing}); a trainer reads one format per file")
    weights = [w for _, w in parsed]
    rows, counts = mix_rows(sources, weights, n, seed)
    write_jsonl_atomic(out_path, rows)
    total = sum(weights)
    return MixSummary(
        out=str(out_path),
        n=len(rows),
        seed=seed,
        format=formats[0],
        sources=[
            SourceShare(path=p, weight=round(w / total, 6), available=len(s), taken=c, repeated=c > len(s))
            for (p, w), s, c in zip(parsed, sources, counts, strict=True)
        ],
    )

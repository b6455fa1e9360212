"""Per-variant facts beside the scores: output health, request cost, and the RAG diagnosis
(did retrieval find the answer's document, and was it used?). Pure functions over results rows.
"""

from __future__ import annotations

import statistics
from pathlib import PurePosixPath
from typing import Any

from harness.evaluation.health import output_health
from harness.report.data import CostRow, RagDiagnosis, TrainingRow, VariantRow
from harness.report.verdict import cost_rank

Rows = list[dict[str, Any]]


def with_row_facts(variant: VariantRow, rows: Rows) -> VariantRow:
    """``variant`` with its mean prompt tokens, median batch-1 latency and output health filled in."""
    tokens = [float(r["prompt_tokens"]) for r in rows if _number(r.get("prompt_tokens"))]
    bs1 = [float(r["latency_bs1_s"]) for r in rows if _number(r.get("latency_bs1_s"))]
    return variant.model_copy(
        update={
            "prompt_tokens": sum(tokens) / len(tokens) if tokens else None,
            "latency_bs1_s": statistics.median(bs1) if bs1 else None,
            "health": output_health(rows),
        }
    )


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def cost_rows(results: dict[tuple[str, str], Rows], training: list[TrainingRow]) -> list[CostRow]:
    """One row per variant: per-request cost over all its eval sets, and training cost for tuned ones.

    Training cost adds up every method of the plan (sft then dpo both paid for the adapter); peak
    memory is the largest, the adapter size the last method's (the one evaluated).
    """
    names = list(dict.fromkeys(v for _e, v in sorted(results, key=lambda k: cost_rank(k[1]))))
    rows = []
    for variant in names:
        all_rows = [r for (_e, v), rs in results.items() if v == variant for r in rs]
        tokens = [float(r["prompt_tokens"]) for r in all_rows if _number(r.get("prompt_tokens"))]
        bs1 = [float(r["latency_bs1_s"]) for r in all_rows if _number(r.get("latency_bs1_s"))]
        priced = [float(r["cost_usd"]) for r in all_rows if _number(r.get("cost_usd"))]
        row = CostRow(
            variant=variant,
            prompt_tokens=sum(tokens) / len(tokens) if tokens else None,
            latency_bs1_s=statistics.median(bs1) if bs1 else None,
            usd_per_1k_requests=1000 * sum(priced) / len(priced) if priced else None,
            tokens_estimated=any(r.get("tokens_estimated") is True for r in all_rows),
        )
        if variant.startswith("tuned") and training:
            walls = [t.wall_s for t in training if t.wall_s is not None]
            counts = [t.tokens for t in training if t.tokens is not None]
            peaks = [t.peak_memory_mb for t in training if t.peak_memory_mb is not None]
            row = row.model_copy(
                update={
                    "train_wall_s": sum(walls) if walls else None,
                    "train_tokens": sum(counts) if counts else None,
                    "peak_memory_mb": max(peaks) if peaks else None,
                    "adapter_size_bytes": training[-1].adapter_size_bytes,
                }
            )
        rows.append(row)
    return rows


def same_source(wanted: str, retrieved: str) -> bool:
    """A retrieved chunk's source names the row's document: equal paths, file names or stems.

    >>> same_source("docs/pricing.md", "pricing.md"), same_source("pricing", "kb/pricing.md")
    (True, True)
    >>> same_source("pricing.md", "refunds.md")
    False
    """
    a, b = PurePosixPath(wanted.strip().lower()), PurePosixPath(retrieved.strip().lower())
    return a == b or a.name == b.name or a.stem == b.stem


def _sources(row: dict[str, Any]) -> list[str]:
    given = row.get("context_sources")
    if isinstance(given, list) and given:
        return [str(s) for s in given]
    # results written before context_sources was recorded: chunk ids are "<source>#<heading/n>"
    return [str(c).split("#", 1)[0] for c in row.get("context_ids") or []]


def _wanted(row: dict[str, Any]) -> list[str]:
    source = row.get("source")
    if isinstance(source, list):
        return [str(s) for s in source if s]
    return [str(source)] if source not in (None, "") else []


def rag_diagnosis(eval_set: str, variant: str, rows: Rows, metric: str) -> RagDiagnosis | None:
    """Retrieval hit@k and the split of wrong answers into "not retrieved" / "retrieved but not used".

    Only rows that name a ``source`` count; None when no row does or nothing was retrieved.
    """
    named = [r for r in rows if _wanted(r)]
    if not named or not any(_sources(r) for r in named):
        return None
    values = [s for r in named if _number(s := (r.get("scores") or {}).get(metric))]
    graded = any(v not in (0, 1) for v in values)
    hits = misses = not_retrieved = retrieved_not_used = 0
    for row in named:
        found = any(same_source(w, s) for w in _wanted(row) for s in _sources(row))
        hits += found
        score = (row.get("scores") or {}).get(metric)
        if not isinstance(score, (int, float)) or isinstance(score, bool) or score >= (0.5 if graded else 1.0):
            continue
        misses += 1
        if found:
            retrieved_not_used += 1
        else:
            not_retrieved += 1
    return RagDiagnosis(
        eval_set=eval_set,
        variant=variant,
        k=max(len(_sources(r)) for r in named),
        n=len(named),
        hits=hits,
        misses=misses,
        not_retrieved=not_retrieved,
        retrieved_not_used=retrieved_not_used,
    )


def cost_text(cost: CostRow | None) -> str:
    r"""A variant's cost in a line.

    >>> print(cost_text(CostRow(variant="tuned", prompt_tokens=61.4, latency_bs1_s=0.42, train_wall_s=130,
    ...       train_tokens=245760, peak_memory_mb=1843.2, adapter_size_bytes=9437184)).replace("; ", "\n"))
    training 130 s, 245,760 tokens, peak memory 1843 MB, adapter 9.0 MiB
    61 prompt tokens per request
    0.42 s per request at batch size 1
    """
    if cost is None:
        return "not measured"
    parts = []
    if cost.train_wall_s is not None or cost.train_tokens is not None:
        train = [f"training {cost.train_wall_s:.0f} s" if cost.train_wall_s is not None else "training"]
        if cost.train_tokens is not None:
            train.append(f"{cost.train_tokens:,} tokens")
        if cost.peak_memory_mb is not None:
            train.append(f"peak memory {cost.peak_memory_mb:.0f} MB")
        if cost.adapter_size_bytes is not None:
            train.append(f"adapter {size_text(cost.adapter_size_bytes)}")
        parts.append(", ".join(train))
    elif cost.variant.startswith("tuned"):
        parts.append("training cost not recorded")
    else:
        parts.append("no training")
    if cost.prompt_tokens is not None:
        parts.append(f"{cost.prompt_tokens:.0f} prompt tokens per request")
    if cost.latency_bs1_s is not None:
        parts.append(f"{cost.latency_bs1_s:.2f} s per request at batch size 1")
    if cost.usd_per_1k_requests is not None:
        approx = "≈" if cost.tokens_estimated else ""
        parts.append(f"{approx}${cost.usd_per_1k_requests:.2f} per 1,000 requests")
    return "; ".join(parts)


def size_text(n: float | None) -> str:
    """Bytes in binary units.

    >>> size_text(9_437_184), size_text(512), size_text(None)
    ('9.0 MiB', '512 B', '–')
    """
    if n is None:
        return "–"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"  # pragma: no cover

"""How fast the RAG baseline indexes and answers queries on this machine.

Prints: the time to index ``--chunks`` chunks and the rate (target: 10,000 in ≤ 120 s, ≥ 83 chunks/s,
on the 2-core dev machine), the time of an
unchanged re-index (the fingerprint check only), and the median query latency over 200 queries
(the retriever's hybrid search: embedding, chromadb and BM25, fused, top 3; target ≤ 50 ms).

    .venv/bin/python bench/rag_speed.py [--chunks 10000] [--chars 700] [--queries 200] [--json]

The corpus is synthetic but shaped like real policy text: JSONL records of about ``--chars``
characters (one chunk each at the default chunk size of 800), built from varied sentences so
embeddings and the HNSW graph see realistic, non-identical inputs.

Synthetic text under-predicts real documentation (which has code, identifiers and longer token
counts per character): the indexing figure that counts is ``bench/rag_real_corpus.py`` on the
PostgreSQL manual; this script keeps the query latency and a quick synthetic cross-check.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

INDEX_TARGET_S = 120.0  # for 10,000 chunks: ≥ 10,000 / 120 = 83 chunks/s, whatever --chunks is
INDEX_TARGET_RATE = 10_000 / INDEX_TARGET_S
QUERY_TARGET_MS = 50.0

SUBJECTS = ["tent", "backpack", "jacket", "sleeping bag", "headlamp", "boot", "stove", "kayak", "rope", "map"]
TOPICS = ["return", "warranty", "shipping", "repair", "rental", "price match", "trade-in", "gift card", "pickup"]
TEMPLATES = [
    "The {s} {t} policy allows {n} days for customers in region {r}.",
    "A {t} request for a {s} costs ${n}.{c:02d} and is handled within {m} business days.",
    "Members of tier {r} receive {n} points for each {s} bought under the {t} programme.",
    "Store {r} keeps {s} stock for {t} orders for {m} days after purchase.",
    "Our {t} team answers questions about the {s} line within {m} hours of a request.",
]


def make_corpus(folder: Path, chunks: int, chars: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    with (folder / "corpus.jsonl").open("w") as handle:
        for i in range(chunks):
            sentences: list[str] = []
            while sum(len(s) + 1 for s in sentences) < chars:
                sentences.append(
                    rng.choice(TEMPLATES).format(
                        s=rng.choice(SUBJECTS),
                        t=rng.choice(TOPICS),
                        n=rng.randint(1, 999),
                        c=rng.randint(0, 99),
                        m=rng.randint(1, 30),
                        r=rng.randint(1, 400),
                    )
                )
            handle.write(json.dumps({"id": f"d{i}", "text": " ".join(sentences)[:chars]}) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--chars", type=int, default=700)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args()

    from rag_baseline.embeddings import embed, load_embedder
    from rag_baseline.index import build_index
    from rag_baseline.retrieve import Retriever

    with tempfile.TemporaryDirectory(prefix="rag-speed-") as tmp:
        docs, store = Path(tmp) / "docs", Path(tmp) / "store"
        docs.mkdir()
        make_corpus(docs, args.chunks, args.chars)
        started = time.perf_counter()
        load_embedder()
        embed(["warm-up"])
        load_s = time.perf_counter() - started

        info = build_index(docs, store, chunk_size=800, chunk_overlap=100)
        assert info.chunks == args.chunks, info.chunks
        again = build_index(docs, store, chunk_size=800, chunk_overlap=100)
        assert not again.rebuilt

        retriever = Retriever(store)
        rng = random.Random(1)
        questions = [
            f"How long does the {rng.choice(TOPICS)} of a {rng.choice(SUBJECTS)} take?" for _ in range(args.queries)
        ]
        retriever.search(questions[0], 3)  # first call opens the HNSW segment and builds the BM25 index
        latencies = []
        for question in questions:
            t0 = time.perf_counter()
            retriever.search(question, 3)
            latencies.append((time.perf_counter() - t0) * 1000)

    query_ms = statistics.median(latencies)
    figures = {
        "chunks": info.chunks,
        "embedder_load_s": round(load_s, 2),
        "index_s": round(info.seconds, 1),
        "index_chunks_per_s": round(info.chunks / info.seconds, 1),
        "index_target_chunks_per_s": round(INDEX_TARGET_RATE, 1),
        "index_ratio_to_target": round(INDEX_TARGET_RATE / (info.chunks / info.seconds), 2),
        "unchanged_reindex_s": round(again.seconds, 2),
        "query_median_ms": round(query_ms, 1),
        "query_p90_ms": round(sorted(latencies)[int(0.9 * len(latencies))], 1),
        "query_target_ms": QUERY_TARGET_MS,
        "query_ratio_to_target": round(query_ms / QUERY_TARGET_MS, 2),
        "cpu_threads": os.cpu_count(),
    }
    if args.json:
        print(json.dumps(figures))
        return 0
    print(
        f"index {info.chunks:,} chunks of ~{args.chars} chars: {info.seconds:.1f} s "
        f"({info.chunks / info.seconds:.0f} chunks/s; target ≥ {INDEX_TARGET_RATE:.0f} chunks/s, i.e. 10,000 "
        f"in ≤ {INDEX_TARGET_S:.0f} s; ratio {figures['index_ratio_to_target']:.2f})"
    )
    print(f"embedding model load (not in index time): {load_s:.1f} s")
    print(f"unchanged re-index (fingerprint check only): {again.seconds:.2f} s")
    print(
        f"query latency over {len(latencies)} queries, top-3: median {query_ms:.1f} ms, "
        f"p90 {figures['query_p90_ms']} ms "
        f"(target ≤ {QUERY_TARGET_MS:.0f} ms, ratio {query_ms / QUERY_TARGET_MS:.2f})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

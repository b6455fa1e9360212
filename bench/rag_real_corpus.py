"""The RAG baseline on a real documentation corpus: Debian's PostgreSQL 15 manual (HTML).

    apt-get install postgresql-doc-15      # the pages land in /usr/share/doc/postgresql-doc-15/html
    .venv/bin/python bench/rag_real_corpus.py [--runs 3] [--compare-chunks 2000] [--limit-pages N] [--json]

Prints, for ``posttrain``'s indexer end to end (read + convert HTML, chunk, embed, store):
pages, chunks, the duplicate-chunk share across pages (target < 1%), chunks/s and wall time (target
≤ 180 s for ~10k chunks: 13,941 chunks of the whole manual in 180 s is ≥ 77 chunks/s on the 2-core
dev machine); then
retrieval hit@3 of the page holding the answer on the 20 questions of ``bench/data/pg_questions.jsonl``
(pages sampled with a fixed seed, questions written without the page's title words, which this
script checks; target ≥ 90%).

Then the side by side: the same sampled chunks (every chunk of the question pages plus a seeded
sample of the others) indexed by a plain sentence-transformers + chromadb script (what a user would
write: ``model.encode(texts)`` with its defaults and ``collection.add`` in batches) and by posttrain's
:func:`rag_baseline.index.write_chunks`, alternating, ``--runs`` times each; medians, min–max,
chunks/s, the ratio, the load average, hit@3 of each on those chunks, and how close posttrain's (bf16
where the CPU has it) embeddings are to the plain fp32 ones (cosine, and top-3 agreement).

The bench runs with the allocator settings the CLI sets for itself (harness/allocator.py), for the plain
script too, so its side-by-side ratio is conservative (``POSTTRAIN_MALLOC=default`` runs without).

When the corpus is not installed the script says how to install it, prints "not run" and exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

CORPUS = Path("/usr/share/doc/postgresql-doc-15/html")
QUESTIONS = Path(__file__).resolve().parent / "data" / "pg_questions.jsonl"
TARGET_S, TARGET_CHUNKS = 180.0, 10_000
TARGET_RATE = TARGET_CHUNKS / TARGET_S  # 55.6 chunks/s
STOP_WORDS = {"the", "and", "for", "with", "from", "into", "its", "of", "to", "in", "on", "a", "an"}


def title_words(title: str) -> set[str]:
    """Content words of a page title, singular, without section numbers.

    >>> sorted(title_words("34.10. Functions Associated with the COPY Command"))
    ['associated', 'command', 'copy', 'function']
    """
    return {_stem(w) for w in re.findall(r"[a-z0-9]+", title.lower()) if len(w) >= 3 and not w.isdigit()} - STOP_WORDS


def _stem(word: str) -> str:
    return word[:-1] if word.endswith("s") and len(word) > 3 else word


def question_title_clashes(questions: list[dict[str, str]], corpus: Path) -> list[str]:
    """Questions that use a word of their page's title (each one a message)."""
    from rag_baseline.converters import html_to_markdown

    clashes = []
    for q in questions:
        _, title = html_to_markdown((corpus / q["page"]).read_bytes(), corpus / q["page"])
        used = title_words(title or "") & {_stem(w) for w in re.findall(r"[a-z0-9]+", q["question"].lower())}
        if used:
            clashes.append(f"{q['page']}: the question uses title words {sorted(used)}")
    return clashes


def duplicate_share(texts: list[str], headings: list[str]) -> float:
    """Share of chunks whose body (the text under the heading line) repeats an earlier chunk's.

    >>> duplicate_share(["A\\nsame", "B\\nsame", "C\\nother"], ["A", "B", "C"])
    0.3333333333333333
    """
    bodies = [t.split("\n", 1)[1] if h and "\n" in t else t for t, h in zip(texts, headings, strict=True)]
    counts = Counter(bodies)
    return sum(n - 1 for n in counts.values()) / max(1, len(bodies))


def subset(corpus: Path, questions: list[dict[str, str]], pages: int, target: Path) -> Path:
    """A copy of the question pages plus a seeded sample of the others, ``pages`` in all (a quick run)."""
    import shutil

    wanted = {q["page"] for q in questions}
    others = sorted(p.name for p in corpus.glob("*.htm*") if p.name not in wanted)
    chosen = sorted(wanted) + random.Random(7).sample(others, max(0, min(len(others), pages - len(wanted))))
    target.mkdir(parents=True)
    for name in chosen:  # copies, not links: links out of the folder are (rightly) not indexed
        shutil.copyfile(corpus / name, target / name)
    return target


def index_corpus(corpus: Path, store: Path) -> dict[str, Any]:
    from rag_baseline.index import build_index
    from rag_baseline.progress import IndexProgress
    from rag_baseline.store import get_collection, open_client

    progress = IndexProgress()
    info = build_index(corpus, store, chunk_size=800, chunk_overlap=100, progress=progress)
    collection = get_collection(open_client(store), info.collection)
    assert collection is not None, info.collection  # build_index just wrote it
    got = collection.get(include=["documents", "metadatas"])
    headings = [str((m or {}).get("heading", "")) for m in got["metadatas"]]
    return {
        "pages": info.documents,
        "chunks": info.chunks,
        "wall_s": info.seconds,
        "read_s": progress.seconds.get("reading", 0.0),
        "embed_store_s": info.seconds - progress.seconds.get("reading", 0.0),
        "chunks_per_s": info.chunks / info.seconds,
        "duplicate_share": duplicate_share(got["documents"], headings),
        "ids": got["ids"],
        "texts": got["documents"],
        "metadatas": got["metadatas"],
    }


def hit_at_3(store: Path, questions: list[dict[str, str]]) -> tuple[float, list[str]]:
    from rag_baseline.retrieve import Retriever

    all_hits = Retriever(store).search_many([q["question"] for q in questions], k=3)
    misses = [
        f"{q['page']}: got {[h.source for h in hits]}"
        for q, hits in zip(questions, all_hits, strict=True)
        if q["page"] not in {h.source for h in hits}
    ]
    return 1 - len(misses) / len(questions), misses


def pick_sample(sample: list[Any], questions: list[dict[str, str]], size: int) -> list[Any]:
    """Every chunk of the question pages (so hit@3 means something) plus a seeded sample of the rest."""
    pages = {q["page"] for q in questions}
    answer = [c for c in sample if str((c[2] or {}).get("source", "")) in pages]
    others = [c for c in sample if str((c[2] or {}).get("source", "")) not in pages]
    return answer + random.Random(19).sample(others, max(0, min(len(others), size - len(answer))))


def side_by_side(sample: list[Any], questions: list[dict[str, str]], runs: int) -> dict[str, Any]:
    """Plain script vs posttrain on the same chunks, alternating; each run into a fresh store."""
    import numpy as np
    from sentence_transformers import SentenceTransformer

    from rag_baseline.chunking import Chunk
    from rag_baseline.embeddings import embed, embedding_model_dir
    from rag_baseline.index import write_chunks
    from rag_baseline.retrieve import Retriever
    from rag_baseline.store import open_client

    plain_model = SentenceTransformer(str(embedding_model_dir()), device="cpu", local_files_only=True)
    plain_model.encode(["warm-up"])
    embed(["warm-up"])
    chunks = [Chunk(id=i, source=str((m or {}).get("source", i)), text=t) for i, t, m in sample]

    def plain(client: Any) -> Any:
        # The script a user would write: encode everything, then add in the largest batches chroma takes.
        collection = client.create_collection("plain", configuration={"hnsw": {"space": "cosine"}})
        vectors = plain_model.encode([c.text for c in chunks], normalize_embeddings=True)
        batch = client.get_max_batch_size()
        for b in range(0, len(chunks), batch):
            collection.add(
                ids=[c.id for c in chunks[b : b + batch]],
                documents=[c.text for c in chunks[b : b + batch]],
                metadatas=[{"source": c.source} for c in chunks[b : b + batch]],
                embeddings=vectors[b : b + batch],
            )
        return collection

    def ours(client: Any) -> Any:
        return write_chunks(client, "ours", chunks, {"bench": "1"})

    times: dict[str, list[float]] = {"plain": [], "posttrain": []}
    loads = [os.getloadavg()[0]]
    last: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="rag-side-") as tmp:
        for run in range(runs):
            order = [("plain", plain), ("posttrain", ours)]
            for name, fn in order if run % 2 == 0 else order[::-1]:
                client = open_client(Path(tmp) / f"{name}-{run}")
                started = time.perf_counter()
                last[name] = fn(client)
                times[name].append(time.perf_counter() - started)
                loads.append(os.getloadavg()[0])
                print(f"  run {run + 1} {name:<9} {times[name][-1]:6.1f} s", file=sys.stderr, flush=True)
        ids = [c.id for c in chunks]
        a = np.asarray(last["plain"].get(ids=ids, include=["embeddings"])["embeddings"])
        b = np.asarray(last["posttrain"].get(ids=ids, include=["embeddings"])["embeddings"])
        cosine = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
        asked = [q["question"] for q in questions]
        # The plain script's search is chromadb's cosine neighbours; posttrain's is its retriever's (hybrid).
        plain = last["plain"].query(
            query_embeddings=plain_model.encode(asked, normalize_embeddings=True), n_results=3, include=["metadatas"]
        )
        cosine_top = last["posttrain"].query(query_embeddings=embed(asked), n_results=3, include=[])["ids"]
        sources = {"plain": [[str((m or {}).get("source")) for m in metas] for metas in plain["metadatas"]]}
        found = Retriever(Path(tmp) / f"posttrain-{runs - 1}", "ours").search_many(asked, k=3)
        sources["posttrain"] = [[h.source for h in hits] for hits in found]
    hits = {
        name: statistics.mean(q["page"] in set(pages) for q, pages in zip(questions, sources[name], strict=True))
        for name in sources
    }
    # How close the bf16 embeddings come to fp32: the top 3 by cosine alone, posttrain's vectors vs plain's.
    pairs = zip(plain["ids"], cosine_top, strict=True)
    agree = statistics.mean(len(set(x) & set(y)) / 3 for x, y in pairs)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "chunks": len(chunks),
        "runs": runs,
        "plain_s": times["plain"],
        "posttrain_s": times["posttrain"],
        "plain_median_s": med["plain"],
        "posttrain_median_s": med["posttrain"],
        "speedup": med["plain"] / med["posttrain"],
        "load_min": min(loads),
        "load_max": max(loads),
        "cosine_min": float(cosine.min()),
        "cosine_mean": float(cosine.mean()),
        "top3_agreement": agree,
        "plain_hit_at_3": hits["plain"],
        "posttrain_hit_at_3": hits["posttrain"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--questions", type=Path, default=QUESTIONS)
    parser.add_argument("--runs", type=int, default=3, help="side-by-side runs of each indexer")
    parser.add_argument("--compare-chunks", type=int, default=2000, help="chunks in the side-by-side sample")
    parser.add_argument("--no-compare", action="store_true", help="skip the side-by-side")
    parser.add_argument(
        "--limit-pages",
        "--pages",
        dest="pages",
        type=int,
        default=0,
        help="index only the question pages plus a seeded sample up to N pages (a quick run)",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from harness.allocator import reexec_tuned

    reexec_tuned(always=True)  # the allocator `posttrain rag index` runs with, for both indexers alike
    if not args.corpus.is_dir():
        print(
            f"not run: no corpus at {args.corpus}; install it with `apt-get install postgresql-doc-15` "
            "or pass --corpus DIR"
        )
        return 0
    questions = [json.loads(line) for line in args.questions.read_text().splitlines() if line.strip()]
    clashes = question_title_clashes(questions, args.corpus)

    from rag_baseline.embeddings import embed, load_embedder

    started = time.perf_counter()
    load_embedder()
    embed(["warm-up"])
    load_s = time.perf_counter() - started
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="rag-real-") as tmp:
        store = Path(tmp) / "store"
        corpus = subset(args.corpus, questions, args.pages, Path(tmp) / "pages") if args.pages else args.corpus
        figures = index_corpus(corpus, store)
        hit3, misses = hit_at_3(store, questions)
    load_after = os.getloadavg()[0]
    sample = list(zip(figures.pop("ids"), figures.pop("texts"), figures.pop("metadatas"), strict=True))
    figures.update(
        embedder_load_s=load_s,
        hit_at_3=hit3,
        misses=misses,
        title_clashes=clashes,
        questions=len(questions),
        projected_10k_s=TARGET_CHUNKS / figures["chunks_per_s"],
        load_during_index=[load_before, load_after],
        cpu_threads=os.cpu_count(),
    )
    if not args.no_compare and args.runs > 0:
        picked = pick_sample(sample, questions, args.compare_chunks)
        figures["side_by_side"] = side_by_side(picked, questions, args.runs)
    if args.json:
        print(json.dumps(figures))
        return 0
    _print(figures)
    return 0


def _print(f: dict[str, Any]) -> None:
    dup = f["duplicate_share"]
    print(f"corpus: {f['pages']:,} pages → {f['chunks']:,} chunks; duplicate chunks {dup:.2%} (target < 1%)")
    print(
        f"real corpus index: {f['chunks']:,} chunks in {f['wall_s']:.1f} s ({f['chunks_per_s']:.1f} chunks/s; "
        f"reading {f['read_s']:.1f} s, embedding + store {f['embed_store_s']:.1f} s); "
        f"10,000 chunks at this rate: {f['projected_10k_s']:.0f} s (target ≤ {TARGET_S:.0f} s)"
    )
    print(f"embedding model load (not in index time): {f['embedder_load_s']:.1f} s")
    print(f"load average before/after indexing: {f['load_during_index'][0]:.1f} / {f['load_during_index'][1]:.1f}")
    print(f"retrieval hit@3 (whole corpus): {f['hit_at_3']:.0%} of {f['questions']} questions (target ≥ 90%)")
    for miss in f["misses"]:
        print(f"  miss {miss}")
    for clash in f["title_clashes"]:
        print(f"  warning: {clash}")
    s = f.get("side_by_side")
    if s:
        print(
            f"side by side on {s['chunks']:,} chunks, {s['runs']} alternating runs each "
            f"(load average {s['load_min']:.1f}–{s['load_max']:.1f}):"
        )
        for name in ("plain", "posttrain"):
            runs = s[f"{name}_s"]
            rate = s["chunks"] / statistics.median(runs)
            print(
                f"  {name:<9} median {statistics.median(runs):.1f} s, min–max {min(runs):.1f}–{max(runs):.1f} s "
                f"({rate:.1f} chunks/s)"
            )
        print(f"index speed-up posttrain vs plain sentence-transformers + chromadb: {s['speedup']:.2f}x")
        print(
            f"retrieval on the same chunks: posttrain hit@3 {s['posttrain_hit_at_3']:.0%} (hybrid), "
            f"plain fp32 hit@3 {s['plain_hit_at_3']:.0%} (cosine); posttrain's embeddings vs fp32: cosine-only "
            f"top-3 agreement {s['top3_agreement']:.0%}, cosine min {s['cosine_min']:.4f}, mean {s['cosine_mean']:.4f}"
        )


if __name__ == "__main__":
    raise SystemExit(main())

"""Top-k retrieval from an index built by :func:`rag_baseline.index.build_index`: hybrid search.

Each question is searched twice — by embedding (chromadb's cosine neighbours) and by keywords (BM25,
:mod:`rag_baseline.lexical`) — and the two rankings are merged by reciprocal rank fusion: a chunk
scores ``1 / (60 + rank)`` in each list it is in (Cormack et al., 2009), so a chunk both searches rank
high comes first, and one that only the keywords find (an option name, an error code) still gets in.
On the PostgreSQL manual (13,941 chunks, ``bench/rag_real_corpus.py``'s 20 questions) the page holding
the answer is in the top 3 for 14 of 20 by embedding alone (in bf16 and in fp32 alike) and for 18 of 20
fused (17 when the embedding's candidates are the exact neighbours rather than chromadb's HNSW ones).
A hit's ``score`` stays the cosine similarity of chunk and question.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from posttrain.errors import BadInput
from rag_baseline.embeddings import embed
from rag_baseline.index import DEFAULT_COLLECTION
from rag_baseline.store import check_collection_name, get_collection, open_client

RRF_K = 60  # reciprocal rank fusion's constant (Cormack, Clarke and Büttcher, SIGIR 2009)
CANDIDATES = 50  # chunks each search contributes to the fusion
SEARCH = f"hybrid: cosine + BM25, reciprocal rank fusion k={RRF_K}, {CANDIDATES} candidates each"


class Hit(BaseModel):
    """One retrieved chunk. ``score`` is the cosine similarity to the query (1 is identical); hits come in
    the hybrid search's order, which a keyword match can put above a higher cosine."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    source: str
    text: str
    score: float
    heading: str = ""
    page: int | None = None


class Retriever:
    """Searches one collection; open it once and call :meth:`search` per question.

    ``Retriever(store_dir, "knowledge").search("How long is the return window?", k=3)``
    """

    def __init__(self, store_dir: str | Path, collection: str = DEFAULT_COLLECTION, chroma_url: str | None = None):
        self.store_dir = Path(store_dir)
        self.collection_name = check_collection_name(collection)
        where = chroma_url or str(self.store_dir)
        if not chroma_url and not self.store_dir.is_dir():
            raise BadInput(f"--store {where}: no index here; build one with `posttrain rag index DOCS --store {where}`")
        client = open_client(self.store_dir, chroma_url)
        collection_obj = get_collection(client, collection)
        if collection_obj is None:
            raise BadInput(
                f"--store {where}: no collection {collection!r}; build it with `posttrain rag index DOCS "
                f"--store {where} --collection {collection}`"
            )
        self._collection: Any = collection_obj
        self._lexical: tuple[Any, list[str]] | None = None  # (BM25 index, chunk ids), built on first search

    @property
    def fingerprint(self) -> str:
        """The index's fingerprint (documents + chunking + embedding model): a cache key for results."""
        from rag_baseline.index import FINGERPRINT_KEY

        return str((self._collection.metadata or {}).get(FINGERPRINT_KEY, "unknown"))

    @property
    def method(self) -> str:
        """How it searches (part of the eval cache key: a change of method is a change of results)."""
        return SEARCH

    def __len__(self) -> int:
        return int(self._collection.count())

    def search(self, query: str, k: int = 3) -> list[Hit]:
        """The ``k`` best chunks for ``query`` by embedding and keywords together, best first."""
        return self.search_many([query], k)[0]

    def search_many(self, queries: list[str], k: int = 3) -> list[list[Hit]]:
        """:meth:`search` for many queries at once (one embedding batch, one store call)."""
        if k < 1:
            raise BadInput(f"-k {k}: retrieve at least one chunk")
        if not queries:
            return []
        size = len(self)
        n = min(k, size)
        if n == 0:
            return [[] for _ in queries]
        import numpy as np

        vectors = embed(queries)
        wide = min(size, max(CANDIDATES, n))
        dense = self._collection.query(query_embeddings=vectors, n_results=wide, include=[])["ids"]
        lexical, ids = self._keyword_index()
        chosen = [fuse(d, [ids[i] for i in lexical.top(q, wide)], n) for d, q in zip(dense, queries, strict=True)]
        wanted = sorted({i for row in chosen for i in row})
        got = self._collection.get(ids=wanted, include=["documents", "metadatas", "embeddings"])
        found = {
            i: (text, meta, np.asarray(vector, dtype=np.float32))
            for i, text, meta, vector in zip(
                got["ids"], got["documents"], got["metadatas"], got["embeddings"], strict=True
            )
        }
        return [
            [_hit(i, found[i][0], found[i][1], float(found[i][2] @ query)) for i in row]
            for row, query in zip(chosen, vectors, strict=True)
        ]

    def _keyword_index(self) -> tuple[Any, list[str]]:
        """BM25 over the collection's stored chunk texts (built once per retriever)."""
        if self._lexical is None:
            from rag_baseline.lexical import Bm25

            every = self._collection.get(include=["documents"])
            self._lexical = Bm25([t or "" for t in every["documents"]]), list(every["ids"])
        return self._lexical


def fuse(dense: list[str], keyword: list[str], n: int) -> list[str]:
    """The ``n`` best ids by reciprocal rank fusion of two rankings (ties: the embedding's order first).

    >>> fuse(["a", "b", "c"], ["c", "d"], 2)  # c is in both lists: it beats a, found by one search only
    ['c', 'a']
    """
    score: dict[str, float] = {}
    for ranking in (dense, keyword):
        for rank, chunk_id in enumerate(ranking, start=1):
            score[chunk_id] = score.get(chunk_id, 0.0) + 1.0 / (RRF_K + rank)
    order = {chunk_id: i for i, chunk_id in enumerate([*dense, *keyword])}
    return sorted(score, key=lambda c: (-score[c], order[c]))[:n]


def _hit(chunk_id: str, text: str | None, meta: Any, cosine: float) -> Hit:
    meta = meta or {}
    page = meta.get("page")
    return Hit(
        id=chunk_id,
        source=str(meta.get("source", chunk_id)),
        text=text or "",
        score=round(cosine, 4),  # stored vectors and query vectors are unit length
        heading=str(meta.get("heading", "")),
        page=page if isinstance(page, int) else None,
    )

"""Top-k retrieval from an index built by :func:`rag_baseline.index.build_index`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from posttrain.errors import BadInput
from rag_baseline.embeddings import embed
from rag_baseline.index import DEFAULT_COLLECTION
from rag_baseline.store import check_collection_name, get_collection, open_client


class Hit(BaseModel):
    """One retrieved chunk. ``score`` is the cosine similarity to the query (1 is identical)."""

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

    @property
    def fingerprint(self) -> str:
        """The index's fingerprint (documents + chunking + embedding model): a cache key for results."""
        from rag_baseline.index import FINGERPRINT_KEY

        return str((self._collection.metadata or {}).get(FINGERPRINT_KEY, "unknown"))

    def __len__(self) -> int:
        return int(self._collection.count())

    def search(self, query: str, k: int = 3) -> list[Hit]:
        """The ``k`` chunks closest to ``query``, best first."""
        return self.search_many([query], k)[0]

    def search_many(self, queries: list[str], k: int = 3) -> list[list[Hit]]:
        """:meth:`search` for many queries at once (one embedding batch, one store call)."""
        if k < 1:
            raise BadInput(f"-k {k}: retrieve at least one chunk")
        if not queries:
            return []
        n = min(k, len(self))
        if n == 0:
            return [[] for _ in queries]
        result = self._collection.query(
            query_embeddings=embed(queries), n_results=n, include=["documents", "metadatas", "distances"]
        )
        hits = []
        for ids, texts, metas, distances in zip(
            result["ids"], result["documents"], result["metadatas"], result["distances"], strict=True
        ):
            hits.append([_hit(i, t, m, d) for i, t, m, d in zip(ids, texts, metas, distances, strict=True)])
        return hits


def _hit(chunk_id: str, text: str | None, meta: Any, distance: float) -> Hit:
    meta = meta or {}
    page = meta.get("page")
    return Hit(
        id=chunk_id,
        source=str(meta.get("source", chunk_id)),
        text=text or "",
        score=round(1.0 - distance, 4),  # chromadb's cosine distance is 1 - cosine similarity
        heading=str(meta.get("heading", "")),
        page=page if isinstance(page, int) else None,
    )

"""Build (or reuse) a chromadb collection of a knowledge folder's chunks.

An index is rebuilt only when its fingerprint changes: the sha256 of the documents' names and bytes,
the chunk settings, the chunker version and the embedding model. The fingerprint lives in the
collection's metadata (so it works for a Chroma server too) and in ``STORE/manifest.json`` for people
and for the stage runner. A rebuild fills a staging collection first and swaps it in at the end, so an
interrupted rebuild leaves the previous index intact.

Speed (``bench/rag_real_corpus.py``): all chunks are embedded in one length-sorted pass (batches of
similar length pad little), then written to chromadb in batches of its maximum size. Progress —
documents read, chunks embedded, chunks/s — goes to stderr (:mod:`rag_baseline.progress`).
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from posttrain.errors import BadInput
from rag_baseline.chunking import CHUNKER_VERSION, Chunk, chunk_document
from rag_baseline.documents import Document, files_digest, find_document_files, load_documents
from rag_baseline.embeddings import embed, embedding_model_id
from rag_baseline.progress import IndexProgress
from rag_baseline.store import check_collection_name, get_collection, open_client

DEFAULT_COLLECTION = "knowledge"
MANIFEST = "manifest.json"
FINGERPRINT_KEY = "posttrain_fingerprint"


class IndexInfo(BaseModel):
    """What ``build_index`` did; printed by ``posttrain rag index --json``."""

    model_config = ConfigDict(extra="forbid")

    collection: str = Field(description="The chromadb collection name.")
    store: str = Field(description="The store folder, or the Chroma server URL.")
    documents: int = Field(description="Documents read (a JSONL line counts as one).")
    chunks: int = Field(description="Chunks in the collection.")
    sources: list[str] = Field(description="Source ids of the indexed documents.")
    skipped: list[str] = Field(default_factory=list, description="Files left out, each with the reason.")
    chunk_size: int = Field(description="Characters per chunk body.")
    chunk_overlap: int = Field(description="Characters shared by neighbouring chunks.")
    embedding_model: str = Field(description="The embedding weights used.")
    fingerprint: str = Field(description="sha256 of documents + chunk settings + embedding model.")
    rebuilt: bool = Field(description="False when the stored index was already up to date.")
    chunks_per_s: float | None = Field(
        default=None, description="End-to-end rate of the last rebuild here (the dry-run estimate uses it)."
    )
    seconds: float = Field(description="Wall time of this call.")


def index_fingerprint(docs_digest: str, chunk_size: int, chunk_overlap: int, model_id: str) -> str:
    """The hash that decides whether a stored index is still valid.

    >>> a = index_fingerprint("d", 800, 100, "m")
    >>> a == index_fingerprint("d", 800, 100, "m"), a == index_fingerprint("d", 400, 100, "m")
    (True, False)
    """
    key = json.dumps([docs_digest, chunk_size, chunk_overlap, model_id, CHUNKER_VERSION])
    return hashlib.sha256(key.encode()).hexdigest()


def build_index(
    docs: Path,
    store_dir: Path,
    chunk_size: int = 800,
    chunk_overlap: int = 100,
    collection: str = DEFAULT_COLLECTION,
    chroma_url: str | None = None,
    progress: IndexProgress | None = None,
) -> IndexInfo:
    """Index the documents under ``docs`` into ``collection``; reuse it when nothing changed.

    ``progress`` reports to stderr by default (a bar on a terminal, a line every 10 s when piped);
    pass :meth:`IndexProgress.quiet` for silence.
    """
    started = time.perf_counter()
    progress = progress or IndexProgress()
    docs, store_dir = Path(docs), Path(store_dir)
    check_collection_name(collection)
    if chunk_size < 50:
        raise BadInput(f"--chunk-size {chunk_size}: use at least 50 characters")
    if not 0 <= chunk_overlap < chunk_size:
        raise BadInput(f"--chunk-overlap {chunk_overlap}: must be at least 0 and below the chunk size {chunk_size}")
    skipped: list[str] = []

    def skip(message: str) -> None:
        skipped.append(message)
        progress.note(message)

    files = find_document_files(docs, on_skip=skip)
    model_id = embedding_model_id()
    fingerprint = index_fingerprint(files_digest(files, docs), chunk_size, chunk_overlap, model_id)
    unchanged = _unchanged_index(store_dir, collection, chroma_url, fingerprint)
    if unchanged is not None:  # same bytes, settings and model: nothing to read again
        return unchanged.model_copy(update={"skipped": skipped, "seconds": time.perf_counter() - started})
    # Documents are read and chunked (and every bad one reported) before the store is touched.
    chunks: list[Chunk] = []

    def chunk_file(file: Path, read: list[Document]) -> None:
        new = [chunk for doc in read for chunk in chunk_document(doc, chunk_size, chunk_overlap)]
        chunks.extend(new)
        progress.advance(1, chunks=len(new))

    progress.start("reading", len(files))
    try:
        documents = load_documents(docs, files=files, on_file=chunk_file)
    finally:
        progress.finish()
    client = open_client(store_dir, chroma_url)
    existing = get_collection(client, collection)
    info = dict(
        collection=collection,
        store=chroma_url or str(store_dir),
        documents=len(documents),
        sources=[doc.source for doc in documents],
        skipped=skipped,
        chunk_size=chunk_size,
        chunk_overlap=chunk_overlap,
        embedding_model=model_id,
        fingerprint=fingerprint,
    )
    if existing is not None and (existing.metadata or {}).get(FINGERPRINT_KEY) == fingerprint:
        result = IndexInfo(**info, chunks=existing.count(), rebuilt=False, seconds=time.perf_counter() - started)
        _write_manifest(store_dir, result, chroma_url)
        return result

    staging_name = f"{collection}-staging"
    if get_collection(client, staging_name) is not None:  # left by an interrupted rebuild
        client.delete_collection(staging_name)
    staging = write_chunks(
        client, staging_name, chunks, {FINGERPRINT_KEY: fingerprint, "embedding_model": model_id}, progress
    )
    if existing is not None:
        client.delete_collection(collection)
    staging.modify(name=collection)
    seconds = time.perf_counter() - started
    result = IndexInfo(**info, chunks=len(chunks), rebuilt=True, seconds=seconds, chunks_per_s=len(chunks) / seconds)
    _write_manifest(store_dir, result, chroma_url)
    return result


def write_chunks(
    client: Any, name: str, chunks: list[Chunk], metadata: dict[str, str], progress: IndexProgress | None = None
) -> Any:
    """Embed ``chunks`` and store them in a new collection ``name`` (cosine space); return it."""
    progress = progress or IndexProgress.quiet()
    target = client.create_collection(
        name, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}, metadata=metadata
    )
    progress.start("embedding", len(chunks))
    try:
        vectors = embed([c.text for c in chunks], on_progress=progress.advance)
    finally:
        progress.finish()
    # chromadb's largest accepted batch (5,461 for the embedded store): fewer, larger HNSW/sqlite writes.
    batch = client.get_max_batch_size()
    for begin in range(0, len(chunks), batch):
        part = chunks[begin : begin + batch]
        target.add(
            ids=[c.id for c in part],
            documents=[c.text for c in part],
            metadatas=[_metadata(c) for c in part],  # type: ignore[misc]
            embeddings=vectors[begin : begin + batch],
        )
    return target


def _unchanged_index(store_dir: Path, collection: str, chroma_url: str | None, fingerprint: str) -> IndexInfo | None:
    """The stored index's description when its fingerprint matches, without reading any document."""
    if not chroma_url and not (store_dir / "chroma.sqlite3").is_file():
        return None  # no store yet: never create one before the documents have been read
    path = store_dir / MANIFEST
    try:
        entry = json.loads(path.read_text()).get(collection) if path.is_file() else None
        if not isinstance(entry, dict) or entry.get("fingerprint") != fingerprint:
            return None
        existing = get_collection(open_client(store_dir, chroma_url), collection)
        if existing is None or (existing.metadata or {}).get(FINGERPRINT_KEY) != fingerprint:
            return None
        return IndexInfo(**{**entry, "chunks": existing.count(), "rebuilt": False, "seconds": 0.0})
    except (ValueError, TypeError):  # a damaged or older manifest: rebuild the description by reading
        return None


def _metadata(chunk: Chunk) -> dict[str, str | int]:
    """What chromadb stores beside a chunk (its values may not be None)."""
    meta: dict[str, str | int] = {"source": chunk.source}
    if chunk.heading:
        meta["heading"] = chunk.heading
    if chunk.page is not None:
        meta["page"] = chunk.page
    return meta


def _write_manifest(store_dir: Path, info: IndexInfo, chroma_url: str | None) -> None:
    if chroma_url and not store_dir.is_dir():
        return  # a server-only index has no local folder to describe
    store_dir.mkdir(parents=True, exist_ok=True)
    path = store_dir / MANIFEST
    try:
        manifest = json.loads(path.read_text()) if path.is_file() else {}
    except ValueError:  # a damaged manifest is only a description; the collection metadata decides
        manifest = {}
    manifest[info.collection] = info.model_dump(exclude={"seconds", "rebuilt"})
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    tmp.replace(path)

"""Build (or reuse) a chromadb collection of a knowledge folder's chunks.

An index is rebuilt only when its fingerprint changes: the sha256 of the documents' names and bytes,
the chunk settings, the chunker version and the embedding model. The fingerprint lives in the
collection's metadata (so it works for a Chroma server too) and in ``STORE/manifest.json`` for people
and for the stage runner. A rebuild fills a staging collection first and swaps it in at the end, so an
interrupted rebuild leaves the previous index intact.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from posttrain.errors import BadInput
from rag_baseline.chunking import CHUNKER_VERSION, chunk_documents
from rag_baseline.documents import files_digest, find_document_files, load_documents
from rag_baseline.embeddings import embed, embedding_model_id
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
    chunk_size: int = Field(description="Characters per chunk body.")
    chunk_overlap: int = Field(description="Characters shared by neighbouring chunks.")
    embedding_model: str = Field(description="The embedding weights used.")
    fingerprint: str = Field(description="sha256 of documents + chunk settings + embedding model.")
    rebuilt: bool = Field(description="False when the stored index was already up to date.")
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
) -> IndexInfo:
    """Index the documents under ``docs`` into ``collection``; reuse it when nothing changed."""
    started = time.perf_counter()
    docs, store_dir = Path(docs), Path(store_dir)
    check_collection_name(collection)
    if chunk_size < 50:
        raise BadInput(f"--chunk-size {chunk_size}: use at least 50 characters")
    if not 0 <= chunk_overlap < chunk_size:
        raise BadInput(f"--chunk-overlap {chunk_overlap}: must be at least 0 and below the chunk size {chunk_size}")
    files = find_document_files(docs)
    model_id = embedding_model_id()
    fingerprint = index_fingerprint(files_digest(files, docs), chunk_size, chunk_overlap, model_id)
    # Documents are read (and every bad one reported) before the store is touched.
    documents = load_documents(docs)
    client = open_client(store_dir, chroma_url)
    existing = get_collection(client, collection)
    info = dict(
        collection=collection,
        store=chroma_url or str(store_dir),
        documents=len(documents),
        sources=[doc.source for doc in documents],
        chunk_size=chunk_size,
        chunk_overlap=chunk_overlap,
        embedding_model=model_id,
        fingerprint=fingerprint,
    )
    if existing is not None and (existing.metadata or {}).get(FINGERPRINT_KEY) == fingerprint:
        result = IndexInfo(**info, chunks=existing.count(), rebuilt=False, seconds=time.perf_counter() - started)
        _write_manifest(store_dir, result, chroma_url)
        return result

    chunks = chunk_documents(documents, chunk_size, chunk_overlap)
    staging_name = f"{collection}-staging"
    if get_collection(client, staging_name) is not None:  # left by an interrupted rebuild
        client.delete_collection(staging_name)
    staging = client.create_collection(
        staging_name,
        embedding_function=None,
        configuration={"hnsw": {"space": "cosine"}},
        metadata={FINGERPRINT_KEY: fingerprint, "embedding_model": model_id},
    )
    batch = min(client.get_max_batch_size(), 1024)  # bounded memory per step; chromadb's cap is ~5,000
    for begin in range(0, len(chunks), batch):
        part = chunks[begin : begin + batch]
        staging.add(
            ids=[c.id for c in part],
            documents=[c.text for c in part],
            metadatas=[{"source": c.source} for c in part],
            embeddings=embed([c.text for c in part]),
        )
    if existing is not None:
        client.delete_collection(collection)
    staging.modify(name=collection)
    result = IndexInfo(**info, chunks=len(chunks), rebuilt=True, seconds=time.perf_counter() - started)
    _write_manifest(store_dir, result, chroma_url)
    return result


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

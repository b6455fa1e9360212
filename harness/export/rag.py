"""The retrieval half of a ``tuned_rag`` export: the index, its settings and the prompt layout.

The index is built (or found up to date) exactly as the run's stages build it, copied into the
export (a local chromadb store; a Chroma server's index stays on the server), and the proof then
retrieves from the copy, so the shipped index is the one that is checked.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness.export.source import RunSource

COLLECTION = "knowledge"  # rag_baseline.index.DEFAULT_COLLECTION, the collection the runner indexes into


@dataclass(frozen=True)
class RagShipment:
    index: str  # the copy inside the export, or the Chroma server URL
    built_from: str  # the documents folder
    collection: str
    top_k: int
    chunk_size: int
    chunk_overlap: int
    embedding_model: str
    fingerprint: str
    chunks: int
    instruction: str  # the sentence put between the context and the question

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def runner_store(source: RunSource) -> Path:
    """Where ``posttrain run`` keeps the experiment's index (harness.runner.stages._retriever)."""
    return source.exp_dir / ".posttrain" / "rag"


def ship_index(source: RunSource, out_dir: Path) -> tuple[RagShipment, Any, str]:
    """Build or reuse the run's index, copy it to ``out_dir``; returns (settings, retriever on the copy, id)."""
    from rag_baseline.index import build_index
    from rag_baseline.prompt import CONTEXT_INSTRUCTION
    from rag_baseline.retrieve import Retriever

    rag = source.config.baselines.rag
    knowledge = source.data_path(str(source.config.data.knowledge))
    store = runner_store(source)
    info = build_index(knowledge, store, rag.chunk_size, rag.chunk_overlap, chroma_url=rag.chroma_url)
    if rag.chroma_url:
        where, retriever = rag.chroma_url, Retriever(store, COLLECTION, chroma_url=rag.chroma_url)
    else:
        shutil.copytree(store, out_dir)
        where, retriever = str(out_dir), Retriever(out_dir, COLLECTION)
    shipment = RagShipment(
        index=where,
        built_from=str(knowledge),
        collection=COLLECTION,
        top_k=rag.top_k,
        chunk_size=info.chunk_size,
        chunk_overlap=info.chunk_overlap,
        embedding_model=info.embedding_model,
        fingerprint=info.fingerprint,
        chunks=info.chunks,
        instruction=CONTEXT_INSTRUCTION,
    )
    (out_dir.parent / "settings.json").write_text(json.dumps(shipment.to_dict(), indent=2) + "\n", encoding="utf-8")
    return shipment, retriever, f"docs:{info.fingerprint}"

"""How long indexing a knowledge folder will take, for ``posttrain run --dry-run``; loads no model.

Chunks are estimated by reading and chunking a seeded sample of up to 20 files for real (HTML pages
convert to far fewer characters than their bytes) and scaling by bytes. The rate is the one the
last rebuild of this store measured on this machine (``manifest.json``), else an assumed rate
measured on the 2-core dev machine with ``bench/rag_real_corpus.py``.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from rag_baseline.chunking import chunk_documents
from rag_baseline.documents import files_digest, find_document_files, load_documents

# End-to-end chunks/s (read, convert, chunk, embed, store) on the idle 2-core dev machine for the
# PostgreSQL manual's ~170-token chunks: bf16 where the CPU has it natively (AVX512-BF16/AMX), else
# fp32, about 2.4× slower. The rate scales with ``machine_factor`` (this machine's measured matmul
# rate over the dev machine's 216 GFLOP/s), so a busy or slower machine is not promised dev speed.
ASSUMED_CHUNKS_PER_S = {"bf16": 60.0, "fp32": 25.0}
DEV_MACHINE_FP32_FLOPS = 216e9
SAMPLE_FILES = 20
MIN_MEASURED_CHUNKS = 500


class IndexEstimate(BaseModel):
    """What indexing ``files`` will cost; ``seconds`` is 0 when the stored index is up to date."""

    model_config = ConfigDict(extra="forbid")

    files: int
    chunks: int
    seconds: float
    rate: float
    rate_source: str
    up_to_date: bool


def estimate_index(
    docs: Path,
    store_dir: Path,
    chunk_size: int,
    chunk_overlap: int,
    collection: str = "knowledge",
    bf16: bool = False,
    machine_factor: float = 1.0,
) -> IndexEstimate:
    """Estimate the chunk count and the time to (re)build the index of ``docs`` in ``store_dir``."""
    from rag_baseline.embeddings import embedding_model_id
    from rag_baseline.index import MANIFEST, index_fingerprint

    files = find_document_files(docs)
    entry = _manifest_entry(store_dir / MANIFEST, collection)
    fingerprint = index_fingerprint(files_digest(files, docs), chunk_size, chunk_overlap, embedding_model_id())
    # A rate from a small build is mostly start-up cost; only a build of some size predicts a large one.
    measured = int(entry.get("chunks") or 0) >= MIN_MEASURED_CHUNKS
    rate = float(entry.get("chunks_per_s") or 0.0) if measured else 0.0
    source = "measured by the last build here" if rate > 0 else "assumed, scaled to this machine"
    if rate <= 0:
        rate = ASSUMED_CHUNKS_PER_S["bf16" if bf16 else "fp32"] * machine_factor
    if entry.get("fingerprint") == fingerprint:
        return IndexEstimate(
            files=len(files),
            chunks=int(entry.get("chunks") or 0),
            seconds=0.0,
            rate=rate,
            rate_source=source,
            up_to_date=True,
        )
    sizes = {f: max(1, f.stat().st_size) for f in files}
    sample = random.Random(0).sample(files, min(SAMPLE_FILES, len(files)))
    sample_chunks = len(chunk_documents(load_documents(docs, files=sorted(sample)), chunk_size, chunk_overlap))
    chunks = round(sample_chunks * sum(sizes.values()) / sum(sizes[f] for f in sample))
    return IndexEstimate(
        files=len(files), chunks=chunks, seconds=chunks / rate, rate=rate, rate_source=source, up_to_date=False
    )


def _manifest_entry(path: Path, collection: str) -> dict[str, Any]:
    try:
        entry = json.loads(path.read_text()).get(collection) if path.is_file() else None
    except (OSError, ValueError, AttributeError):
        return {}
    return entry if isinstance(entry, dict) else {}

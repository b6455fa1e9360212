"""Content hashes that key the eval cache: model, adapter, config, data and the evaluator's own code.

A rerun with the same key reads the stored results instead of generating again. Weights are keyed
by file name, size and modification time (hashing 14 GB of a 7B model would take ~30 s); every
other file is hashed by content.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt", ".pth")


def file_digest(path: str | Path) -> str:
    """sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def tree_digest(path: str | Path) -> str:
    """A digest of a file or a directory tree: small files by content, weight files by name, size and mtime."""
    root = Path(path)
    if root.is_file():
        return file_digest(root)
    digest = hashlib.sha256()
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = file.relative_to(root).as_posix()
        if relative.startswith(("runs/", "checkpoints/")):
            continue  # training logs and resume checkpoints beside an adapter do not change it
        stat = file.stat()
        if file.suffix in _WEIGHT_SUFFIXES and stat.st_size > 50_000_000:
            digest.update(f"{relative}:{stat.st_size}:{stat.st_mtime_ns}".encode())
        else:
            digest.update(f"{relative}:{file_digest(file)}".encode())
    return digest.hexdigest()


def code_digest() -> str:
    """A digest of the evaluator's sources, so a fix to a metric invalidates cached scores."""
    here = Path(__file__).parent
    digest = hashlib.sha256()
    for file in sorted(here.glob("*.py")):
        digest.update(file.read_bytes())
    return digest.hexdigest()


def cache_key(parts: dict[str, Any]) -> str:
    """The sha256 of the parts as canonical JSON.

    >>> cache_key({"b": 1, "a": [1, 2]}) == cache_key({"a": [1, 2], "b": 1})
    True
    """
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()

"""Provenance for stages: content hashes of inputs and a manifest of what ran, so reruns skip work.

A stage is skipped when its input hash equals the one recorded for a completed run of it; anything
else (changed config, changed data, an interrupted stage) runs it again. Training resumes from its
own checkpoints inside its stage directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"


def hash_json(value: Any) -> str:
    """Stable hash of a JSON-able value.

    >>> hash_json({"b": 1, "a": [1, 2]}) == hash_json({"a": [1, 2], "b": 1})
    True
    """
    blob = json.dumps(value, sort_keys=True, default=str, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def hash_path(path: Path | None) -> str | None:
    """Hash a file's bytes, or every file under a folder (names and bytes); ``None`` when absent."""
    if path is None or not path.exists():
        return None
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        if path.is_dir():
            digest.update(str(file.relative_to(path)).encode())
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


class Manifest:
    """``manifest.json`` in a run directory: stage -> {hash, status, wall_s, finished}."""

    def __init__(self, run_dir: Path):
        self.path = run_dir / MANIFEST
        self.stages: dict[str, dict[str, Any]] = {}
        if self.path.is_file():
            self.stages = json.loads(self.path.read_text()).get("stages", {})

    def is_done(self, stage: str, input_hash: str) -> bool:
        entry = self.stages.get(stage)
        return bool(entry and entry.get("status") == "done" and entry.get("hash") == input_hash)

    def mark(self, stage: str, input_hash: str, status: str, wall_s: float | None = None) -> None:
        self.stages[stage] = {"hash": input_hash, "status": status, "wall_s": wall_s, "finished": time.time()}
        self._save()

    def _save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"stages": self.stages}, indent=2))
        os.replace(tmp, self.path)  # a kill mid-write never leaves a half manifest

"""Provenance for stages: content hashes of inputs, a manifest of what ran, and a stamp on every output.

A stage is skipped when its input hash equals the one recorded for a completed run of it; anything
else (changed config, changed data, an interrupted stage) runs it again. Training resumes from its
own checkpoints inside its stage directory.

Every output folder a stage writes carries a stamp (``stage.json``: the stage and the hash of the
inputs that made it). The report and ``compare`` use an output only while its stamp matches the
manifest's entry for a finished stage, so results of earlier settings are never reported as current.
The manifest also records the experiment's identity (name, model, data, methods): a run holds one
experiment, and a changed identity starts a new run.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

from posttrain.errors import BadInput

MANIFEST = "manifest.json"
STAMP = "stage.json"  # in every stage output folder: which stage made it, from which inputs


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


def read_json_file(path: Path, what: str) -> Any:
    """A JSON file, or one :class:`BadInput` line naming it (truncated, damaged, not UTF-8)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise BadInput(f"{path}:{error.lineno}: {what} is not valid JSON ({error.msg}); it may be truncated") from None
    except UnicodeDecodeError:
        raise BadInput(f"{path}: {what} is not UTF-8 text; it is damaged") from None
    except OSError as error:
        raise BadInput(f"{path}: cannot read the {what}: {error.strerror}") from None


class Manifest:
    """``manifest.json`` in a run directory: stage -> {hash, status, wall_s, cpu_s, finished}, and the identity."""

    def __init__(self, run_dir: Path):
        self.path = run_dir / MANIFEST
        self.stages: dict[str, dict[str, Any]] = {}
        self.identity: dict[str, Any] | None = None
        if self.path.is_file():
            raw = read_json_file(self.path, "run manifest")
            stages = raw.get("stages", {}) if isinstance(raw, dict) else None
            if not isinstance(stages, dict) or not all(isinstance(v, dict) for v in stages.values()):
                raise BadInput(
                    f"{self.path}: not a run manifest (expected {{'stages': {{stage: {{hash, status}}}}}}); "
                    "move it away, or start a new run with `posttrain run --new`"
                )
            self.stages = stages
            identity = raw.get("identity")
            self.identity = identity if isinstance(identity, dict) else None

    def is_done(self, stage: str, input_hash: str) -> bool:
        entry = self.stages.get(stage)
        return bool(entry and entry.get("status") == "done" and entry.get("hash") == input_hash)

    def is_current(self, stamp: dict[str, Any] | None) -> bool:
        """Whether an output's stamp belongs to the finished run of its stage recorded here."""
        if not isinstance(stamp, dict):
            return False
        entry = self.stages.get(str(stamp.get("stage")))
        return bool(entry and entry.get("status") == "done" and entry.get("hash") == stamp.get("inputs"))

    def mark(
        self, stage: str, input_hash: str, status: str, wall_s: float | None = None, cpu_s: float | None = None
    ) -> None:
        entry = {"hash": input_hash, "status": status, "wall_s": wall_s, "cpu_s": cpu_s, "finished": time.time()}
        self.stages[stage] = entry
        self._save()

    def set_status(self, stage: str, status: str) -> None:
        """Change a stage's status and keep the rest (its hash and when it last finished)."""
        if stage in self.stages:
            self.stages[stage] = {**self.stages[stage], "status": status}
            self._save()

    def set_identity(self, identity: dict[str, Any]) -> None:
        self.identity = identity
        self._save()

    def _save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        body: dict[str, Any] = {"stages": self.stages}
        if self.identity is not None:
            body["identity"] = self.identity
        tmp.write_text(json.dumps(body, indent=2))
        os.replace(tmp, self.path)  # a kill mid-write never leaves a half manifest


def write_stamp(folder: Path, stage: str, input_hash: str, **extra: Any) -> None:
    """Mark ``folder`` as made by ``stage`` from inputs hashing to ``input_hash``."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{STAMP}.tmp"
    tmp.write_text(json.dumps({"stage": stage, "inputs": input_hash, **extra}, indent=2) + "\n")
    os.replace(tmp, folder / STAMP)


def read_stamp(folder: Path) -> dict[str, Any] | None:
    """The stamp in ``folder``; ``None`` when there is none or it is unreadable (then the output is stale)."""
    try:
        stamp = json.loads((folder / STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return stamp if isinstance(stamp, dict) else None

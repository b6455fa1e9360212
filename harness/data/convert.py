"""``posttrain data convert``: any accepted file in, the rows training sees out (JSON Lines).

The conversion is :func:`harness.training.prepare.convert_file`, the function training itself calls,
so what this writes is what the trainer reads.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from posttrain.errors import BadInput


def write_converted(
    path: str,
    kind: str,
    out: str | Path,
    columns: Any = None,
    split: str | None = None,
    system_prompt: str | None = None,
) -> tuple[int, int]:
    """Convert ``path`` for ``kind`` and write ``out`` atomically; returns (rows written, rows read)."""
    from harness.training.prepare import METHOD_OF_KIND, convert_rows_counted

    if kind not in METHOD_OF_KIND:
        raise BadInput(f"--kind {kind}: use one of {', '.join(METHOD_OF_KIND)}")
    target = Path(out)
    if target.is_dir():
        raise BadInput(f"--out {out}: is a directory; give a file name such as train.trl.jsonl")
    if Path(path).resolve() == target.resolve():
        raise BadInput(f"--out {out}: the same file as the input; write the converted rows elsewhere")
    rows, read = convert_rows_counted(path, kind, columns, split, system_prompt)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with staging.open("w", encoding="utf-8") as handle:
            encode = _RowEncoder()
            for row in rows:
                handle.write(encode(row))
                handle.write("\n")
        staging.replace(target)
    finally:
        staging.unlink(missing_ok=True)
    return len(rows), read


class _RowEncoder:
    """``json.dumps(row, ensure_ascii=False)``, with each message encoded once.

    The per-turn SFT rows of one conversation share their message objects (row k's prompt is the first
    turns of the conversation), so encoding each message once turns the quadratic cost of re-encoding
    every prompt into a linear one; the joined text is byte-identical to ``json.dumps``.

    >>> m = [{"role": "user", "content": "é"}]
    >>> _RowEncoder()({"prompt": m, "completion": m, "n": 1}) == json.dumps({"prompt": m, "completion": m, "n": 1},
    ...                                                                   ensure_ascii=False)
    True
    """

    def __init__(self) -> None:
        self._dumps = json.JSONEncoder(ensure_ascii=False).encode
        self._cache: dict[int, tuple[Any, str]] = {}

    def _message(self, message: Any) -> str:
        key = id(message)
        hit = self._cache.get(key)
        if hit is not None and hit[0] is message:
            return hit[1]
        if len(self._cache) > 100_000:  # one conversation's turns are what repeats; keep the cache small
            self._cache.clear()
        text = self._dumps(message)
        self._cache[key] = (message, text)  # holding the object keeps its id from being reused
        return text

    def __call__(self, row: dict[str, Any]) -> str:
        parts = []
        for key, value in row.items():
            if isinstance(value, list) and value and all(isinstance(m, dict) for m in value):
                encoded = "[" + ", ".join(self._message(m) for m in value) + "]"
            else:
                encoded = self._dumps(value)
            parts.append(self._dumps(key) + ": " + encoded)
        return "{" + ", ".join(parts) + "}"

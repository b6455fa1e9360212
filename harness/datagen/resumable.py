"""An append-only JSONL file that survives being killed: never a half line, never a duplicate id.

Generation runs are long and get interrupted (Ctrl-C, a preempted machine, an out-of-memory kill).
Each finished row goes to disk as one complete line through a single ``os.write`` on an ``O_APPEND``
descriptor followed by ``fsync``: a kill lands before or after the line, not inside it. On reopen,
a trailing partial line (left by a crash inside a filesystem that does not keep writes atomic, or
by another tool) is cut off, and the ids already present are remembered so a rerun skips them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from posttrain.errors import BadInput


def _existing_ids(path: Path) -> tuple[set[str], int]:
    """Ids of the complete lines in ``path`` and the byte length of those complete lines.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.jsonl"
    >>> _ = p.write_bytes(b'{"id": "a"}\\n{"id": "b"}\\n{"id": "c", "mess')
    >>> ids, end = _existing_ids(p)
    >>> sorted(ids), end
    (['a', 'b'], 24)
    """
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1  # everything after the last newline is a partial line
    ids: set[str] = set()
    for number, line in enumerate(data[:end].splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as error:
            raise BadInput(
                f"{path}:{number}: not JSON ({error.args[0]}); this file cannot be resumed — "
                "pass a new --out or repair the line"
            ) from None
        if not isinstance(row, dict) or "id" not in row:
            raise BadInput(f"{path}:{number}: a row without an 'id'; --out must be a file this command wrote")
        ids.add(str(row["id"]))
    return ids, end


class ResumableJsonl:
    """Append rows to a JSONL file, one fsynced line at a time; ``in`` tells which ids are done.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "out.jsonl"
    >>> with ResumableJsonl(p) as out:
    ...     out.append({"id": "1", "text": "one"})
    >>> _ = open(p, "ab").write(b'{"id": "2", "te')   # a crash mid-line elsewhere
    >>> with ResumableJsonl(p) as out:
    ...     ("1" in out, "2" in out, out.resumed)
    ...     out.append({"id": "2", "text": "two"})
    (True, False, 1)
    >>> p.read_text().splitlines()
    ['{"id": "1", "text": "one"}', '{"id": "2", "text": "two"}']
    """

    def __init__(self, path: str | Path, *, fsync: bool = True) -> None:
        self.path = Path(path)
        self.fsync = fsync
        if self.path.is_dir():
            raise BadInput(f"--out {self.path}: is a directory; pass a .jsonl file path")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.ids: set[str] = set()
        if self.path.exists():
            self.ids, end = _existing_ids(self.path)
            if end < self.path.stat().st_size:
                os.truncate(self.path, end)
        self.resumed = len(self.ids)
        self.written = 0
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def __contains__(self, row_id: object) -> bool:
        return str(row_id) in self.ids

    def append(self, row: dict[str, Any]) -> None:
        """Write ``row`` (which must carry an ``id``) as one line; a row whose id is present is skipped."""
        row_id = str(row["id"])
        if row_id in self.ids:
            return
        line = (json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8")
        view = memoryview(line)
        while view:  # a regular file takes the whole buffer at once; the loop only guards odd filesystems
            done = os.write(self._fd, view)
            view = view[done:]
        if self.fsync:
            os.fsync(self._fd)
        self.ids.add(row_id)
        self.written += 1

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> ResumableJsonl:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_jsonl_atomic(path: str | Path, rows: list[dict[str, Any]]) -> None:
    """Replace ``path`` with ``rows`` in one rename, so a crash leaves the old file or the new one."""
    target = Path(path)
    if target.is_dir():
        raise BadInput(f"--out {target}: is a directory; pass a .jsonl file path")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    with open(staging, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(staging, target)

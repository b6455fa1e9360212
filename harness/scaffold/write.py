"""Write generated files into an experiment folder without losing the user's work.

Three promises, each kept by construction:

- **Nothing half-written.** Every file is encoded and every path checked before the first byte is
  written. A new folder is staged beside DIR (a private temporary folder in DIR's parent) and moved
  into place with one rename.
- **Never through a link.** Every path component under DIR is opened with ``O_NOFOLLOW`` relative
  to its parent's file descriptor, so a symbolic link planted in DIR (``data/`` → ``/etc``, or a
  staging file) cannot redirect a write outside it; a linked folder is refused by name.
- **User edits survive ``--force``.** ``.posttrain/scaffold.json`` records the hash of every file
  as generated. ``--force`` rewrites a file only while it is still as generated; an edited file is
  moved to ``.posttrain/backup-<time>/`` (named in the outcome), except data files, which stay
  exactly where and as they are. Files the scaffold does not write (``runs/``, your own) are untouched.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import secrets
import shutil
import stat
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from posttrain.errors import BadInput

STATE_DIR = ".posttrain"
RECORD = "scaffold.json"
# Files under these folders (except their READMEs) and with these suffixes are the user's data:
# an edited one is never moved or replaced.
DATA_DIRS = ("data", "knowledge")
DATA_SUFFIXES = {".jsonl", ".csv", ".tsv", ".parquet"}


def is_data_file(relative: str) -> bool:
    """Whether a scaffold path holds data the user replaces with their own.

    >>> is_data_file("data/train.jsonl"), is_data_file("data/README.md"), is_data_file("experiment.yaml")
    (True, False, False)
    """
    path = PurePosixPath(relative)
    return path.suffix in DATA_SUFFIXES or (path.parts[0] in DATA_DIRS and path.name != "README.md")


def file_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class WriteOutcome:
    """What a write did, file by file (relative paths under DIR)."""

    written: list[str] = field(default_factory=list)  # new, or regenerated because still as generated
    unchanged: list[str] = field(default_factory=list)
    backed_up: dict[str, str] = field(default_factory=dict)  # edited file -> where it was moved
    kept: list[str] = field(default_factory=list)  # edited data files, left as they are
    backup_dir: str | None = None

    @property
    def files(self) -> list[str]:
        """Every scaffold file now in place, the record of their hashes included."""
        return sorted({*self.written, *self.unchanged, *self.kept, f"{STATE_DIR}/{RECORD}"})

    def lines(self) -> list[str]:
        """One line per file the user should know about (an edit moved aside or kept)."""
        moved = [f"moved your edited {r} to {to} (the generated one replaces it)" for r, to in self.backed_up.items()]
        kept = [f"kept your {r} as it is (edited since generated; data files are never overwritten)" for r in self.kept]
        return moved + kept


def encode_files(files: dict[str, str | bytes]) -> dict[str, bytes]:
    """Every file as bytes, each path checked to be a plain relative path; fails before any write."""
    encoded: dict[str, bytes] = {}
    for relative, content in files.items():
        parts = PurePosixPath(relative).parts
        if not parts or PurePosixPath(relative).is_absolute() or any(p in ("", ".", "..") for p in parts):
            raise BadInput(f"{relative}: not a plain path inside the experiment folder; refusing")
        if isinstance(content, bytes):
            encoded[relative] = content
            continue
        try:
            encoded[relative] = content.encode("utf-8")
        except UnicodeEncodeError as error:
            bad = ascii(content[error.start : error.end])
            raise BadInput(
                f"{relative}: would hold text that is not valid UTF-8 ({bad} at character {error.start}), "
                "likely from an argument; pass UTF-8 text — nothing was written"
            ) from None
    return encoded


# ---- descriptor-relative, link-refusing file operations ------------------------------------------


def _lstat(dir_fd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _open_dir(dir_fd: int, name: str, shown: str, create: bool) -> int | None:
    """Open sub-folder ``name`` of ``dir_fd`` without following a link; ``None`` when absent and not created."""
    info = _lstat(dir_fd, name)
    if info is None:
        if not create:
            return None
        os.mkdir(name, 0o755, dir_fd=dir_fd)
    elif stat.S_ISLNK(info.st_mode):
        raise BadInput(f"{shown}: is a symbolic link; posttrain never writes through links — remove it first")
    elif not stat.S_ISDIR(info.st_mode):
        raise BadInput(f"{shown}: exists and is not a folder")
    try:
        return os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dir_fd)
    except OSError as error:  # swapped for a link since the check
        if error.errno in (errno.ELOOP, errno.ENOTDIR):
            raise BadInput(f"{shown}: is a symbolic link; posttrain never writes through links") from None
        raise


def _walk(root_fd: int, parts: tuple[str, ...], root: Path, create: bool) -> int | None:
    """The descriptor of folder ``parts`` under ``root_fd`` (caller closes it); ``None`` when absent."""
    fd = os.dup(root_fd)
    for i, part in enumerate(parts):
        try:
            child = _open_dir(fd, part, str(root.joinpath(*parts[: i + 1])), create)
        finally:
            os.close(fd)
        if child is None:
            return None
        fd = child
    return fd


def _read_regular(dir_fd: int, name: str) -> bytes | None:
    """A regular file's bytes, or ``None`` for anything else (a link, a FIFO, a device are never opened)."""
    info = _lstat(dir_fd, name)
    if info is None or not stat.S_ISREG(info.st_mode):
        return None
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
    with os.fdopen(fd, "rb") as handle:
        return handle.read()


def _write_at(dir_fd: int, name: str, data: bytes) -> None:
    """Write beside under a fresh random name (``O_EXCL|O_NOFOLLOW``: never a planted file), then rename."""
    staging = f".{name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=dir_fd)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(staging, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(staging, dir_fd=dir_fd)
        raise


# ---- the write -----------------------------------------------------------------------------------


def _read_record(root_fd: int, target: Path) -> dict[str, str]:
    state = _walk(root_fd, (STATE_DIR,), target, create=False)
    if state is None:
        return {}
    try:
        raw = _read_regular(state, RECORD)
    finally:
        os.close(state)
    try:
        files = json.loads(raw or b"{}").get("files", {})
    except (ValueError, AttributeError):
        return {}  # a damaged record: every existing file then counts as edited, which loses nothing
    return {str(k): str(v) for k, v in files.items()} if isinstance(files, dict) else {}


def _fresh(target: Path, files: dict[str, bytes]) -> WriteOutcome:
    """Stage the whole scaffold in a private folder beside DIR, then move it into place at once."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.posttrain-", dir=target.parent))
    try:
        root_fd = os.open(staging, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            for relative, data in files.items():
                *folders, name = PurePosixPath(relative).parts
                dir_fd = _walk(root_fd, tuple(folders), target, create=True)
                assert dir_fd is not None
                try:
                    _write_at(dir_fd, name, data)
                finally:
                    os.close(dir_fd)
            _write_record(root_fd, target, {r: file_hash(d) for r, d in files.items()})
        finally:
            os.close(root_fd)
        os.chmod(staging, 0o755)  # mkdtemp makes it private; the experiment folder is an ordinary one
        if target.is_dir():
            target.rmdir()  # empty, checked by the caller; a file appearing there meanwhile stops here
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return WriteOutcome(written=list(files))


def _write_record(root_fd: int, target: Path, hashes: dict[str, str]) -> None:
    state = _walk(root_fd, (STATE_DIR,), target, create=True)
    assert state is not None
    try:
        body = {"note": "hashes of the files as posttrain generated them; `posttrain new --force` reads them"}
        text = json.dumps({**body, "files": dict(sorted(hashes.items()))}, indent=2) + "\n"
        _write_at(state, RECORD, text.encode())
    finally:
        os.close(state)


def write_files(target: Path, files: dict[str, str | bytes], force: bool = False) -> WriteOutcome:
    """Write ``files`` (relative path → content) under ``target`` keeping every user edit; see the module."""
    encoded = encode_files(files)
    try:
        return _write_checked(target, encoded, force)
    except OSError as error:  # a full disk, a read-only folder: one line, not a traceback
        where = f" ({error.filename})" if error.filename else ""
        raise BadInput(f"{target}: cannot write the files: {error.strerror or error}{where}") from None


def _write_checked(target: Path, encoded: dict[str, bytes], force: bool) -> WriteOutcome:
    if target.is_symlink() and not target.exists():
        raise BadInput(f"{target}: is a dangling symbolic link")
    if target.exists() and not target.is_dir():
        raise BadInput(f"{target}: exists and is not a directory")
    empty = not target.exists() or not any(target.iterdir())
    if empty and not target.is_symlink():
        return _fresh(target, encoded)
    if not empty and not force:
        raise BadInput(
            f"{target}: directory is not empty; use --force to rewrite the scaffold's files "
            "(edited ones are backed up, data files and runs/ are kept)"
        )
    root_fd = os.open(target, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return _update(root_fd, target, encoded)
    finally:
        os.close(root_fd)


def _update(root_fd: int, target: Path, files: dict[str, bytes]) -> WriteOutcome:
    record = _read_record(root_fd, target)
    outcome = WriteOutcome()
    actions: list[tuple[str, str]] = []  # (relative, "write" | "backup")
    for relative, data in files.items():  # decide everything before changing anything
        *folders, name = PurePosixPath(relative).parts
        dir_fd = _walk(root_fd, tuple(folders), target, create=False)
        if dir_fd is None:
            actions.append((relative, "write"))
            continue
        try:
            info = _lstat(dir_fd, name)
            if info is not None and stat.S_ISDIR(info.st_mode):
                raise BadInput(f"{target / relative}: is a folder where the scaffold writes a file; move it away")
            current = _read_regular(dir_fd, name)
        finally:
            os.close(dir_fd)
        if info is None:
            actions.append((relative, "write"))
        elif current == data:
            outcome.unchanged.append(relative)
        elif current is not None and record.get(relative) == file_hash(current):
            actions.append((relative, "write"))  # still exactly as generated: safe to regenerate
        elif is_data_file(relative):
            outcome.kept.append(relative)
        else:
            actions.append((relative, "backup"))
    stamp = time.strftime("%Y%m%d-%H%M%S")
    backup = f"{STATE_DIR}/backup-{stamp}"
    n = 1
    while _lstat(root_fd, backup) is not None:
        n += 1
        backup = f"{STATE_DIR}/backup-{stamp}-{n}"
    for relative, action in actions:
        *folders, name = PurePosixPath(relative).parts
        dir_fd = _walk(root_fd, tuple(folders), target, create=True)
        assert dir_fd is not None
        try:
            if action == "backup":
                dest_fd = _walk(root_fd, (*PurePosixPath(backup).parts, *folders), target, create=True)
                assert dest_fd is not None
                try:  # rename moves a link itself, never what it points to
                    os.rename(name, name, src_dir_fd=dir_fd, dst_dir_fd=dest_fd)
                finally:
                    os.close(dest_fd)
                outcome.backed_up[relative] = f"{backup}/{relative}"
                outcome.backup_dir = backup
            _write_at(dir_fd, name, files[relative])
        finally:
            os.close(dir_fd)
        outcome.written.append(relative)
    hashes = {**record, **{r: file_hash(d) for r, d in files.items()}}
    _write_record(root_fd, target, hashes)
    return outcome

"""Knowledge documents: find them in a folder or file and read them as text, with clear errors.

Supported: Markdown (``.md``, ``.markdown``), plain text (``.txt``), JSONL (one document per line,
``{"text": ..., "id"?: ..., "title"?: ...}``) and PDF (``.pdf``, only when ``pypdf`` is installed).
Anything unreadable stops the index with one ``file[:line]: why`` message (exit 2) instead of
indexing half a corpus.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from posttrain.errors import BadInput

Kind = Literal["markdown", "text", "pdf"]
SUFFIXES: dict[str, Kind | Literal["jsonl"]] = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".jsonl": "jsonl",
    ".pdf": "pdf",
}
TEXT_FIELDS = ("text", "content", "body")


class Document(BaseModel):
    """One document: ``source`` is its id in retrieval results (relative path, or ``file:line`` for JSONL)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str
    text: str
    kind: Kind
    title: str | None = None


def find_document_files(path: Path) -> list[Path]:
    """Supported files under ``path`` (or ``path`` itself), sorted, hidden files and folders skipped."""
    if not path.exists():
        raise BadInput(f"{path}: no such file or folder of knowledge documents")
    if path.is_file():
        if path.suffix.lower() not in SUFFIXES:
            raise BadInput(f"{path}: unsupported document type {path.suffix!r}; use {', '.join(SUFFIXES)}")
        return [path]
    files = [
        p
        for p in sorted(path.rglob("*"))
        if p.is_file()
        and p.suffix.lower() in SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(path).parts)
    ]
    if not files:
        raise BadInput(
            f"{path}: the knowledge folder holds no documents ({', '.join(SUFFIXES)}); "
            "add some or point to another folder"
        )
    return files


def files_digest(files: list[Path], root: Path) -> str:
    """sha256 over each file's relative name and content: changes when any document changes."""
    digest = hashlib.sha256()
    for file in files:
        digest.update(_relative(file, root).encode())
        digest.update(b"\0")
        digest.update(hashlib.sha256(_read_bytes(file)).digest())
    return digest.hexdigest()


def load_documents(path: str | Path) -> list[Document]:
    """Read every supported document under ``path``; raise :class:`BadInput` for empty or unreadable input."""
    root = Path(path)
    files = find_document_files(root)
    documents: list[Document] = []
    for file in files:
        documents.extend(read_document(file, _relative(file, root)))
    if not any(doc.text.strip() for doc in documents):
        raise BadInput(f"{root}: the knowledge documents are all empty; nothing to index")
    return [doc for doc in documents if doc.text.strip()]


def read_document(file: Path, source: str) -> list[Document]:
    """One file as documents (a JSONL file gives one per line)."""
    kind = SUFFIXES[file.suffix.lower()]
    if kind == "pdf":
        return [Document(source=source, text=_read_pdf(file), kind="pdf")]
    text = _read_text(file)
    if kind == "jsonl":
        return _jsonl_documents(text, file, source)
    title = _markdown_title(text) if kind == "markdown" else None
    return [Document(source=source, text=text, kind=kind, title=title)]


def _relative(file: Path, root: Path) -> str:
    return file.name if root.is_file() else file.relative_to(root).as_posix()


def _read_bytes(file: Path) -> bytes:
    try:
        return file.read_bytes()
    except OSError as error:
        raise BadInput(f"{file}: cannot read the document: {error.strerror or error}") from None


def _read_text(file: Path) -> str:
    data = _read_bytes(file)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise BadInput(
            f"{file}:{line}: not UTF-8 text (byte {error.start}); save the document as UTF-8 or remove it"
        ) from None


def _jsonl_documents(text: str, file: Path, source: str) -> list[Document]:
    documents = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise BadInput(f"{file}:{number}: not valid JSON: {error.msg}") from None
        if not isinstance(record, dict):
            raise BadInput(f'{file}:{number}: each line must be an object like {{"text": "..."}}')
        field = next((f for f in TEXT_FIELDS if isinstance(record.get(f), str)), None)
        if field is None:
            raise BadInput(f"{file}:{number}: no 'text' field (a string with the document's text)")
        doc_id = record.get("id")
        title = record.get("title")
        documents.append(
            Document(
                source=f"{source}:{doc_id}" if doc_id is not None else f"{source}:{number}",
                text=record[field],
                kind="text",
                title=title if isinstance(title, str) else None,
            )
        )
    return documents


def _read_pdf(file: Path) -> str:
    try:
        from pypdf import PdfReader  # optional: a maintained pure-Python PDF parser
    except ImportError:
        raise BadInput(f"{file}: reading PDF needs pypdf; install it with `pip install pypdf`") from None
    try:
        reader = PdfReader(str(file))
        return "\n\n".join(page.extract_text() or "" for page in reader.pages)
    except Exception as error:  # pypdf raises many types for damaged files
        raise BadInput(f"{file}: cannot read the PDF: {error}") from None


def _markdown_title(text: str) -> str | None:
    """The first ``# Title`` line.

    >>> _markdown_title("intro\\n# Returns\\n## Window")
    'Returns'
    >>> _markdown_title("no heading") is None
    True
    """
    for line in text.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return None

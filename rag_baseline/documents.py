"""Knowledge documents: find them in a folder (subfolders included) or file and read them, with clear errors.

Supported: Markdown (``.md``, ``.markdown``), plain text (``.txt``), JSONL (one document per line,
``{"text": ..., "id"?: ..., "title"?: ...}``), HTML (``.html``, ``.htm``: the main content only),
Word (``.docx``), PowerPoint (``.pptx``) and PDF (``.pdf``, with page numbers and outline headings);
see :mod:`rag_baseline.converters`. HTML, DOCX and PPTX become Markdown, so their headings give each
chunk its heading path. Anything unreadable stops the index with one ``file[:line]: why`` message
(exit 2) instead of indexing half a corpus.

Symbolic links are not followed out of the knowledge folder: a link whose target lies outside it is
skipped with a message (a shared folder must not leak ``~/.ssh/id_rsa`` into an index), and linked
folders are not descended into.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from posttrain.errors import BadInput

Kind = Literal["markdown", "text", "pdf", "html", "docx", "pptx"]
SUFFIXES: dict[str, Kind | Literal["jsonl"]] = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".jsonl": "jsonl",
    ".html": "html",
    ".htm": "html",
    ".docx": "docx",
    ".pptx": "pptx",
    ".pdf": "pdf",
}
# Kinds whose text is Markdown once read, so the chunker cuts them at headings.
MARKDOWN_KINDS: frozenset[str] = frozenset({"markdown", "html", "docx", "pptx"})
TEXT_FIELDS = ("text", "content", "body")


class Section(BaseModel):
    """A part of a document under one heading path; a PDF's sections also carry their page."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    heading: tuple[str, ...] = ()
    text: str
    page: int | None = None


class Document(BaseModel):
    """One document: ``source`` is its id in retrieval results (relative path, or ``file:line`` for JSONL).

    ``sections`` is set where the reader knows the structure better than the text shows (PDF pages
    and outline); otherwise the chunker finds sections in the Markdown text.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str
    text: str
    kind: Kind
    title: str | None = None
    sections: tuple[Section, ...] | None = None


def find_document_files(path: Path, on_skip: Callable[[str], None] | None = None) -> list[Path]:
    """Supported files under ``path`` (or ``path`` itself) and its subfolders, sorted.

    Hidden files and folders are skipped; so are symbolic links that point outside the folder (each
    reported through ``on_skip``) and linked folders, which are never followed.
    """
    if not path.exists():
        raise BadInput(f"{path}: no such file or folder of knowledge documents")
    if path.is_file():
        if path.suffix.lower() not in SUFFIXES:
            raise BadInput(f"{path}: unsupported document type {path.suffix!r}; use {', '.join(SUFFIXES)}")
        return [path]
    root = path.resolve()
    files: list[Path] = []
    for folder, dirs, names in os.walk(path, followlinks=False):
        here = Path(folder)
        for name in sorted(dirs):
            if not name.startswith(".") and (here / name).is_symlink() and on_skip:
                on_skip(f"{here / name}: skipped, a linked folder is not followed")
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            file = here / name
            if name.startswith(".") or file.suffix.lower() not in SUFFIXES:
                continue
            if file.is_symlink():
                target = file.resolve()
                if not target.is_relative_to(root):
                    if on_skip:
                        on_skip(f"{file}: skipped, a link to {target} outside the knowledge folder")
                    continue
            if file.is_file():
                files.append(file)
    files.sort(key=lambda f: f.relative_to(path).as_posix())
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


def load_documents(
    path: str | Path,
    files: list[Path] | None = None,
    on_file: Callable[[Path, list[Document]], None] | None = None,
) -> list[Document]:
    """Read every supported document under ``path`` (or the ``files`` already found there).

    ``on_file`` is called after each file with what it gave (for progress). Raises :class:`BadInput`
    for empty or unreadable input.
    """
    root = Path(path)
    if files is None:
        files = find_document_files(root)
    documents: list[Document] = []
    for file in files:
        read = read_document(file, _relative(file, root))
        documents.extend(read)
        if on_file:
            on_file(file, read)
    if not any(doc.text.strip() for doc in documents):
        raise BadInput(f"{root}: the knowledge documents are all empty; nothing to index")
    return [doc for doc in documents if doc.text.strip()]


def read_document(file: Path, source: str) -> list[Document]:
    """One file as documents (a JSONL file gives one per line)."""
    from rag_baseline import converters

    kind = SUFFIXES[file.suffix.lower()]
    if kind == "pdf":
        sections = tuple(
            Section(heading=s.heading, text=s.text, page=s.page)
            for s in converters.pdf_sections(_read_bytes(file), file)
        )
        return [Document(source=source, text="\n\n".join(s.text for s in sections), kind="pdf", sections=sections)]
    if kind == "html":
        markdown, title = converters.html_to_markdown(_read_bytes(file), file)
        return [Document(source=source, text=markdown, kind="html", title=title)]
    if kind in ("docx", "pptx"):
        markdown = converters.office_to_markdown(_read_bytes(file), file)
        return [Document(source=source, text=markdown, kind=kind, title=_markdown_title(markdown))]
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

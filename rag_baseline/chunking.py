"""Split documents into chunks for retrieval: Markdown by section, then by size at natural breaks.

Each Markdown section (HTML, DOCX and PPTX arrive as Markdown; PDF as page/outline sections) becomes its
own chunk(s), prefixed by its heading path ("Returns and exchanges > Return window"), so a chunk names
its topic even when its text does not; small focused chunks also keep the prompt short for small models.
``chunk_size`` bounds the characters of a chunk's body.

A chunk's id is ``source#heading/path/n``: the document, the slug of its heading path and its ordinal
under that path. Ids are stable across re-indexing, and editing one section leaves the ids of every
other section as they were (a plain running number would shift them all).
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

from rag_baseline.documents import MARKDOWN_KINDS, Document

CHUNKER_VERSION = "2"  # bump when chunk boundaries change, so stored indexes are rebuilt
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
# Preferred break points, best first: paragraph, line, sentence end, any whitespace.
_BREAKS = ("\n\n", "\n", ". ", "? ", "! ", "; ", " ")


class Chunk(BaseModel):
    """A retrievable piece of a document. ``id`` is ``source#heading-path/n`` and is what the prompt cites."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    source: str
    text: str
    heading: str = ""
    page: int | None = None


def split_text(text: str, size: int, overlap: int = 0) -> list[str]:
    """Cut ``text`` into pieces of at most ``size`` characters, breaking at paragraphs, lines,
    sentences or spaces where possible; neighbours share about ``overlap`` characters.

    >>> split_text("One. Two. Three.", size=10)
    ['One. Two.', 'Three.']
    >>> split_text("short", size=100)
    ['short']
    >>> split_text("aaaa bbbb cccc dddd", size=9, overlap=4)
    ['aaaa bbbb', 'bbbb cccc', 'cccc dddd']
    >>> split_text("   ", size=5)
    []
    """
    if size < 1:
        raise ValueError("size must be at least 1")
    if overlap < 0 or overlap >= size:
        raise ValueError("overlap must be at least 0 and smaller than size")
    text = text.strip()
    pieces: list[str] = []
    start = 0
    while start < len(text):
        end = min(start + size, len(text))
        if end < len(text):
            end = _break_before(text, start, end)
        piece = text[start:end].strip()
        if piece:
            pieces.append(piece)
        if end >= len(text):
            break
        # The next piece starts ``overlap`` characters back, moved forward to a word start,
        # and always after the previous start so the loop ends.
        nxt = max(end - overlap, start + 1)
        if overlap and nxt > start + 1 and not text[nxt - 1].isspace():
            space = text.find(" ", nxt, end)
            nxt = space + 1 if space != -1 else nxt
        while nxt < len(text) and text[nxt].isspace():
            nxt += 1
        start = nxt
    return pieces


def _break_before(text: str, start: int, end: int) -> int:
    """The best break point in ``text[start:end]``, not earlier than half way (else a hard cut).

    >>> _break_before("aaa bbb ccc", 0, 9)
    7
    """
    floor = start + (end - start) // 2
    for mark in _BREAKS:
        # A piece may end right after the mark's visible part ("." of ". "), so a mark that
        # starts at ``end`` (a space right after the limit) still counts.
        core = len(mark.rstrip())
        at = text.rfind(mark, floor, end - core + len(mark))
        if at != -1:
            return at + core
    return end


def markdown_sections(text: str) -> list[tuple[list[str], str]]:
    """``(heading path, body)`` for each section of a Markdown text; headings inside code fences are text.

    >>> markdown_sections("# Shop\\nIntro.\\n## Hours\\n9 to 5.\\n```\\n# not a heading\\n```")
    [(['Shop'], 'Intro.'), (['Shop', 'Hours'], '9 to 5.\\n```\\n# not a heading\\n```')]
    """
    sections: list[tuple[list[str], str]] = []
    path: list[tuple[int, str]] = []
    body: list[str] = []
    in_fence = False

    def flush() -> None:
        joined = "\n".join(body).strip()
        if joined:
            sections.append(([title for _, title in path], joined))
        body.clear()

    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        match = None if in_fence else _HEADING.match(line)
        if match:
            flush()
            level = len(match.group(1))
            path = [(lvl, title) for lvl, title in path if lvl < level] + [(level, match.group(2))]
        else:
            body.append(line)
    flush()
    return sections


def heading_slug(heading: list[str] | tuple[str, ...]) -> str:
    """The heading path as an id part: lower-case words joined by ``-``, levels by ``/``.

    >>> heading_slug(["Returns and exchanges", "Return window (EU)"])
    'returns-and-exchanges/return-window-eu'
    >>> heading_slug([])
    ''
    """
    parts = [re.sub(r"[^\w]+", "-", title.lower()).strip("-")[:60] or "-" for title in heading]
    return "/".join(parts)


def chunk_document(doc: Document, size: int, overlap: int) -> list[Chunk]:
    """All chunks of one document, with ids ``source#heading-path/n`` (``source#n`` without a heading).

    >>> doc = Document(source="hours.md", kind="markdown", text="# Hours\\n## Sunday\\nOpen 11 am to 5 pm.")
    >>> [(c.id, c.text) for c in chunk_document(doc, size=200, overlap=20)]
    [('hours.md#hours/sunday/0', 'Hours > Sunday\\nOpen 11 am to 5 pm.')]
    """
    sections: list[tuple[tuple[str, ...], str, int | None]]
    if doc.sections is not None:
        sections = [(s.heading, s.text, s.page) for s in doc.sections]
    elif doc.kind in MARKDOWN_KINDS:
        # Text above the first heading (or a page without headings) is headed by the document's title.
        title = (doc.title,) if doc.title else ()
        sections = [(tuple(heading) or title, body, None) for heading, body in markdown_sections(doc.text)]
    else:
        sections = [((doc.title,) if doc.title else (), doc.text, None)]
    chunks: list[Chunk] = []
    ordinals: dict[str, int] = {}
    for heading, body, page in sections:
        path = " > ".join(heading)
        label = path + (f" (page {page})" if page is not None else "")
        prefix = f"{label}\n" if label else ""
        slug = heading_slug(heading)
        for piece in split_text(body, size, overlap):
            n = ordinals.get(slug, 0)
            ordinals[slug] = n + 1
            chunk_id = f"{doc.source}#{slug}/{n}" if slug else f"{doc.source}#{n}"
            chunks.append(Chunk(id=chunk_id, source=doc.source, text=prefix + piece, heading=path, page=page))
    return chunks


def chunk_documents(docs: list[Document], size: int, overlap: int) -> list[Chunk]:
    """Chunks of every document, in document order."""
    return [chunk for doc in docs for chunk in chunk_document(doc, size, overlap)]

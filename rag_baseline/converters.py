"""Office, web and PDF documents as Markdown sections, through maintained converters.

- HTML: the page's main content only (``<main>``, ``<article>``, ``role=main``, else the body without
  navigation, headers, footers, tables of contents, scripts and styles), converted by ``markdownify``
  (the HTML engine inside markitdown) with ATX headings, so headings become the chunk's heading path.
  The page is parsed once with lxml: ~15 ms a page here, so a 1,000-page site converts in ~15 s.
- DOCX and PPTX: ``markitdown`` (mammoth for Word styles → headings; python-pptx for slides). Each
  slide becomes a section headed by its title, or "Slide N" where it has none.
- PDF: ``pypdf``, page by page; the file's outline (bookmarks), where it has one, gives the headings,
  and every section keeps its page number.

Each reader takes bytes and the file name for messages and returns Markdown, or for PDF a list of
:class:`PdfSection`. All heavy imports happen inside the readers.
"""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from posttrain.errors import BadInput

# Elements that are navigation or chrome on every page of a site: their text repeats across pages and
# would crowd retrieval with duplicate chunks.
_CHROME_TAGS = ("script", "style", "noscript", "template", "nav", "footer", "aside", "form", "iframe", "svg")
_CHROME_ROLES = ("navigation", "banner", "contentinfo", "search", "complementary")
# Class/id words of navigation blocks in common generators: DocBook (navheader, navfooter, toc),
# Sphinx (sphinxsidebar, related), MkDocs/Docusaurus (md-sidebar, breadcrumbs), wikis (mw-navigation).
_CHROME_CLASS = re.compile(
    r"(^|[-_\s])(navheader|navfooter|navbar|navigation|nav|breadcrumbs?|sidebar|sphinxsidebar|related|toc|"
    r"skip-link|cookie-banner)($|[-_\s])",
    re.IGNORECASE,
)
_SLIDE_MARK = re.compile(r"^<!-- Slide number: (\d+) -->\s*$", re.MULTILINE)


@dataclass(frozen=True)
class PdfSection:
    """Text of one page (or the part of a page under one outline heading)."""

    heading: tuple[str, ...]
    text: str
    page: int


def html_to_markdown(data: bytes, file: Path) -> tuple[str, str | None]:
    """The main content of an HTML page as Markdown, and the page's ``<title>``."""
    from bs4 import BeautifulSoup, XMLParsedAsHTMLWarning
    from markdownify import MarkdownConverter

    with warnings.catch_warnings():
        # XHTML pages (DocBook's output) trip bs4's "looks like XML" warning; the HTML parser is right here.
        warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
        soup: Any = BeautifulSoup(data, "lxml")  # bs4's overloads do not fit attribute queries
    title = soup.title.get_text(" ", strip=True) if soup.title else None
    found = (
        soup.find("main")
        or soup.find(attrs={"role": "main"})
        or soup.find("article")
        or soup.find(id=re.compile(r"^(main-?content|content|main)$", re.IGNORECASE))
    )
    main = found or soup.body or soup
    # A <header> inside the main content usually holds the article's title; outside it, the site banner.
    chrome = _CHROME_TAGS if found else (*_CHROME_TAGS, "header")
    for element in main.find_all(chrome):
        element.decompose()
    for element in main.find_all(_is_chrome_block):
        element.decompose()
    # Link targets and titles are noise to an embedding (6% of the PostgreSQL manual's characters);
    # keep the anchor text only.
    for link in main.find_all("a"):
        link.unwrap()
    try:
        text = MarkdownConverter(
            heading_style="ATX",
            bullets="-",
            strip=["img"],
            # Text for embeddings, not for rendering: "archive\\_mode" would be a different token.
            escape_underscores=False,
            escape_asterisks=False,
            escape_misc=False,
        ).convert_soup(main)
    except RecursionError:  # pathologically nested pages: keep the text, lose the structure
        text = main.get_text("\n", strip=True)
    return _tidy(text), title or None


def _is_chrome_block(tag: Any) -> bool:
    """A ``div``/``table``/``ul`` whose role, class or id marks it as navigation (never the content root)."""
    if tag.name not in ("div", "table", "ul", "ol", "section"):
        return False
    if tag.get("role") in _CHROME_ROLES:
        return True
    words = " ".join(tag.get("class") or []) + " " + str(tag.get("id") or "")
    return bool(_CHROME_CLASS.search(words))


def _tidy(text: str) -> str:
    """Collapse the runs of blank lines markdownify leaves between blocks.

    >>> _tidy("a\\n\\n\\n\\nb  \\n")
    'a\\n\\nb'
    """
    lines = [line.rstrip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def office_to_markdown(data: bytes, file: Path) -> str:
    """A DOCX or PPTX file as Markdown through markitdown (no file-type sniffing: the suffix decides)."""
    suffix = file.suffix.lower()
    try:
        from markitdown import StreamInfo
        from markitdown.converters import DocxConverter, PptxConverter
    except ImportError:
        raise BadInput(
            f"{file}: reading {suffix} needs markitdown; install it with `pip install 'markitdown[docx,pptx]'`"
        ) from None
    converter = DocxConverter() if suffix == ".docx" else PptxConverter()
    try:
        result = converter.convert(io.BytesIO(data), StreamInfo(extension=suffix, local_path=str(file)))
    except Exception as error:  # zip, XML and converter errors of damaged files
        raise BadInput(f"{file}: cannot read the {suffix[1:].upper()} file: {error or type(error).__name__}") from None
    text = result.markdown or ""
    return _slides_as_sections(text) if suffix == ".pptx" else _tidy(text)


def _slides_as_sections(text: str) -> str:
    """markitdown marks slides with comments; make each slide a top-level section.

    >>> print(_slides_as_sections("<!-- Slide number: 1 -->\\n# Plan\\nGo.\\n<!-- Slide number: 2 -->\\nMore."))
    # Plan
    Go.
    # Slide 2
    More.
    """
    parts = _SLIDE_MARK.split(text)
    out: list[str] = [parts[0].strip()] if parts[0].strip() else []
    for number, body in zip(parts[1::2], parts[2::2], strict=True):
        body = body.strip()
        if not body.startswith("# "):
            body = f"# Slide {number}\n{body}"
        out.append(body)
    return _tidy("\n".join(out))


def pdf_sections(data: bytes, file: Path) -> list[PdfSection]:
    """Page texts of a PDF, cut and headed by its outline where it has one."""
    try:
        from pypdf import PdfReader
    except ImportError:
        raise BadInput(f"{file}: reading PDF needs pypdf; install it with `pip install pypdf`") from None
    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [page.extract_text() or "" for page in reader.pages]
        outline = _outline_entries(reader)
    except Exception as error:  # pypdf raises many types for damaged files
        raise BadInput(f"{file}: cannot read the PDF: {error or type(error).__name__}") from None
    return split_pages(pages, outline)


def _outline_entries(reader: Any) -> list[tuple[int, tuple[str, ...]]]:
    """``(page index, heading path)`` for each outline entry, in outline order."""
    entries: list[tuple[int, tuple[str, ...]]] = []

    def walk(items: list[Any], parents: tuple[str, ...]) -> None:
        last: tuple[str, ...] = parents
        for item in items:
            if isinstance(item, list):  # the children of the entry before it
                walk(item, last)
                continue
            title = str(getattr(item, "title", "") or "").strip()
            try:
                page = reader.get_destination_page_number(item)
            except Exception:  # an entry pointing nowhere (named destination missing): skip it
                continue
            if title and page is not None and page >= 0:
                last = (*parents, title)
                entries.append((page, last))

    try:
        walk(reader.outline, ())
    except Exception:  # a damaged outline is not worth losing the text for
        return []
    return entries


def split_pages(pages: list[str], outline: list[tuple[int, tuple[str, ...]]]) -> list[PdfSection]:
    """Cut page texts where outline entries start; a section before the first entry has no heading.

    An entry's title is looked for in its page's text, to start its section there; when not found
    (the title is drawn as an image, or worded differently) the section starts at the page top.

    >>> pages = ["Preface text. Setup Install it.", "More setup.", "Usage Run it."]
    >>> for s in split_pages(pages, [(0, ("Setup",)), (2, ("Usage",))]):
    ...     print(s.page, s.heading, repr(s.text))
    1 () 'Preface text.'
    1 ('Setup',) 'Setup Install it.'
    2 ('Setup',) 'More setup.'
    3 ('Usage',) 'Usage Run it.'
    """
    by_page: dict[int, list[tuple[str, ...]]] = {}
    for page, heading in sorted(outline, key=lambda entry: entry[0]):
        by_page.setdefault(page, []).append(heading)
    sections: list[PdfSection] = []
    current: tuple[str, ...] = ()
    for index, text in enumerate(pages):
        cut, start, heading = 0, 0, current
        for entry in by_page.get(index, []):
            found = text.find(entry[-1], start)
            at = found if found != -1 else start
            if text[cut:at].strip():
                sections.append(PdfSection(heading, text[cut:at].strip(), index + 1))
            cut, start, heading = at, at + (len(entry[-1]) if found != -1 else 0), entry
        if text[cut:].strip():
            sections.append(PdfSection(heading, text[cut:].strip(), index + 1))
        current = heading
    return sections

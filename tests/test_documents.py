"""Knowledge documents as they come: HTML (main content only), DOCX, PPTX and PDF with headings and
pages, subfolders, stable chunk ids, symbolic links kept inside the folder, and progress when piped.

Every file is written by the test: DOCX as a minimal WordprocessingML zip, PPTX with python-pptx
(markitdown's pptx extra), PDF as raw PDF objects with an outline added by pypdf.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from posttrain.errors import BadInput
from rag_baseline.chunking import chunk_documents
from rag_baseline.documents import find_document_files, load_documents

DOCBOOK_PAGE = """<?xml version="1.0" encoding="UTF-8"?>
<html xmlns="http://www.w3.org/1999/xhtml"><head><title>{title}</title>
<style>body {{ color: red }}</style><script>var tracking = "SCRIPT-TEXT";</script></head>
<body><div class="navheader"><table><tr><th>NAV-HEADER {title}</th></tr>
<tr><td><a href="prev.html">Prev</a></td><td><a href="index.html">Home</a></td></tr></table></div>
<div class="sect1"><h2 class="title">{title}</h2><p>{body}</p>
<div class="sect2"><h3>Limits</h3><p>See <a href="other.html" title="Other page">the other page</a>
for the {title} limit of {n} units.</p></div></div>
<div class="navfooter"><table><tr><td>NAV-FOOTER Prev Up Next</td></tr></table></div></body></html>
"""

SITE_PAGE = """<!doctype html><html><head><title>Opening hours</title></head><body>
<header><h1>Northwind site</h1><nav><ul><li>Home</li><li>Shop</li></ul></nav></header>
<aside class="sidebar">SIDEBAR-TEXT</aside>
<main><article><h1>Opening hours</h1><p>Stores open at 9 am on weekdays.</p>
<h2>Sunday</h2><p>On Sundays stores open from 11 am to 5 pm.</p></article></main>
<footer>FOOTER-TEXT © Northwind</footer></body></html>
"""

W_NS = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def write_docx(path: Path, paragraphs: list[tuple[str | None, str]]) -> None:
    """A minimal .docx: (style id, text) paragraphs; Heading1..3 styles are declared by name."""
    styles = "".join(
        f'<w:style w:type="paragraph" w:styleId="Heading{i}"><w:name w:val="heading {i}"/></w:style>' for i in (1, 2, 3)
    )
    body = "".join(
        f'<w:p><w:pPr><w:pStyle w:val="{style}"/></w:pPr><w:r><w:t>{text}</w:t></w:r></w:p>'
        if style
        else f"<w:p><w:r><w:t>{text}</w:t></w:r></w:p>"
        for style, text in paragraphs
    )
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.'
            'wordprocessingml.document.main+xml"/></Types>',
        )
        z.writestr(
            "_rels/.rels",
            '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{REL}/officeDocument" Target="word/document.xml"/></Relationships>',
        )
        z.writestr(
            "word/_rels/document.xml.rels",
            '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{REL}/styles" Target="styles.xml"/></Relationships>',
        )
        z.writestr("word/styles.xml", f'<?xml version="1.0"?><w:styles {W_NS}>{styles}</w:styles>')
        z.writestr("word/document.xml", f'<?xml version="1.0"?><w:document {W_NS}><w:body>{body}</w:body></w:document>')


def write_pptx(path: Path) -> None:
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[1])
    slide.shapes.title.text = "Roadmap"
    slide.placeholders[1].text = "The kiosk launches in March."
    untitled = deck.slides.add_slide(deck.slide_layouts[6])
    untitled.shapes.add_textbox(Inches(1), Inches(1), Inches(5), Inches(1)).text_frame.text = "Budget is 4,200 euros."
    deck.save(str(path))


def write_pdf(path: Path, pages: list[list[str]], outline: list[tuple[str, int, int | None]]) -> None:
    """A text PDF (one line per string, Helvetica) with outline entries (title, page, parent entry index)."""
    from pypdf import PdfReader, PdfWriter

    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{' '.join(f'{4 + 2 * i} 0 R' for i in range(len(pages)))}] /Count {len(pages)} >>",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for i, lines in enumerate(pages):
        ops = " ".join(f"BT /F1 12 Tf 72 {720 - 20 * j} Td ({line}) Tj ET" for j, line in enumerate(lines))
        objects.append(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {5 + 2 * i} 0 R >>"
        )
        objects.append(f"<< /Length {len(ops)} >>\nstream\n{ops}\nendstream")
    raw = io.BytesIO()
    raw.write(b"%PDF-1.4\n")
    offsets = []
    for number, obj in enumerate(objects, start=1):
        offsets.append(raw.tell())
        raw.write(f"{number} 0 obj\n{obj}\nendobj\n".encode())
    xref = raw.tell()
    raw.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    raw.write("".join(f"{offset:010d} 00000 n \n" for offset in offsets).encode())
    raw.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    writer = PdfWriter()
    writer.append(PdfReader(io.BytesIO(raw.getvalue())))
    entries: list[object] = []
    for title, page, parent in outline:
        entries.append(
            writer.add_outline_item(
                title=title, page_number=page, parent=entries[parent] if parent is not None else None
            )
        )
    with path.open("wb") as handle:
        writer.write(handle)


def test_html_keeps_main_content_and_strips_navigation(tmp_path: Path) -> None:
    (tmp_path / "limits.html").write_text(
        DOCBOOK_PAGE.format(title="Connection Limits", body="Each role may open.", n=7)
    )
    (tmp_path / "hours.htm").write_text(SITE_PAGE)
    docs = {d.source: d for d in load_documents(tmp_path)}
    assert set(docs) == {"limits.html", "hours.htm"}
    for doc in docs.values():
        for chrome in ("NAV-HEADER", "NAV-FOOTER", "SCRIPT-TEXT", "color: red", "SIDEBAR", "FOOTER-TEXT", "Shop"):
            assert chrome not in doc.text, (doc.source, chrome)
    assert "other.html" not in docs["limits.html"].text  # link targets dropped, anchor text kept
    assert "the other page" in docs["limits.html"].text
    chunks = {c.heading: c for c in chunk_documents(list(docs.values()), size=400, overlap=0)}
    assert chunks["Connection Limits > Limits"].text.startswith("Connection Limits > Limits\n")
    assert "limit of 7 units" in chunks["Connection Limits > Limits"].text
    sunday = chunks["Opening hours > Sunday"]
    assert sunday.id == "hours.htm#opening-hours/sunday/0" and "11 am to 5 pm" in sunday.text
    assert "Northwind site" not in " ".join(c.text for c in chunks.values())  # the site banner is not content


def test_docx_and_pptx_give_heading_paths(tmp_path: Path) -> None:
    write_docx(
        tmp_path / "handbook.docx",
        [("Heading1", "Handbook"), ("Heading2", "Leave"), (None, "Staff get 31 days of leave a year.")],
    )
    write_pptx(tmp_path / "plan.pptx")
    chunks = chunk_documents(load_documents(tmp_path), size=400, overlap=0)
    by_heading = {c.heading: c for c in chunks}
    assert "31 days of leave" in by_heading["Handbook > Leave"].text
    assert by_heading["Handbook > Leave"].id == "handbook.docx#handbook/leave/0"
    assert "kiosk launches in March" in by_heading["Roadmap"].text
    assert "4,200 euros" in by_heading["Slide 2"].text  # an untitled slide is named by its number


def test_pdf_sections_carry_outline_headings_and_pages(tmp_path: Path) -> None:
    write_pdf(
        tmp_path / "guide.pdf",
        [["Preface for readers.", "Installation", "Unpack the archive first."], ["Usage", "Run the tool daily."]],
        [("Guide", 0, None), ("Installation", 0, 0), ("Usage", 1, 0)],
    )
    chunks = chunk_documents(load_documents(tmp_path), size=400, overlap=0)
    got = [(c.heading, c.page, c.text.split("\n", 1)[1]) for c in chunks]
    assert got == [
        ("Guide", 1, "Preface for readers."),
        ("Guide > Installation", 1, "Installation\nUnpack the archive first."),
        ("Guide > Usage", 2, "Usage\nRun the tool daily."),
    ]
    assert chunks[2].text.startswith("Guide > Usage (page 2)\n")
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    with pytest.raises(BadInput, match=r"broken\.pdf: cannot read the PDF"):
        load_documents(tmp_path)


def test_damaged_office_file_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "notes.docx").write_bytes(b"not a zip file")
    with pytest.raises(BadInput, match=r"notes\.docx: cannot read the DOCX file"):
        load_documents(tmp_path)


def test_subfolders_are_indexed_and_ids_stay_stable_when_another_section_changes(tmp_path: Path) -> None:
    (tmp_path / "policies" / "eu").mkdir(parents=True)
    (tmp_path / "policies" / "eu" / "returns.md").write_text(
        "# Returns\n\n## Window\n\nReturns within 47 days.\n\n## Refunds\n\nRefunds take 5 days.\n"
    )
    (tmp_path / "top.txt").write_text("Top-level note.")
    first = chunk_documents(load_documents(tmp_path), size=200, overlap=0)
    assert {c.source for c in first} == {"policies/eu/returns.md", "top.txt"}
    ids = {c.heading: c.id for c in first}
    assert ids["Returns > Refunds"] == "policies/eu/returns.md#returns/refunds/0"

    path = tmp_path / "policies" / "eu" / "returns.md"
    path.write_text(path.read_text().replace("## Window\n\n", "## Window\n\nA new first paragraph.\n\n" * 3))
    second = {c.heading: c.id for c in chunk_documents(load_documents(tmp_path), size=30, overlap=0)}
    assert second["Returns > Refunds"] == ids["Returns > Refunds"]  # a running number would have moved


def test_symlinks_out_of_the_folder_are_skipped_with_a_message(tmp_path: Path) -> None:
    outside = tmp_path / "secret.md"
    outside.write_text("# Secret\nThe password is hunter2.")
    kb = tmp_path / "kb"
    (kb / "sub").mkdir(parents=True)
    (kb / "faq.md").write_text("# FAQ\nAsk us anything.")
    (kb / "leak.md").symlink_to(outside)
    (kb / "sub" / "alias.md").symlink_to(kb / "faq.md")  # a link inside the folder is fine
    (kb / "linked").symlink_to(tmp_path, target_is_directory=True)  # linked folders are never followed
    messages: list[str] = []
    files = find_document_files(kb, on_skip=messages.append)
    assert [f.relative_to(kb).as_posix() for f in files] == ["faq.md", "sub/alias.md"]
    assert any("leak.md" in m and "outside the knowledge folder" in m for m in messages)
    assert any("linked" in m and "not followed" in m for m in messages)
    assert all("hunter2" not in d.text for d in load_documents(kb))


def test_index_ids_are_stable_across_runs_and_progress_is_printed_when_piped(
    cli, capsys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "hours.html").write_text(SITE_PAGE)
    write_docx(kb / "leave.docx", [("Heading1", "Leave"), (None, "Staff get 31 days of leave a year.")])
    (kb / "leak.md").symlink_to(tmp_path / "missing-or-outside.md")
    monkeypatch.setenv("POSTTRAIN_PROGRESS_INTERVAL", "0")  # a line per step instead of every 10 s
    ids = []
    for store in ("store-a", "store-b"):
        code, out, err = cli("rag", "index", str(kb), "--store", str(tmp_path / store), "--json", capsys=capsys)
        assert code == 0, err
        info = json.loads(out)
        assert info["documents"] == 2 and any("leak.md" in s for s in info["skipped"])
        assert "indexing: read 1/2 documents" in err and "indexing: embedded" in err and "chunks/s" in err
        assert "leak.md: skipped" in err

        from rag_baseline.store import get_collection, open_client

        collection = get_collection(open_client(tmp_path / store), "knowledge")
        ids.append(sorted(collection.get()["ids"]))
    assert ids[0] == ids[1] and "hours.html#opening-hours/sunday/0" in ids[0]

    code, out, err = cli(
        "rag",
        "query",
        "When do stores open on Sunday?",
        "--store",
        str(tmp_path / "store-a"),
        "-k",
        "1",
        "--json",
        capsys=capsys,
    )
    assert code == 0, err
    hit = json.loads(out)["hits"][0]
    assert hit["source"] == "hours.html" and hit["heading"] == "Opening hours > Sunday"


def test_progress_is_a_bar_on_a_terminal_and_lines_when_piped() -> None:
    from rag_baseline.progress import IndexProgress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    bar = IndexProgress(stream=screen, interval_s=0)
    bar.start("embedding", 100)
    bar.advance(40)
    bar.finish()
    assert "embedding" in screen.getvalue() and "40/100" in screen.getvalue() and "\x1b[" in screen.getvalue()

    log = io.StringIO()
    lines = IndexProgress(stream=log, interval_s=0)
    lines.start("reading", 3)
    lines.advance(1, chunks=5)
    lines.finish()
    lines.start("embedding", 5)
    lines.advance(5)
    lines.finish()
    assert log.getvalue().splitlines()[0] == "indexing: read 1/3 documents (5 chunks so far)"
    assert log.getvalue().splitlines()[-1].startswith("indexing: embedded 5/5 chunks, ")
    assert "\x1b[" not in log.getvalue() and set(lines.seconds) == {"reading", "embedding"}

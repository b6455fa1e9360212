"""The retrieval baseline: chunking, a persistent chromadb index that is rebuilt only when documents
change, top-k retrieval with source ids, the prompt layout, and ``posttrain rag index|query``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posttrain.errors import BadInput
from rag_baseline.chunking import chunk_documents, split_text
from rag_baseline.documents import load_documents
from rag_baseline.prompt import with_context
from rag_baseline.retrieve import Hit

KNOWLEDGE = Path(__file__).resolve().parent.parent / "examples" / "support-assistant" / "knowledge"


@given(
    text=st.text(alphabet=st.sampled_from("ab .\n"), max_size=400),
    size=st.integers(min_value=5, max_value=80),
)
@settings(max_examples=200, deadline=None)
def test_split_text_bounds_pieces_and_loses_nothing(text: str, size: int) -> None:
    pieces = split_text(text, size)
    assert all(0 < len(p) <= size for p in pieces)
    # Without overlap, the pieces are the text cut at break points: nothing lost, nothing repeated.
    assert "".join("".join(p.split()) for p in pieces) == "".join(text.split())


@given(text=st.text(alphabet=st.sampled_from("abc \n"), max_size=300), overlap=st.integers(0, 19))
@settings(max_examples=100, deadline=None)
def test_split_text_with_overlap_terminates_within_size(text: str, overlap: int) -> None:
    pieces = split_text(text, 20, overlap)
    assert all(len(p) <= 20 for p in pieces)
    assert len(pieces) <= len(text) + 1


def test_markdown_chunks_name_their_section_and_have_unique_ids() -> None:
    chunks = chunk_documents(load_documents(KNOWLEDGE), size=800, overlap=100)
    ids = [c.id for c in chunks]
    assert len(ids) == len(set(ids))
    window = next(c for c in chunks if "47 days from the delivery date" in c.text)
    assert window.source == "returns.md"
    assert window.text.startswith("Returns and exchanges > Return window\n")


def test_jsonl_and_text_documents(tmp_path: Path) -> None:
    (tmp_path / "faq.jsonl").write_text(
        json.dumps({"id": "q1", "title": "Hours", "text": "Open daily."}) + "\n\n" + json.dumps({"text": "Two."}) + "\n"
    )
    (tmp_path / "notes.txt").write_text("Plain notes.")
    (tmp_path / ".hidden.md").write_text("# skipped")
    docs = load_documents(tmp_path)
    assert [d.source for d in docs] == ["faq.jsonl:q1", "faq.jsonl:3", "notes.txt"]
    assert chunk_documents(docs, 100, 0)[0].text == "Hours\nOpen daily."


def test_with_context_puts_sources_in_the_last_user_turn_and_keeps_the_rest() -> None:
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Shipping cost?"}]
    hits = [
        Hit(id="shipping.md#0", source="shipping.md", text="Standard shipping costs $7.95.", score=0.8),
        Hit(id="shipping.md#1", source="shipping.md", text="Orders of $89 ship free.", score=0.6),
    ]
    out = with_context(messages, hits)
    assert out[0] == messages[0]
    assert out[1]["content"].index("[shipping.md#0]") < out[1]["content"].index("[shipping.md#1]")
    assert out[1]["content"].endswith("Shipping cost?")
    assert messages[1]["content"] == "Shipping cost?"  # the caller's list is not changed
    assert with_context(messages, []) == messages


@pytest.fixture(scope="module")
def knowledge_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("kb") / "knowledge"
    shutil.copytree(KNOWLEDGE, target)
    return target


@pytest.fixture(scope="module")
def built_store(knowledge_copy: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from rag_baseline.index import build_index

    store = tmp_path_factory.mktemp("store")
    info = build_index(knowledge_copy, store, chunk_size=800, chunk_overlap=100)
    assert info.rebuilt and info.documents == 12 and info.chunks > 12
    return store


def test_index_is_persistent_and_retrieval_finds_the_policy(built_store: Path) -> None:
    from rag_baseline.retrieve import Retriever

    hits = Retriever(built_store, "knowledge").search("How long is the return window?", k=3)
    assert len(hits) == 3
    assert hits[0].source == "returns.md" and "47 days" in hits[0].text
    assert hits[0].id.startswith("returns.md#")
    assert len({h.id for h in hits}) == 3 and all(-1.0 <= h.score <= 1.0 for h in hits)  # fused order, cosine scores


def test_keywords_find_an_identifier_the_embeddings_rank_below_its_paraphrases(tmp_path: Path) -> None:
    from rag_baseline.embeddings import embed
    from rag_baseline.index import build_index
    from rag_baseline.retrieve import Retriever

    docs = tmp_path / "docs"
    docs.mkdir()
    for i, text in enumerate(
        [
            "Every error the server reports has a code and a message that says what it means.",
            "An error code is five characters; the message explains what the error means and what to do.",
            "When an error is raised, its meaning is given by the code's class, the first two characters.",
            "Client programs should look at an error's code, not its message text, to decide what it means.",
            "Errors in the log carry their code, so you can look up what each error means later.",
        ]
    ):
        (docs / f"errors{i}.md").write_text(f"# Errors {i}\n\n{text}\n")
    (docs / "deadlock.md").write_text(
        "# Deadlocks\n\nTwo transactions waited for each other; one was cancelled with 40P01.\n"
    )
    build_index(docs, tmp_path / "store")
    retriever = Retriever(tmp_path / "store")
    question = "What does error 40P01 mean?"
    by_embedding = retriever._collection.query(query_embeddings=embed([question]), n_results=1)["metadatas"][0]
    assert by_embedding[0]["source"] != "deadlock.md"  # alone, the embeddings prefer the paraphrases
    assert retriever.search(question, k=1)[0].source == "deadlock.md"


def test_index_rebuilds_only_when_documents_or_settings_change(knowledge_copy: Path, built_store: Path) -> None:
    from rag_baseline.index import build_index
    from rag_baseline.retrieve import Retriever

    same = build_index(knowledge_copy, built_store, chunk_size=800, chunk_overlap=100)
    assert not same.rebuilt
    manifest = json.loads((built_store / "manifest.json").read_text())
    assert manifest["knowledge"]["fingerprint"] == same.fingerprint

    (knowledge_copy / "pets.md").write_text("# Pets\n\n## Dogs in stores\n\nLeashed dogs are welcome in every store.\n")
    changed = build_index(knowledge_copy, built_store, chunk_size=800, chunk_overlap=100)
    assert changed.rebuilt and changed.fingerprint != same.fingerprint and changed.chunks == same.chunks + 1
    assert Retriever(built_store).search("Can I bring my dog?", k=1)[0].source == "pets.md"

    resized = build_index(knowledge_copy, built_store, chunk_size=400, chunk_overlap=50)
    assert resized.rebuilt
    (knowledge_copy / "pets.md").unlink()
    assert build_index(knowledge_copy, built_store, chunk_size=800, chunk_overlap=100).fingerprint == same.fingerprint


def test_failed_rebuild_keeps_the_previous_index(
    knowledge_copy: Path, built_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rag_baseline.index as index_module
    from rag_baseline.retrieve import Retriever

    before = len(Retriever(built_store))

    def broken_embed(texts: list[str], **kwargs: object) -> None:
        raise RuntimeError("killed mid-build")

    monkeypatch.setattr(index_module, "embed", broken_embed)
    with pytest.raises(RuntimeError):
        index_module.build_index(knowledge_copy, built_store, chunk_size=300, chunk_overlap=0)
    assert len(Retriever(built_store)) == before


def test_cli_index_and_query(cli, capsys, knowledge_copy: Path, built_store: Path) -> None:
    code, out, err = cli("rag", "index", str(knowledge_copy), "--store", str(built_store), "--json", capsys=capsys)
    assert code == 0, err
    info = json.loads(out)
    assert info["collection"] == "knowledge" and info["rebuilt"] is False

    code, out, err = cli(
        "rag",
        "query",
        "Which carrier delivers parcels?",
        "--store",
        str(built_store),
        "-k",
        "2",
        "--json",
        capsys=capsys,
    )
    assert code == 0, err
    hits = json.loads(out)["hits"]
    assert len(hits) == 2 and "Parcelwing" in hits[0]["text"] and hits[0]["source"] == "shipping.md"

    code, out, _ = cli("rag", "query", "Sunday hours?", "--store", str(built_store), "-k", "1", capsys=capsys)
    assert code == 0 and "stores.md#" in out


@pytest.mark.parametrize(
    ("files", "needle"),
    [
        ({}, "holds no documents"),
        ({"bad.md": b"# Title\n\xff\xfe broken"}, "bad.md:2: not UTF-8"),
        ({"faq.jsonl": b'{"text": "ok"}\n{"text": \n'}, "faq.jsonl:2: not valid JSON"),
        ({"faq.jsonl": b'{"title": "no text"}\n'}, "faq.jsonl:1: no 'text' field"),
        ({"   .md": b"   \n"}, "all empty"),
    ],
)
def test_bad_documents_give_one_clear_line_and_exit_2(cli, capsys, tmp_path: Path, files, needle) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, data in files.items():
        (docs / name).write_bytes(data)
    code, _, err = cli("rag", "index", str(docs), "--store", str(tmp_path / "store"), capsys=capsys)
    assert code == 2
    assert needle in err and "Traceback" not in err
    assert not (tmp_path / "store").exists()  # nothing is written before the documents are read


def test_bad_store_collection_and_server_exit_2(cli, capsys, tmp_path: Path) -> None:
    code, _, err = cli("rag", "query", "anything", "--store", str(tmp_path / "nope"), capsys=capsys)
    assert code == 2 and "no index here" in err and "posttrain rag index" in err
    code, _, err = cli("rag", "index", str(KNOWLEDGE), "--collection", "kb", capsys=capsys)
    assert code == 2 and "3-512 characters" in err
    code, _, err = cli("rag", "index", str(KNOWLEDGE), "--chroma-url", "http://127.0.0.1:9", capsys=capsys)
    assert code == 2 and "cannot reach the Chroma server" in err


def test_pdf_without_pypdf_says_how_to_install(tmp_path: Path) -> None:
    try:
        import pypdf  # noqa: F401
    except ImportError:
        (tmp_path / "manual.pdf").write_bytes(b"%PDF-1.4\n")
        with pytest.raises(BadInput, match="pip install pypdf"):
            load_documents(tmp_path)
    else:  # pragma: no cover - where pypdf is installed a broken PDF is a clear error instead
        (tmp_path / "manual.pdf").write_bytes(b"not a pdf")
        with pytest.raises(BadInput, match=r"manual\.pdf"):
            load_documents(tmp_path)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_index_and_query_against_a_chroma_server(cli, capsys, tmp_path: Path) -> None:
    """``--chroma-url``: the same commands work against a real Chroma server (``chroma run``)."""
    import subprocess
    import sys
    import time
    import urllib.request

    chroma = Path(sys.executable).with_name("chroma")
    if not chroma.is_file():
        pytest.skip("the chroma server CLI is not installed beside this Python")
    port = _free_port()
    server = subprocess.Popen(
        [str(chroma), "run", "--path", str(tmp_path / "server-data"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):  # the server starts in well under a second here; allow 30 s on a busy machine
            try:
                urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        args = ("--chroma-url", url, "--store", str(tmp_path / "local"), "--json")
        code, out, err = cli("rag", "index", str(KNOWLEDGE), "--collection", "northwind-kb", *args, capsys=capsys)
        assert code == 0, err
        assert json.loads(out)["rebuilt"] is True
        code, out, err = cli("rag", "index", str(KNOWLEDGE), "--collection", "northwind-kb", *args, capsys=capsys)
        assert json.loads(out)["rebuilt"] is False  # the fingerprint lives in the server's collection metadata
        code, out, err = cli(
            "rag", "query", "How much is express shipping?", "--collection", "northwind-kb", *args, capsys=capsys
        )
        assert code == 0, err
        assert "$19.50" in json.loads(out)["hits"][0]["text"]
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_dry_run_index_estimate_counts_chunks_and_knows_an_up_to_date_index(
    knowledge_copy: Path, built_store: Path, tmp_path: Path
) -> None:
    from rag_baseline.estimate import estimate_index
    from rag_baseline.retrieve import Retriever

    current = estimate_index(knowledge_copy, built_store, 800, 100)
    assert current.up_to_date and current.seconds == 0 and current.chunks == len(Retriever(built_store))
    fresh = estimate_index(knowledge_copy, tmp_path / "no-store-yet", 800, 100)
    # 12 files: all of them are in the sample, so the chunk count is exact.
    assert not fresh.up_to_date and fresh.chunks == current.chunks
    assert fresh.seconds == pytest.approx(fresh.chunks / fresh.rate) and "assumed" in fresh.rate_source
    assert not (tmp_path / "no-store-yet").exists()

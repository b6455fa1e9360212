"""``posttrain rag index|query``: build a retrieval index of knowledge documents and search it.

Thin commands: parse, call :func:`rag_baseline.index.build_index` or
:class:`rag_baseline.retrieve.Retriever`, print. Heavy libraries load inside those calls.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

DEFAULT_STORE = Path("rag-store")

rag_app = typer.Typer(
    name="rag",
    help="The retrieval baseline: index knowledge documents into chromadb and query them.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)

StoreOption = Annotated[
    Path, typer.Option("--store", help="Folder of the embedded chromadb store (inside your experiment).")
]
CollectionOption = Annotated[str, typer.Option("--collection", help="Collection name (3-512 chars).")]
ChromaUrlOption = Annotated[
    str | None, typer.Option("--chroma-url", help="Use a Chroma server (http://host:port) instead of --store.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


@rag_app.command("index")
def index_command(
    docs: Annotated[
        Path,
        typer.Argument(
            help="A folder (subfolders included) or file of .md, .txt, .jsonl, .html, .docx, .pptx or .pdf documents."
        ),
    ],
    store: StoreOption = DEFAULT_STORE,
    chunk_size: Annotated[int, typer.Option("--chunk-size", help="Characters per chunk.")] = 800,
    chunk_overlap: Annotated[int, typer.Option("--chunk-overlap", help="Characters shared by neighbours.")] = 100,
    collection: CollectionOption = "knowledge",
    chroma_url: ChromaUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Chunk, embed (all-MiniLM-L6-v2, offline) and store DOCS; reuses the index when nothing changed.

    Shows progress on stderr (documents, chunks, chunks/s); HTML pages give their main content only.

    Example: posttrain rag index examples/support-assistant/knowledge --store rag-store
    """
    from rag_baseline.index import build_index

    info = build_index(docs, store, chunk_size, chunk_overlap, collection=collection, chroma_url=chroma_url)
    if as_json:
        typer.echo(json.dumps(info.model_dump(mode="json"), indent=2))
        return
    from rich.console import Console

    state = "indexed" if info.rebuilt else "up to date"
    Console(highlight=False).print(
        f"[bold]{state}[/]: {info.documents} documents → {info.chunks} chunks in collection "
        f"[cyan]{info.collection}[/] at {info.store} ({info.seconds:.1f} s)"
    )


@rag_app.command("query")
def query_command(
    question: Annotated[str, typer.Argument(help="What to search for.")],
    store: StoreOption = DEFAULT_STORE,
    k: Annotated[int, typer.Option("-k", "--top-k", help="Chunks to return.")] = 3,
    collection: CollectionOption = "knowledge",
    chroma_url: ChromaUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print the K best chunks for QUESTION (embedding + keyword search), with source ids and cosine scores.

    Example: posttrain rag query "How long is the return window?" --store rag-store -k 2
    """
    from rag_baseline.retrieve import Retriever

    hits = Retriever(store, collection, chroma_url=chroma_url).search(question, k)
    if as_json:
        typer.echo(json.dumps({"query": question, "hits": [h.model_dump() for h in hits]}, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("score", show_lines=True)
    table.add_column("source id", overflow="fold", max_width=40)  # ids carry the heading path: show it all
    table.add_column("text")
    for hit in hits:
        table.add_row(f"{hit.score:.3f}", hit.id, hit.text)
    Console(highlight=False).print(table)


def register(app: typer.Typer) -> None:
    """Add ``posttrain rag index|query`` to the root app."""
    app.add_typer(rag_app, name="rag")

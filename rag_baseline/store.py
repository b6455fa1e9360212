"""chromadb clients: an embedded ``PersistentClient`` in a folder, or an ``HttpClient`` to a Chroma server.

Telemetry is off in both. Collections are created without an embedding function: posttrain embeds
with its own offline model and hands chromadb the vectors, so chromadb never fetches its default
ONNX model.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from posttrain.errors import BadInput

# chromadb's rule: 3-512 characters of [a-zA-Z0-9._-], starting and ending with a letter or digit.
_COLLECTION_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{1,510})[A-Za-z0-9]$")


def check_collection_name(name: str) -> str:
    """Return ``name`` if chromadb accepts it, else raise :class:`BadInput` saying why.

    >>> check_collection_name("knowledge")
    'knowledge'
    >>> check_collection_name("kb")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    posttrain.errors.BadInput: --collection 'kb': a collection name needs 3-512 characters ...
    """
    if not _COLLECTION_NAME.match(name) or ".." in name:
        raise BadInput(
            f"--collection {name!r}: a collection name needs 3-512 characters of letters, digits, '.', '_' "
            "or '-', starting and ending with a letter or digit"
        )
    return name


def parse_chroma_url(url: str) -> tuple[str, int, bool]:
    """``(host, port, ssl)`` of a Chroma server URL.

    >>> parse_chroma_url("http://localhost:8000")
    ('localhost', 8000, False)
    >>> parse_chroma_url("https://chroma.example.com")
    ('chroma.example.com', 443, True)
    """
    parsed = urlparse(url if "://" in url else f"http://{url}")
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise BadInput(f"--chroma-url {url!r}: expected http://HOST:PORT or https://HOST[:PORT]")
    ssl = parsed.scheme == "https"
    try:
        port = parsed.port or (443 if ssl else 8000)
    except ValueError:
        raise BadInput(f"--chroma-url {url!r}: the port is not a number") from None
    return parsed.hostname, port, ssl


def open_client(store_dir: Path, chroma_url: str | None = None) -> Any:
    """A chromadb client: the server at ``chroma_url`` if given, else an embedded store in ``store_dir``."""
    import chromadb
    from chromadb.config import Settings

    settings = Settings(anonymized_telemetry=False)
    if chroma_url:
        host, port, ssl = parse_chroma_url(chroma_url)
        try:
            client = chromadb.HttpClient(host=host, port=port, ssl=ssl, settings=settings)
            client.heartbeat()
        except Exception as error:  # connection errors surface as several httpx/chromadb types
            raise BadInput(f"--chroma-url {chroma_url}: cannot reach the Chroma server ({error})") from None
        return client
    if store_dir.exists() and not store_dir.is_dir():
        raise BadInput(f"--store {store_dir}: exists and is not a folder")
    store_dir.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(store_dir), settings=settings)


def get_collection(client: Any, name: str) -> Any | None:
    """The collection ``name``, or None when it does not exist."""
    try:
        return client.get_collection(name, embedding_function=None)
    except Exception:  # chromadb raises NotFoundError (1.x) or ValueError (older) for a missing name
        return None

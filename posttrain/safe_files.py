"""Reading files a user (or an attacker) hands us: one clear message, fast, in bounded memory.

Every reader of a config, answers or data file goes through here, so the same rules hold everywhere:

- only regular files are opened: a FIFO would block forever, ``/dev/zero`` or ``/dev/urandom`` never
  end, a socket cannot be read; each is refused by name from ``stat`` before anything is opened;
- a size limit per file, with the environment variable that raises it in the message;
- YAML without alias bombs ("billion laughs"): the composed node graph is measured *with every alias
  expanded* before anything is constructed, and a document that would expand past the limit is
  refused (a few aliases for shared settings stay fine);
- nesting deeper than the parser's recursion is an error, not a ``RecursionError`` traceback.

This module is a leaf (standard library and PyYAML only): ``advisor`` uses it and must not import
``harness``.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from posttrain.errors import BadInput

DATA_LIMIT_ENV = "POSTTRAIN_MAX_FILE_MB"
YAML_LIMIT_ENV = "POSTTRAIN_MAX_YAML_MB"
# 1 GiB of JSONL is ~1M five-turn conversations; reading it costs ~3-4 GB of Python objects, the most a
# laptop should be asked for without the user saying so.
DEFAULT_DATA_LIMIT_MB = 1024
# Configs and answers files are a few KB; 8 MB leaves room for inlined prompts and stops a runaway file.
DEFAULT_YAML_LIMIT_MB = 8
# Nodes a YAML document may expand to with every alias followed. A 2,000-line experiment.yaml has ~10^4
# nodes; the classic 9-level billion-laughs expands to 10^9.
MAX_YAML_NODES = 200_000
_READ_CHUNK = 1 << 20


def _limit_mb(env: str, default: int) -> int:
    raw = os.environ.get(env, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadInput(f"{env}={raw!r}: expected a whole number of megabytes") from None
    if value < 1:
        raise BadInput(f"{env}={raw!r}: must be at least 1 (megabytes)")
    return value


def data_limit_bytes() -> int:
    """The most bytes one data file may hold (``POSTTRAIN_MAX_FILE_MB``, default 1024)."""
    return _limit_mb(DATA_LIMIT_ENV, DEFAULT_DATA_LIMIT_MB) * 1024 * 1024


def yaml_limit_bytes() -> int:
    """The most bytes one YAML/JSON config or answers file may hold (``POSTTRAIN_MAX_YAML_MB``, default 8)."""
    return _limit_mb(YAML_LIMIT_ENV, DEFAULT_YAML_LIMIT_MB) * 1024 * 1024


def _kind_of(mode: int) -> str | None:
    """Why a file of this mode cannot be read as data, or None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "is a directory, not a file"
    if stat.S_ISFIFO(mode):
        return "is a FIFO (named pipe), not a regular file; reading it could block forever"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "is a device, not a regular file; reading it may never end"
    if stat.S_ISSOCK(mode):
        return "is a socket, not a regular file"
    return "is not a regular file"


def regular_file_problem(path: str | Path) -> str | None:
    """Why ``path`` is not a readable regular file, in words (None when it is one); never opens it.

    >>> regular_file_problem("/dev/null")
    'is a device, not a regular file; reading it may never end'
    >>> regular_file_problem("/no/such/file") is None
    False
    """
    try:
        mode = os.stat(path).st_mode  # follows symlinks: a link to /dev/zero is a device
    except FileNotFoundError:
        return "no such file"
    except OSError as error:
        return f"cannot read ({error.strerror})"
    return _kind_of(mode)


def check_regular_file(
    path: str | Path, what: str = "file", limit: int | None = None, env: str = DATA_LIMIT_ENV
) -> int:
    """Raise :class:`BadInput` unless ``path`` is a regular file within ``limit`` bytes; return its size."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise BadInput(f"{path}: cannot read the {what}: no such file") from None
    except OSError as error:
        raise BadInput(f"{path}: cannot read the {what}: {error.strerror}") from None
    problem = _kind_of(info.st_mode)
    if problem is not None:
        raise BadInput(f"{path}: {problem}; pass a regular {what}")
    if limit is not None and info.st_size > limit:
        raise BadInput(_too_big(path, info.st_size, limit, env))
    return info.st_size


def _too_big(path: str | Path, size: int, limit: int, env: str) -> str:
    need = size // (1024 * 1024) + 1
    return (
        f"{path}: {size / 1024 / 1024:,.1f} MB is over the {limit // (1024 * 1024):,} MB limit per file; "
        f"raise it with {env}={need} (megabytes) if the file is meant to be this large"
    )


def read_bytes(path: str | Path, what: str = "file", limit: int | None = None, env: str = DATA_LIMIT_ENV) -> bytes:
    """The bytes of a regular file, refused (without blocking) when it is anything else or too large.

    ``limit`` defaults to the data limit; ``env`` names the variable that raises it, for the message.
    """
    limit = data_limit_bytes() if limit is None else limit
    check_regular_file(path, what, limit, env)
    # O_NONBLOCK: if the path was swapped for a FIFO after the stat, open() must not wait for a writer.
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as error:
        raise BadInput(f"{path}: cannot read the {what} ({error.strerror})") from None
    try:
        problem = _kind_of(os.fstat(fd).st_mode)  # the file actually opened, not the one stat saw
        if problem is not None:
            raise BadInput(f"{path}: {problem}; pass a regular {what}")
        chunks: list[bytes] = []
        total = 0
        while True:
            chunk = os.read(fd, _READ_CHUNK)
            if not chunk:
                break
            total += len(chunk)
            if total > limit:  # the file grew after the stat
                raise BadInput(_too_big(path, total, limit, env))
            chunks.append(chunk)
    except BlockingIOError:
        raise BadInput(f"{path}: would block on read; pass a regular {what}") from None
    except OSError as error:
        raise BadInput(f"{path}: cannot read the {what} ({error.strerror})") from None
    finally:
        os.close(fd)
    return b"".join(chunks)


def read_text(path: str | Path, what: str = "file", limit: int | None = None, env: str = DATA_LIMIT_ENV) -> str:
    """A regular UTF-8 text file (a UTF-8 BOM is dropped); every failure is one :class:`BadInput`."""
    data = read_bytes(path, what, limit, env)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise BadInput(f"{path}:{line}: not UTF-8 text ({error.reason} at byte {error.start})") from None


# ---------------------------------------------------------------- YAML


def expanded_size(root: Any, limit: int = MAX_YAML_NODES) -> int:
    """Nodes of a composed YAML graph with every alias expanded; stops counting past ``limit``.

    Aliases make the graph a DAG (or a cycle) that shares nodes; its expansion is what a consumer
    walking the constructed objects pays. Counted bottom-up with memoisation, so measuring a bomb is
    linear in the graph, not in its expansion. A cycle (``&a [*a]``) counts as over the limit.
    """
    import yaml

    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            on_path.discard(key)
            total = 1
            for child in _children(node, yaml):
                total += sizes[id(child)]
                if total > limit:
                    break
            sizes[key] = min(total, limit + 1)
            continue
        if key in sizes:
            continue
        if key in on_path:
            return limit + 1  # a recursive alias expands forever
        on_path.add(key)
        stack.append((node, True))
        for child in _children(node, yaml):
            if id(child) in on_path:
                return limit + 1
            if id(child) not in sizes:
                stack.append((child, False))
    return sizes[id(root)]


def _children(node: Any, yaml: Any) -> list[Any]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def load_yaml(text: str, source: str, max_nodes: int = MAX_YAML_NODES) -> Any:
    """Parse one YAML document safely: tags limited to plain data, aliases limited by expansion.

    Raises :class:`BadInput` ``source:line: why`` for bad YAML, an alias bomb, or nesting too deep.

    >>> load_yaml("a: &x [1, 2]\\nb: *x\\n", "c.yaml")
    {'a': [1, 2], 'b': [1, 2]}
    >>> bomb = "a: &a [x, x]\\n" + "".join(f"{c}: &{c} [*{p}, *{p}]\\n" for p, c in zip("abcdefghijklmnopqrstuvwxy",
    ...                                                                                 "bcdefghijklmnopqrstuvwxyz"))
    >>> load_yaml(bomb, "bomb.yaml")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    posttrain.errors.BadInput: bomb.yaml: the YAML expands to more than 200,000 values through its aliases ...
    """
    import yaml

    loader_class = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        node = yaml.compose(text, Loader=loader_class)  # the C composer shares alias nodes: cheap even for a bomb
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        raise BadInput(f"{where}: not valid YAML: {getattr(error, 'problem', None) or error}") from None
    except RecursionError:
        raise BadInput(f"{source}: the YAML is nested too deeply to read") from None
    if node is None:
        return None
    if expanded_size(node, max_nodes) > max_nodes:
        raise BadInput(
            f"{source}: the YAML expands to more than {max_nodes:,} values through its aliases (&anchor / *alias), "
            "or an alias refers to itself; an alias bomb is refused. Write the values out, or use fewer aliases"
        )
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_document(node)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        raise BadInput(f"{where}: not valid YAML: {getattr(error, 'problem', None) or error}") from None
    except RecursionError:
        raise BadInput(f"{source}: the YAML is nested too deeply to read") from None
    finally:
        loader.dispose()


def read_yaml(path: str | Path, what: str = "YAML file") -> tuple[Any, str]:
    """Read a regular YAML file within the YAML size limit; returns ``(data, text)``."""
    text = read_text(path, what, yaml_limit_bytes(), YAML_LIMIT_ENV)
    return load_yaml(text, str(path)), text

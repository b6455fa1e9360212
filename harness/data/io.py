"""Read rows from JSONL, JSON, CSV, Parquet files or a Hugging Face ``datasets`` name.

Every row keeps where it came from (``file:line``), so a later check can point at it. Bad input never
ends in a traceback: a missing file, a directory, an empty file, bytes that are not UTF-8, a
truncated last line, a CSV row with the wrong number of fields — each becomes one message with the
file and line. :func:`read_table` can *collect* unparsable lines instead of stopping at the first one
(``posttrain data check`` reports them all); :func:`read_records` stops at the first.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from posttrain.errors import BadInput

SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".parquet": "parquet"}
_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
# A line that fails to parse is quoted in the message, but never more than this (think: a 10 MB line).
_SNIPPET = 60


@dataclass(frozen=True)
class LineProblem:
    """A line (or item) that could not be read as a row."""

    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


@dataclass
class Table:
    """Rows read from one source, with the line each came from and the lines that failed."""

    source: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    problems: list[LineProblem] = field(default_factory=list)
    unit: str = "line"  # "line" for text files, "row" for Parquet and datasets

    def where(self, index: int) -> str:
        """``file:line`` of row ``index`` (``file:row N`` for sources without lines)."""
        if self.unit == "line":
            return f"{self.source}:{self.lines[index]}"
        return f"{self.source}:row {self.lines[index]}"


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """Read all rows; raise :class:`BadInput` (``file:line: why``) at the first line that is not a row."""
    return read_table(path).rows


def read_table(path: str | Path, *, collect: bool = False) -> Table:
    """Read ``path`` into a :class:`Table`.

    With ``collect=False`` the first unparsable line raises :class:`BadInput`; with ``collect=True``
    such lines are listed in ``Table.problems`` and reading goes on. Problems with the source as a
    whole (missing, a directory, empty, an unknown suffix) always raise.
    """
    spec = str(path)
    p = Path(spec).expanduser()
    if not p.exists():
        if _looks_like_dataset_name(spec):
            return _read_hf_dataset(spec)
        raise BadInput(f"{spec}: no such file; pass a .jsonl, .json, .csv or .parquet file or a datasets name")
    if p.is_dir():
        if (p / "dataset_info.json").is_file() or (p / "state.json").is_file():
            return _read_saved_dataset(p)
        raise BadInput(
            f"{spec}: is a directory; pass one data file (.jsonl, .json, .csv, .parquet) "
            "or a directory written by datasets' save_to_disk"
        )
    kind = SUFFIXES.get(p.suffix.lower())
    if kind == "parquet":
        return _read_parquet(p)
    data = _read_bytes(p)
    if kind is None:
        # Sniff: JSON Lines and JSON both start with '{' or '['; anything else is not ours to guess.
        head = data.lstrip()[:1]
        if head in (b"{", b"["):
            kind = "json" if head == b"[" else "jsonl"
        else:
            raise BadInput(f"{spec}: unknown file type {p.suffix!r}; use .jsonl, .json, .csv or .parquet")
    text_problems: list[LineProblem] = []
    text = _decode(p, data, text_problems, collect)
    if kind == "jsonl":
        table = _read_jsonl(p, text, collect)
    elif kind == "json":
        table = _read_json(p, text, collect)
    else:
        table = _read_csv(p, text, collect)
    table.problems[:0] = text_problems
    if not table.rows and not table.problems:
        raise BadInput(f"{spec}: no rows in the file")
    return table


def _looks_like_dataset_name(spec: str) -> bool:
    # "org/name" or "org/name:split"; a path with a data suffix is a missing file, not a dataset.
    name = spec.split(":", 1)[0]
    return Path(name).suffix.lower() not in SUFFIXES and not spec.startswith((".", "/", "~")) and name.count("/") <= 1


def _read_bytes(p: Path) -> bytes:
    try:
        data = p.read_bytes()
    except OSError as error:
        raise BadInput(f"{p}: cannot read ({error.strerror})") from None
    if not data.strip():
        raise BadInput(f"{p}: the file is empty; expected one JSON object per line, a JSON array, or a CSV header")
    return data


def _decode(p: Path, data: bytes, problems: list[LineProblem], collect: bool) -> str:
    """Decode UTF-8 (a BOM is dropped; UTF-16 with a BOM is accepted); bad bytes name their line."""
    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM) :]
    elif data.startswith(_UTF16_BOMS):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as error:
            raise BadInput(f"{p}: starts with a UTF-16 mark but is not valid UTF-16 ({error.reason})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    # Find every bad line so the message can say where; decoding by line keeps the good ones.
    lines = data.split(b"\n")
    out = []
    for number, raw in enumerate(lines, start=1):
        try:
            out.append(raw.decode("utf-8"))
        except UnicodeDecodeError as error:
            problem = LineProblem(
                f"{p}:{number}",
                f"not valid UTF-8 (byte 0x{raw[error.start]:02x} at column {error.start + 1}); "
                "re-save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)",
            )
            if not collect:
                raise BadInput(str(problem)) from None
            problems.append(problem)
            out.append("")  # keeps line numbers aligned; an empty line is skipped
    return "\n".join(out)


def _snippet(text: str) -> str:
    return repr(text[:_SNIPPET] + ("…" if len(text) > _SNIPPET else ""))


def _read_jsonl(p: Path, text: str, collect: bool) -> Table:
    table = Table(source=str(p))
    lines = text.split("\n")
    last = len(lines)
    while last > 0 and not lines[last - 1].strip():
        last -= 1
    for number, line in enumerate(lines[:last], start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            if number == last and not text.endswith("\n") and error.msg.startswith(("Unterminated", "Expecting")):
                why = "truncated JSON at the end of the file (was the write interrupted?); delete or complete it"
            else:
                why = f"not valid JSON ({error.msg} at column {error.colno}): {_snippet(line)}"
            _problem(table, LineProblem(f"{p}:{number}", why), collect)
            continue
        if not isinstance(row, dict):
            why = f"expected a JSON object, got {_json_type(row)}"
            _problem(table, LineProblem(f"{p}:{number}", why), collect)
            continue
        table.rows.append(row)
        table.lines.append(number)
    return table


def _read_json(p: Path, text: str, collect: bool) -> Table:
    """A JSON array of objects (each row keeps its line), or ``{"data"|"train"|...: [...]}``."""
    stripped = text.lstrip()
    if stripped.startswith("["):
        return _read_json_array(p, text, collect)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as error:
        raise BadInput(f"{p}:{error.lineno}: not valid JSON ({error.msg} at column {error.colno})") from None
    if isinstance(doc, dict):
        lists = [key for key, value in doc.items() if isinstance(value, list)]
        if len(lists) == 1 and all(isinstance(item, dict) for item in doc[lists[0]]):
            table = Table(source=f"{p}", unit="row")
            table.rows = doc[lists[0]]
            table.lines = list(range(1, len(table.rows) + 1))
            return table
        if lists and len(lists) == len(doc) and len({len(doc[k]) for k in lists}) == 1:  # columns
            n = len(doc[lists[0]])
            table = Table(source=f"{p}", unit="row")
            table.rows = [{k: doc[k][i] for k in lists} for i in range(n)]
            table.lines = list(range(1, n + 1))
            return table
        if not lists:  # one object: a JSON Lines file with a single row, or a JSON file with one row
            return Table(source=str(p), rows=[doc], lines=[1])
    raise BadInput(f"{p}:1: expected a JSON array of objects (or one key holding such an array)")


def _read_json_array(p: Path, text: str, collect: bool) -> Table:
    table = Table(source=str(p))
    decoder = json.JSONDecoder()
    n = len(text)
    i = _skip_ws(text, 0) + 1  # past '['
    line = 1 + text.count("\n", 0, i)
    pos_counted = i
    while True:
        i = _skip_ws(text, i)
        if i >= n:
            raise BadInput(f"{p}:{line}: truncated JSON: the array is not closed (was the write interrupted?)")
        if text[i] == "]":
            break
        line += text.count("\n", pos_counted, i)
        pos_counted = i
        try:
            item, end = decoder.raw_decode(text, i)
        except json.JSONDecodeError as error:
            why = "truncated JSON at the end of the file" if error.pos >= n - 1 else f"not valid JSON ({error.msg})"
            raise BadInput(f"{p}:{error.lineno}: {why}") from None
        if isinstance(item, dict):
            table.rows.append(item)
            table.lines.append(line)
        else:
            _problem(table, LineProblem(f"{p}:{line}", f"expected a JSON object, got {_json_type(item)}"), collect)
        i = _skip_ws(text, end)
        if i < n and text[i] == ",":
            i += 1
        elif i < n and text[i] == "]":
            break
        else:
            line += text.count("\n", pos_counted, min(i, n))
            raise BadInput(f"{p}:{line}: not valid JSON (expected ',' or ']' after an item)")
    return table


def _skip_ws(text: str, i: int) -> int:
    n = len(text)
    while i < n and text[i] in " \t\r\n":
        i += 1
    return i


def _read_csv(p: Path, text: str, collect: bool) -> Table:
    table = Table(source=str(p))
    # The default field limit is 128 KiB; one long document per cell is normal in training data.
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    reader = csv.reader(_lines_keeping_ends(text))
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as error:
        raise BadInput(f"{p}:1: cannot read the CSV header ({error})") from None
    header = [name.strip() for name in header]
    if not any(header):
        raise BadInput(f"{p}:1: the CSV header is empty")
    start = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            _problem(table, LineProblem(f"{p}:{reader.line_num}", f"not valid CSV ({error})"), collect)
            continue
        number, start = start, reader.line_num + 1
        if not cells or all(not c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            why = f"{len(cells)} fields but the header has {len(header)}; quote fields that contain commas"
            _problem(table, LineProblem(f"{p}:{number}", why), collect)
            continue
        table.rows.append({name: _cell(value) for name, value in zip(header, cells, strict=True)})
        table.lines.append(number)
    return table


def _lines_keeping_ends(text: str) -> Iterator[str]:
    return iter(text.splitlines(keepends=True))


def _cell(value: str) -> Any:
    """CSV cells are text; a cell holding a JSON list or object (e.g. ``messages``) is decoded."""
    s = value.strip()
    if s[:1] in ("[", "{") and s[-1:] in ("]", "}"):
        try:
            return json.loads(s)
        except json.JSONDecodeError:
            return value
    return value


def _read_parquet(p: Path) -> Table:
    import pyarrow.parquet as pq

    try:
        rows = pq.read_table(p).to_pylist()
    except Exception as error:  # pyarrow raises several types for corrupt or non-Parquet files
        raise BadInput(f"{p}: not a readable Parquet file ({type(error).__name__}: {error})") from None
    if not rows:
        raise BadInput(f"{p}: no rows in the file")
    return Table(source=str(p), rows=rows, lines=list(range(1, len(rows) + 1)), unit="row")


def _read_hf_dataset(spec: str) -> Table:
    name, _, split = spec.partition(":")
    try:
        import datasets

        ds = datasets.load_dataset(name, split=split or "train")
    except Exception as error:  # offline and not cached, no such dataset, no such split
        raise BadInput(
            f"{spec}: no such file, and the datasets name could not be loaded ({type(error).__name__}); "
            "pass a local file, or a datasets name (NAME[:SPLIT]) that is cached or reachable"
        ) from None
    rows = ds.to_list()
    return Table(source=spec, rows=rows, lines=list(range(1, len(rows) + 1)), unit="row")


def _read_saved_dataset(p: Path) -> Table:
    import datasets

    try:
        ds = datasets.load_from_disk(str(p))
    except Exception as error:
        raise BadInput(f"{p}: not a readable saved dataset ({type(error).__name__}: {error})") from None
    if isinstance(ds, datasets.DatasetDict):
        if "train" not in ds:
            raise BadInput(f"{p}: a DatasetDict without a 'train' split (has {', '.join(ds)})")
        ds = ds["train"]
    rows = ds.to_list()
    return Table(source=str(p), rows=rows, lines=list(range(1, len(rows) + 1)), unit="row")


def _problem(table: Table, problem: LineProblem, collect: bool) -> None:
    if not collect:
        raise BadInput(str(problem))
    table.problems.append(problem)


def _json_type(value: object) -> str:
    return {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean"}.get(
        type(value), "null"
    )

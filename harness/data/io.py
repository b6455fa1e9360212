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
import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from posttrain import safe_files
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
    note: str | None = None  # how the rows were mapped into a TRL format, when they were (see mapping.py)

    def where(self, index: int) -> str:
        """``file:line`` of row ``index`` (``file:row N`` for sources without lines)."""
        if self.unit == "line":
            return f"{self.source}:{self.lines[index]}"
        return f"{self.source}:row {self.lines[index]}"


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """Read all rows; raise :class:`BadInput` (``file:line: why``) at the first line that is not a row."""
    return read_table(path).rows


def read_table(path: str | Path, *, collect: bool = False, split: str | None = None) -> Table:
    """Read ``path`` into a :class:`Table`.

    With ``collect=False`` the first unparsable line raises :class:`BadInput`; with ``collect=True``
    such lines are listed in ``Table.problems`` and reading goes on. Problems with the source as a
    whole (missing, a directory, a FIFO or device, too large, empty, an unknown suffix) always raise.
    ``split`` picks the split of a ``DatasetDict`` folder or a datasets name (default ``train``).
    """
    spec = str(path)
    p = Path(spec).expanduser()
    if not p.exists() and not p.is_symlink():
        if _looks_like_dataset_name(spec):
            return _read_hf_dataset(spec, split)
        raise BadInput(f"{spec}: no such file; pass a .jsonl, .json, .csv or .parquet file or a datasets name")
    if p.is_dir():
        if (p / "dataset_info.json").is_file() or (p / "state.json").is_file() or (p / "dataset_dict.json").is_file():
            return _read_saved_dataset(p, split)
        raise BadInput(
            f"{spec}: is a directory; pass one data file (.jsonl, .json, .csv, .parquet) "
            "or a directory written by datasets' save_to_disk"
        )
    kind = SUFFIXES.get(p.suffix.lower())
    if kind == "parquet":
        safe_files.check_regular_file(p, "data file", safe_files.data_limit_bytes())
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
    del data  # the bytes are not needed once decoded: a 1 GB file should not cost 2 GB here
    if kind == "jsonl" and _pretty_printed(text):
        # A JSON array, or objects spread over several lines, saved as .jsonl: read it as JSON, and say so.
        table = _read_json(p, text, collect) if text.lstrip().startswith("[") else _read_concatenated(p, text, collect)
        table.note = f"{spec}: pretty-printed JSON, not one object per line; read as JSON"
    elif kind == "jsonl":
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
    # Regular files only, within the size limit: a FIFO, /dev/zero or a socket is refused before opening.
    data = safe_files.read_bytes(p, "data file")
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
    ends_with_newline = text.endswith("\n")
    size = len(text)
    pos, number = 0, 0
    # Line by line without splitting the whole text into a list first (a second copy of a 1 GB file).
    while pos < size:
        end = text.find("\n", pos)
        if end == -1:
            end = size
        line = text[pos:end]
        pos, number = end + 1, number + 1
        if not line.strip():
            continue
        try:
            row = loads_strict(line)
        except json.JSONDecodeError as error:
            last = end == size or not text[end:].strip()
            if last and not ends_with_newline and error.msg.startswith(("Unterminated", "Expecting")):
                why = "truncated JSON at the end of the file (was the write interrupted?); delete or complete it"
            else:
                why = f"not valid JSON ({error.msg} at column {error.colno}): {_snippet(line)}"
            _problem(table, LineProblem(f"{p}:{number}", why), collect)
            continue
        except (ValueError, RecursionError) as error:
            _problem(table, LineProblem(f"{p}:{number}", _value_problem(error)), collect)
            continue
        if not isinstance(row, dict):
            why = f"expected a JSON object, got {_json_type(row)}"
            _problem(table, LineProblem(f"{p}:{number}", why), collect)
            continue
        table.rows.append(row)
        table.lines.append(number)
    return table


def _pretty_printed(text: str) -> bool:
    """True when a .jsonl file starts with an array or object that its first line does not close."""
    stripped = text.lstrip()
    first, _, rest = stripped.partition("\n")
    if not first.startswith(("{", "[")) or not rest.strip():
        return False  # one line: JSON Lines, whose reader names a truncated line as such
    try:
        loads_strict(first)
    except json.JSONDecodeError:
        return True
    except (ValueError, RecursionError):
        return False  # a complete line with a bad value: JSON Lines, reported per line
    return False


def _read_concatenated(p: Path, text: str, collect: bool) -> Table:
    """Objects one after another, each over several lines (``{...}\n{...}``), or one object holding a list."""
    table = Table(source=str(p))
    i, n = _skip_ws(text, 0), len(text)
    while i < n:
        line = 1 + text.count("\n", 0, i)
        try:
            item, end = _STRICT_DECODER.raw_decode(text, i)
        except json.JSONDecodeError as error:
            raise BadInput(f"{p}:{error.lineno}: not valid JSON ({error.msg} at column {error.colno})") from None
        except (ValueError, RecursionError) as error:
            raise BadInput(f"{p}:{line}: {_value_problem(error)}") from None
        if isinstance(item, dict):
            table.rows.append(item)
            table.lines.append(line)
        else:
            _problem(table, LineProblem(f"{p}:{line}", f"expected a JSON object, got {_json_type(item)}"), collect)
        i = _skip_ws(text, end)
    if len(table.rows) == 1 and any(isinstance(v, list) for v in table.rows[0].values()):
        return _read_json(p, text, collect)  # {"data": [...]} pretty-printed
    return table


def _read_json(p: Path, text: str, collect: bool) -> Table:
    """A JSON array of objects (each row keeps its line), or ``{"data"|"train"|...: [...]}``."""
    stripped = text.lstrip()
    if stripped.startswith("["):
        return _read_json_array(p, text, collect)
    try:
        doc = loads_strict(text)
    except json.JSONDecodeError as error:
        raise BadInput(f"{p}:{error.lineno}: not valid JSON ({error.msg} at column {error.colno})") from None
    except (ValueError, RecursionError) as error:
        raise BadInput(f"{p}:1: {_value_problem(error)}") from None
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
    decoder = _STRICT_DECODER
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
        except (ValueError, RecursionError) as error:  # the item's end is unknown, so reading stops here
            raise BadInput(f"{p}:{line}: {_value_problem(error)}") from None
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
            return loads_strict(s)
        except (ValueError, RecursionError):  # not JSON after all (or hostile JSON): keep the text
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


def _read_hf_dataset(spec: str, split: str | None = None) -> Table:
    name, _, named_split = spec.partition(":")
    try:
        import datasets

        ds = datasets.load_dataset(name, split=named_split or split or "train")
    except Exception as error:  # offline and not cached, no such dataset, no such split
        raise BadInput(
            f"{spec}: no such file, and the datasets name could not be loaded ({type(error).__name__}); "
            "pass a local file, or a datasets name (NAME[:SPLIT]) that is cached or reachable"
        ) from None
    rows = ds.to_list()
    return Table(source=spec, rows=rows, lines=list(range(1, len(rows) + 1)), unit="row")


def _read_saved_dataset(p: Path, split: str | None = None) -> Table:
    import datasets

    try:
        ds = datasets.load_from_disk(str(p))
    except Exception as error:
        raise BadInput(f"{p}: not a readable saved dataset ({type(error).__name__}: {error})") from None
    if isinstance(ds, datasets.DatasetDict):
        wanted = split or "train"
        if wanted not in ds:
            raise BadInput(f"{p}: the DatasetDict has no {wanted!r} split (has {', '.join(ds)}); pick one with --split")
        ds = ds[wanted]
        source = f"{p}[{wanted}]"
    else:
        if split not in (None, "train"):
            raise BadInput(f"{p}: a single Dataset (no splits), so --split {split} does not apply")
        source = str(p)
    rows = ds.to_list()
    return Table(source=source, rows=rows, lines=list(range(1, len(rows) + 1)), unit="row")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number; write a finite number or null")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:20]}{'…' if len(text) > 20 else ''} does not fit a float")
    return value


# NaN/Infinity literals and floats that overflow to inf are refused where the row is read, not later
# where a metric or a reward divides by them. Only floats pay for the Python hook; ints stay on the fast path.
_STRICT_DECODER = json.JSONDecoder(parse_float=_finite_float, parse_constant=_reject_constant)


def loads_strict(text: str) -> Any:
    """``json.loads`` that refuses NaN, Infinity and floats beyond ±1.8e308.

    >>> loads_strict('{"a": 1.5}')
    {'a': 1.5}
    >>> loads_strict('{"a": NaN}')
    Traceback (most recent call last):
    ...
    ValueError: NaN is not a number; write a finite number or null
    """
    return _STRICT_DECODER.decode(text)


def _value_problem(error: Exception) -> str:
    """A JSON value the decoder could parse but Python cannot hold, in words."""
    if isinstance(error, RecursionError):
        return "JSON nested too deeply to read (more than about 1,000 levels of [ or {)"
    text = str(error)
    if "integer string conversion" in text:
        return "a number with more digits than Python reads (4,300); write it as text (in quotes) if it is an id"
    return f"not a usable JSON value ({text})"


def _problem(table: Table, problem: LineProblem, collect: bool) -> None:
    if not collect:
        raise BadInput(str(problem))
    table.problems.append(problem)


def _json_type(value: object) -> str:
    return {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean"}.get(
        type(value), "null"
    )

"""Loaders: every supported file type, and every kind of bad input as one clear message with file:line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.data.io import read_records, read_table
from posttrain.errors import BadInput

ROW = {"prompt": "What is 2+2?", "completion": "4"}


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_jsonl_rows_keep_their_line_numbers(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps(ROW) + "\n\n" + json.dumps({**ROW, "completion": "four"}) + "\n")
    table = read_table(path)
    assert [r["completion"] for r in table.rows] == ["4", "four"]
    assert table.where(1) == f"{path}:3"


def test_json_array_rows_know_their_lines(tmp_path):
    path = tmp_path / "a.json"
    path.write_text('[\n  {"prompt": "a", "completion": "b"},\n\n  {"prompt": "c",\n   "completion": "d"}\n]\n')
    table = read_table(path)
    assert [r["prompt"] for r in table.rows] == ["a", "c"]
    assert table.lines == [2, 4]


def test_json_object_holding_a_list(tmp_path):
    path = tmp_path / "a.json"
    path.write_text(json.dumps({"data": [ROW, ROW]}))
    assert read_records(path) == [ROW, ROW]


def test_csv_with_json_messages_cell_and_a_long_field(tmp_path):
    path = tmp_path / "a.csv"
    long_text = "x" * 300_000  # over the csv module's default 128 KiB field limit
    messages = json.dumps([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}])
    path.write_text(f'prompt,completion,messages\nq,"{long_text}","{messages.replace(chr(34), chr(34) * 2)}"\n')
    (row,) = read_records(path)
    assert len(row["completion"]) == 300_000
    assert row["messages"][1]["content"] == "hello"


def test_parquet_roundtrip(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "a.parquet"
    pq.write_table(pa.Table.from_pylist([ROW, {"prompt": "x", "completion": "y"}]), path)
    table = read_table(path)
    assert table.rows[1] == {"prompt": "x", "completion": "y"}
    assert table.where(1) == f"{path}:row 2"


def test_utf8_bom_is_dropped(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(ROW).encode() + b"\n")
    assert read_records(path) == [ROW]
    csv_path = tmp_path / "bom.csv"
    csv_path.write_bytes(b"\xef\xbb\xbfprompt,completion\nq,a\n")
    assert read_records(csv_path) == [{"prompt": "q", "completion": "a"}]


def test_utf16_with_bom_is_read(tmp_path):
    path = tmp_path / "u16.jsonl"
    path.write_bytes((json.dumps(ROW) + "\n").encode("utf-16"))
    assert read_records(path) == [ROW]


def test_non_utf8_bytes_name_the_line(tmp_path):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(json.dumps(ROW).encode() + b"\n" + '{"prompt": "café", "completion": "x"}\n'.encode("latin-1"))
    with pytest.raises(BadInput, match=r"latin1\.jsonl:2: not valid UTF-8 \(byte 0xe9 at column 16\)"):
        read_records(path)
    table = read_table(path, collect=True)  # data check goes on with the good lines
    assert table.rows == [ROW] and len(table.problems) == 1


def test_truncated_last_line(tmp_path):
    path = tmp_path / "cut.jsonl"
    path.write_text(json.dumps(ROW) + "\n" + '{"prompt": "What is', encoding="utf-8")
    with pytest.raises(BadInput, match=r"cut\.jsonl:2: truncated JSON at the end of the file"):
        read_records(path)


def test_bad_line_in_the_middle_is_quoted_briefly(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(ROW) + "\n" + "{oops " + "y" * 1000 + "\n" + json.dumps(ROW) + "\n")
    with pytest.raises(BadInput) as error:
        read_records(path)
    message = str(error.value)
    assert message.startswith(f"{path}:2: not valid JSON") and len(message) < 300


def test_ten_megabyte_single_line(tmp_path):
    path = tmp_path / "big.jsonl"
    big = {"prompt": "summarise", "completion": "word " * 2_000_000}  # 10 MB on one line
    path.write_text(json.dumps(big) + "\n")
    (row,) = read_records(path)
    assert len(row["completion"]) == 10_000_000
    broken = tmp_path / "big-broken.jsonl"
    broken.write_text(json.dumps(big)[:-2] + "\n")  # 10 MB, not closed
    with pytest.raises(BadInput) as error:
        read_records(broken)
    assert f"{broken}:1:" in str(error.value) and len(str(error.value)) < 300


def test_empty_file(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n  \n")
    with pytest.raises(BadInput, match="the file is empty"):
        read_records(path)


def test_directory(tmp_path):
    with pytest.raises(BadInput, match="is a directory; pass one data file"):
        read_records(tmp_path)


def test_missing_file(tmp_path):
    with pytest.raises(BadInput, match=r"nope\.jsonl: no such file"):
        read_records(tmp_path / "nope.jsonl")


def test_csv_ragged_row(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text("prompt,completion\nq1,a1\nq2,a2,extra\nq3,a3\n")
    with pytest.raises(BadInput, match=r"ragged\.csv:3: 3 fields but the header has 2"):
        read_records(path)
    assert len(read_table(path, collect=True).rows) == 2


def test_non_object_line(tmp_path):
    path = tmp_path / "list.jsonl"
    path.write_text('["a", "b"]\n')
    with pytest.raises(BadInput, match=r"list\.jsonl:1: expected a JSON object, got an array"):
        read_records(path)


def test_unknown_suffix(tmp_path):
    path = tmp_path / "data.txt"
    path.write_text("hello\n")
    with pytest.raises(BadInput, match=r"unknown file type '\.txt'"):
        read_records(path)


def test_cli_bad_input_is_one_line_exit_2(tmp_path, cli, capsys):
    path = tmp_path / "ragged.csv"
    path.write_text("prompt,completion\nq1,a1\nq2\n")
    code, out, err = cli("data", "check", str(path), capsys=capsys)
    # data check reports unparsable lines as errors of the report (exit 2), not a traceback
    assert code == 2 and "ragged.csv:3: 1 fields but the header has 2" in out
    code, _, err = cli("data", "check", str(tmp_path / "missing.jsonl"), capsys=capsys)
    assert code == 2 and "no such file" in err and "Traceback" not in err


@pytest.mark.parametrize("layout", ["array", "object", "objects"])
def test_pretty_printed_json_in_a_jsonl_file_is_read_as_json_and_said(tmp_path, layout):
    rows = [ROW, {**ROW, "completion": "four"}]
    text = {
        "array": json.dumps(rows, indent=2),
        "object": json.dumps({"data": rows}, indent=2),
        "objects": "\n".join(json.dumps(r, indent=2) for r in rows),
    }[layout]
    path = tmp_path / "pretty.jsonl"
    path.write_text(text)
    table = read_table(path)
    assert [r["completion"] for r in table.rows] == ["4", "four"]
    assert table.note == f"{path}: pretty-printed JSON, not one object per line; read as JSON"

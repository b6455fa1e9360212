"""Hostile files end in one clear message, fast: alias bombs, FIFOs, devices, sockets, oversize files,
deep nesting and numbers Python cannot hold. A guard alarm turns a hang into a failure instead of a stuck suite."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.data.io import read_table
from posttrain.errors import BadInput
from posttrain.safe_files import expanded_size, load_yaml, read_bytes

ROW = '{"prompt": "What is 2+2?", "completion": "4"}\n'


@pytest.fixture(autouse=True)
def no_hang() -> Iterator[None]:
    """Fail (rather than block the suite) when a read waits on a FIFO or an endless device."""

    def fail(signum: int, frame: object) -> None:
        raise TimeoutError("blocked on a hostile file")

    previous = signal.signal(signal.SIGALRM, fail)
    signal.alarm(10)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def _bomb(levels: int = 9) -> str:
    lines = ["a0: &a0 [" + ", ".join(['"lol"'] * 9) + "]"]
    for level in range(1, levels):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_alias_bomb_is_refused_fast_in_every_yaml_reader(tmp_path, cli, capsys):
    import resource

    bomb = tmp_path / "answers.yaml"
    bomb.write_text(_bomb())  # 9 levels of 9 aliases: 9^9 ≈ 387 million strings once expanded
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    for args in (("advise", "--answers", str(bomb)), ("new", str(tmp_path / "x"), "--from", str(bomb))):
        code, _, err = cli(*args, capsys=capsys)
        assert code == 2 and "alias bomb is refused" in err and "Traceback" not in err, (args, err)
    config = tmp_path / "experiment.yaml"
    config.write_text(_bomb() + "name: x\nevals: [{path: e.jsonl}]\n")
    code, _, err = cli("config", "check", str(config), capsys=capsys)
    assert code == 2 and f"{config}: the YAML expands to more than" in err
    assert time.perf_counter() - start < 5
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100_000  # KiB: bounded memory
    assert not (tmp_path / "x").exists()  # nothing written


def test_yaml_aliases_within_reason_still_work_and_cycles_are_refused():
    assert load_yaml("base: &b {lr: 1}\nsft: *b\ndpo:\n  <<: *b\n  beta: 2\n", "c.yaml") == {
        "base": {"lr": 1},
        "sft": {"lr": 1},
        "dpo": {"lr": 1, "beta": 2},
    }
    with pytest.raises(BadInput, match="refers to itself"):
        load_yaml("a: &a [*a]\n", "c.yaml")
    with pytest.raises(BadInput, match=r"c.yaml:1: not valid YAML: .*nesting depth"):
        load_yaml("[" * 100_000, "c.yaml")
    import yaml

    # root + 3 keys + a0 (1 + 9) + a1 (1 + 9 × 10) + a2 (1 + 9 × 91): counted through the shared nodes, not built
    assert expanded_size(yaml.compose(_bomb(3)), limit=10**6) == 1 + 3 + 10 + 91 + 820


def test_fifo_device_socket_and_directory_are_refused_by_name(tmp_path, cli, capsys):
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    zero_link = tmp_path / "zero.jsonl"
    zero_link.symlink_to("/dev/zero")
    sock_path = tmp_path / "s.jsonl"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(sock_path))
    try:
        cases = {
            fifo: "is a FIFO (named pipe)",
            zero_link: "is a device",
            Path("/dev/zero"): "is a device",
            Path("/dev/urandom"): "is a device",
            sock_path: "is a socket",
        }
        for path, why in cases.items():
            start = time.perf_counter()
            code, _, err = cli("data", "check", str(path), capsys=capsys)
            assert code == 2 and why in err and "Traceback" not in err, (path, err)
            assert time.perf_counter() - start < 2
        with pytest.raises(BadInput, match="is a FIFO"):
            read_bytes(fifo)
    finally:
        server.close()
    code, _, err = cli("data", "check", str(tmp_path), capsys=capsys)
    assert code == 2 and "is a directory" in err
    answers = tmp_path / "answers.yaml"
    os.mkfifo(answers)
    code, _, err = cli("advise", "--answers", str(answers), capsys=capsys)
    assert code == 2 and "is a FIFO" in err


def test_oversize_file_says_how_to_raise_the_limit(tmp_path, cli, capsys, monkeypatch):
    path = tmp_path / "big.jsonl"
    path.write_text(ROW * 50_000)  # ≈ 2.3 MB
    monkeypatch.setenv("POSTTRAIN_MAX_FILE_MB", "1")
    code, _, err = cli("data", "check", str(path), capsys=capsys)
    assert code == 2 and "over the 1 MB limit" in err and "POSTTRAIN_MAX_FILE_MB=3" in err
    monkeypatch.setenv("POSTTRAIN_MAX_FILE_MB", "3")
    assert len(read_table(path).rows) == 50_000
    config = tmp_path / "experiment.yaml"
    config.write_text("name: x\nevals: [{path: e.jsonl}]\n# " + "x" * 2_000_000 + "\n")
    monkeypatch.setenv("POSTTRAIN_MAX_YAML_MB", "1")
    code, _, err = cli("config", "check", str(config), capsys=capsys)
    assert code == 2 and "POSTTRAIN_MAX_YAML_MB=2" in err


def test_nesting_and_number_overflows_are_per_line_errors(tmp_path, cli, capsys):
    path = tmp_path / "hostile.jsonl"
    lines = [
        ROW.strip(),
        "[" * 100_000,
        '{"prompt": "q", "completion": "a", "n": 1e400}',
        '{"prompt": "q", "completion": "a", "n": NaN}',
        '{"prompt": "q", "completion": "a", "n": ' + "9" * 5000 + "}",
        '{"prompt": "q", "completion": "a", "n": -Infinity}',
        '{"prompt": "q", "completion": "' + "{" * 50 + '"}',  # braces inside a string are fine
    ]
    path.write_text("\n".join(lines) + "\n")
    code, out, err = cli("data", "check", str(path), "--json", capsys=capsys)
    assert code == 2 and "Traceback" not in err
    report = json.loads(out)
    by_line = {f["locations"][0]: f["message"] for f in report["errors"] if f["check"] == "parse"}
    assert "nested too deeply" in by_line[f"{path}:2"]
    assert "does not fit a float" in by_line[f"{path}:3"]
    assert "NaN is not a number" in by_line[f"{path}:4"]
    assert "more digits than Python reads" in by_line[f"{path}:5"]
    assert "-Infinity is not a number" in by_line[f"{path}:6"]
    assert report["rows"] == 2
    array = tmp_path / "deep.json"
    array.write_text("[\n" + ROW.strip() + ",\n" + "[" * 100_000 + "\n]")
    with pytest.raises(BadInput, match=r"deep.json:3: JSON nested too deeply"):
        read_table(array)
    wrapped = tmp_path / "one.json"
    wrapped.write_text('{"data": [{"prompt": "q", "completion": "a", "n": NaN}]}')
    with pytest.raises(BadInput, match=r"one.json:1: not a usable JSON value \(NaN"):
        read_table(wrapped)


def test_hostile_config_yaml_nesting_and_non_regular_config(tmp_path, cli, capsys):
    config = tmp_path / "experiment.yaml"
    config.write_text("name: x\nevals: " + "[" * 50_000 + "\n")
    code, _, err = cli("config", "check", str(config), capsys=capsys)
    assert code == 2 and "not valid YAML" in err and "Traceback" not in err
    config.unlink()
    os.mkfifo(config)
    code, _, err = cli("config", "check", str(tmp_path), capsys=capsys)
    assert code == 2 and "is a FIFO" in err

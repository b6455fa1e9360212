"""Data generation without a real model: the resumable writer, mixing, and distillation from an endpoint."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.datagen.distill import distill, distill_with
from harness.datagen.mix import mix
from harness.datagen.resumable import ResumableJsonl
from harness.datagen.standin_server import StandinServer, echo_responder, queued_responder
from harness.datagen.teacher import EndpointTeacher, TeacherUnavailable
from posttrain.errors import BadInput

REPO = Path(__file__).resolve().parent.parent


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def prompt_rows(n: int) -> list[dict]:
    return [{"id": f"q{i}", "prompt": f"question number {i}?"} for i in range(n)]


# ---------------------------------------------------------------- the resumable writer


def test_writer_drops_a_partial_last_line_and_skips_done_ids(tmp_path):
    out = tmp_path / "out.jsonl"
    with ResumableJsonl(out) as sink:
        sink.append({"id": "a", "x": 1})
        sink.append({"id": "b", "x": 2})
    with open(out, "ab") as handle:
        handle.write(b'{"id": "c", "x"')  # what a crash inside a non-atomic write would leave
    with ResumableJsonl(out) as sink:
        assert ("a" in sink, "b" in sink, "c" in sink) == (True, True, False)
        sink.append({"id": "a", "x": 99})  # already there: skipped
        sink.append({"id": "c", "x": 3})
    assert [(r["id"], r["x"]) for r in read_jsonl(out)] == [("a", 1), ("b", 2), ("c", 3)]


def test_writer_refuses_a_file_it_cannot_resume(tmp_path):
    out = write_jsonl(tmp_path / "other.jsonl", [{"text": "no id here"}])
    with pytest.raises(BadInput, match=r"other.jsonl:1: a row without an 'id'"):
        ResumableJsonl(out)
    assert out.read_text() == '{"text": "no id here"}\n'  # the user's file is left alone


# ---------------------------------------------------------------- mix


def test_mix_follows_the_weights_and_the_seed(tmp_path):
    a = write_jsonl(tmp_path / "a.jsonl", [{"prompt": f"a{i}", "completion": "x"} for i in range(100)])
    b = write_jsonl(tmp_path / "b.jsonl", [{"prompt": f"b{i}", "completion": "y"} for i in range(100)])
    summary = mix([f"{a}:0.7", f"{b}:0.3"], tmp_path / "m.jsonl", n=50, seed=3)
    rows = read_jsonl(tmp_path / "m.jsonl")
    assert len(rows) == summary.n == 50
    assert sum(r["prompt"].startswith("a") for r in rows) == 35  # 0.7 × 50
    assert len({r["prompt"] for r in rows}) == 50  # no row drawn twice while the sources suffice
    mix([f"{a}:0.7", f"{b}:0.3"], tmp_path / "m2.jsonl", n=50, seed=3)
    assert read_jsonl(tmp_path / "m2.jsonl") == rows
    mix([f"{a}:0.7", f"{b}:0.3"], tmp_path / "m3.jsonl", n=50, seed=4)
    assert read_jsonl(tmp_path / "m3.jsonl") != rows


def test_mix_default_size_repeats_nothing_and_larger_n_repeats_the_short_source(tmp_path):
    a = write_jsonl(tmp_path / "a.jsonl", [{"prompt": f"a{i}", "completion": "x"} for i in range(30)])
    b = write_jsonl(tmp_path / "b.jsonl", [{"prompt": f"b{i}", "completion": "y"} for i in range(5)])
    summary = mix([f"{a}:0.5", f"{b}:0.5"], tmp_path / "m.jsonl")
    assert summary.n == 10  # b has 5 rows at weight 0.5: 5 / 0.5 = 10 rows in all
    big = mix([f"{a}:0.5", f"{b}:0.5"], tmp_path / "m.jsonl", n=20)
    assert [s.repeated for s in big.sources] == [False, True]
    assert sum(r["prompt"].startswith("b") for r in read_jsonl(tmp_path / "m.jsonl")) == 10


def test_mix_cli_rejects_mixed_formats_with_exit_2(tmp_path, cli, capsys):
    a = write_jsonl(tmp_path / "a.jsonl", [{"prompt": "p", "completion": "c"}])
    b = write_jsonl(tmp_path / "b.jsonl", [{"prompt": "p", "chosen": "c", "rejected": "r"}])
    code, _, err = cli("data", "mix", f"{a}:1", f"{b}:1", "--out", str(tmp_path / "m.jsonl"), capsys=capsys)
    assert code == 2
    assert "different formats" in err and "preference" in err and "Traceback" not in err
    assert not (tmp_path / "m.jsonl").exists()


def test_mix_cli_json(tmp_path, cli, capsys):
    a = write_jsonl(tmp_path / "a.jsonl", [{"prompt": f"a{i}", "completion": "x"} for i in range(10)])
    b = write_jsonl(tmp_path / "b.jsonl", [{"prompt": f"b{i}", "completion": "y"} for i in range(10)])
    code, out, _ = cli("data", "mix", f"{a}:3", f"{b}:1", "--out", str(tmp_path / "m.jsonl"), "--json", capsys=capsys)
    assert code == 0
    report = json.loads(out)
    assert [s["taken"] for s in report["sources"]] == [10, 3]  # 10 / 0.75 = 13.3 -> 13 rows: 10 + 3


# ---------------------------------------------------------------- distill against an endpoint


def test_distill_from_an_openai_compatible_server(tmp_path):
    prompts = write_jsonl(tmp_path / "p.jsonl", [*prompt_rows(5), {"messages": [{"role": "user", "content": "hi"}]}])
    out = tmp_path / "sft.jsonl"
    with StandinServer(echo_responder, model="teacher-7b") as server:
        summary = distill(prompts, server.url, out, max_new_tokens=32, batch_size=4)
        assert server.requests == 6
    rows = read_jsonl(out)
    assert summary.written == 6 and summary.resumed == 0
    for row in rows:
        user, answer = row["messages"]
        assert user["role"] == "user" and answer == {"role": "assistant", "content": "answer to: " + user["content"]}
        assert row["teacher"] == "teacher-7b"  # the name the server reported
        assert row["teacher_settings"]["max_new_tokens"] == 32
        assert row["teacher_settings"]["backend"] == "openai-compatible"
    from harness.data.formats import load_dataset

    assert len(load_dataset(out, kind="sft")) == 6  # the data layer accepts it as SFT data


def test_distill_skips_empty_answers_and_retries_them_on_rerun(tmp_path):
    prompts = write_jsonl(tmp_path / "p.jsonl", prompt_rows(3))
    out = tmp_path / "sft.jsonl"
    with StandinServer(queued_responder(["one", "  ", "three", "two"])) as server:
        first = distill(prompts, server.url, out, batch_size=1)
        second = distill(prompts, server.url, out, batch_size=1)
    assert (first.written, first.empty, second.resumed, second.written) == (2, 1, 2, 1)
    assert [r["messages"][-1]["content"] for r in read_jsonl(out)] == ["one", "three", "two"]


def test_endpoint_down_keeps_rows_and_says_to_rerun(tmp_path):
    teacher = EndpointTeacher("http://127.0.0.1:9/v1", model_name="x", max_new_tokens=8, temperature=0, retries=0)
    prompts = write_jsonl(tmp_path / "p.jsonl", prompt_rows(2))
    with pytest.raises(TeacherUnavailable, match="rerun the same command to resume"):
        distill_with(teacher, prompts, tmp_path / "sft.jsonl")


def test_distill_bad_prompt_file_is_exit_2(tmp_path, cli, capsys):
    prompts = write_jsonl(tmp_path / "p.jsonl", [{"prompt": "fine"}, {"question": "no prompt field"}])
    code, _, err = cli(
        "data", "distill", str(prompts), "--teacher", "http://127.0.0.1:9/v1", "--out", str(tmp_path / "o.jsonl"),
        capsys=capsys,
    )  # fmt: skip
    assert code == 2
    assert "p.jsonl:2: no 'prompt' or 'messages' field" in err


def test_distill_killed_mid_run_resumes_without_losses_or_duplicates(tmp_path):
    n = 12
    prompts = write_jsonl(tmp_path / "p.jsonl", prompt_rows(n))
    out = tmp_path / "sft.jsonl"
    with StandinServer(echo_responder, delay_s=0.15) as server:
        command = [sys.executable, "-m", "harness.cli", "data", "distill", str(prompts), "--teacher", server.url]
        command += ["--out", str(out), "--batch-size", "2"]
        proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if out.exists() and out.read_bytes().count(b"\n") >= 3:
                break
            time.sleep(0.02)
        assert proc.poll() is None, f"finished before it could be killed: {proc.stderr.read().decode()[-500:]}"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stderr.close()
        partial = read_jsonl(out)
        assert 3 <= len(partial) < n
        assert out.read_bytes().endswith(b"\n")  # the kill left no half line
        with open(out, "ab") as handle:  # and a half line left by any other crash is cut off on resume
            handle.write(b'{"id": "q11", "messages": [{"role": "us')
        summary = distill(prompts, server.url, out, batch_size=2)
    rows = read_jsonl(out)
    ids = [r["id"] for r in rows]
    assert sorted(ids) == sorted(f"q{i}" for i in range(n)) and len(ids) == len(set(ids))
    assert summary.resumed == len(partial) and summary.written == n - len(partial)
    for row in rows:
        assert row["messages"][1]["content"] == "answer to: " + row["messages"][0]["content"]

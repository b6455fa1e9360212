"""The evaluator's wiring on the tiny random model: files, cache, predictions, k-shot, RAG, judge, CLI."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from harness.evaluation.runner import EvalRequest, evaluate
from posttrain.errors import BadInput

ROWS = [
    {"id": "a", "prompt": "What is 2+2?", "reference": "4"},
    {"id": "b", "prompt": "Name the capital of Italy.", "reference": "Rome"},
    {"id": "c", "messages": [{"role": "user", "content": "Say yes."}], "reference": "yes"},
]


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _results(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


@pytest.fixture
def eval_file(tmp_path):
    return _write(tmp_path / "eval.jsonl", ROWS)


def _request(model_dir, data, out, **kw) -> EvalRequest:
    return EvalRequest(model=str(model_dir), data=str(data), out=str(out), max_new_tokens=4, **kw)


def test_evaluate_writes_one_result_per_example_and_a_summary(tiny_model_dir, eval_file, tmp_path):
    out = tmp_path / "out"
    summary = evaluate(_request(tiny_model_dir, eval_file, out, metrics=["exact_match", "f1"]))
    results = _results(out)
    assert [r["id"] for r in results] == ["a", "b", "c"]
    for r in results:
        recorded = {"id", "prompt", "context_ids", "output", "reference", "scores", "latency_s"}
        cost = {"prompt_tokens", "output_tokens", "cut", "context_sources"}
        assert set(r) - {"latency_bs1_s"} == recorded | cost
        assert set(r["scores"]) == {"exact_match", "f1"} and r["latency_s"] > 0 and r["context_ids"] == []
        # the chat template and system turn count: more prompt tokens than the bare question's words
        assert r["prompt_tokens"] > len(r["prompt"].split()) and isinstance(r["cut"], bool)
    assert 1 <= sum("latency_bs1_s" in r for r in results) <= 3 and results[0]["latency_bs1_s"] > 0
    assert results[2]["prompt"] == "Say yes."
    stored = json.loads((out / "summary.json").read_text())
    assert {"variant", "model", "adapter", "eval_set", "metrics", "latency_s_mean", "n"} <= set(stored)
    assert stored["variant"] == "prompt" and stored["eval_set"] == "eval" and stored["n"] == 3
    f1 = stored["metrics"]["f1"]
    assert f1["n"] == 3 and f1["ci95"][0] <= f1["mean"] <= f1["ci95"][1]
    assert f1["mean"] == pytest.approx(sum(r["scores"]["f1"] for r in results) / 3)
    assert summary.metrics["exact_match"].mean == stored["metrics"]["exact_match"]["mean"]


def test_rerun_is_served_from_the_cache_and_a_changed_input_keeps_old_results(tiny_model_dir, eval_file, tmp_path):
    out = tmp_path / "out"
    first = evaluate(_request(tiny_model_dir, eval_file, out))
    stamp = (out / "results.jsonl").stat().st_mtime_ns
    again = evaluate(_request(tiny_model_dir, eval_file, out))
    assert again.cached and not first.cached and again.cache_key == first.cache_key
    assert (out / "results.jsonl").stat().st_mtime_ns == stamp  # nothing was rewritten
    changed = evaluate(_request(tiny_model_dir, eval_file, out, system_prompt="Be brief."))
    assert changed.cache_key != first.cache_key and not changed.cached
    kept = out / f"previous-{first.cache_key[:12]}"
    assert json.loads((kept / "summary.json").read_text())["cache_key"] == first.cache_key


def test_predictions_are_scored_by_id_in_any_order(eval_file, tmp_path):
    predictions = _write(
        tmp_path / "pred.jsonl",
        [{"id": "c", "output": "Yes."}, {"id": "a", "output": "4"}, {"id": "b", "output": "Milan"}],
    )
    out = tmp_path / "scored"
    summary = evaluate(EvalRequest(data=str(eval_file), predictions=str(predictions), out=str(out)))
    assert [r["scores"]["exact_match"] for r in _results(out)] == [1.0, 0.0, 1.0]
    assert summary.metrics["exact_match"].mean == pytest.approx(2 / 3)
    assert summary.model.startswith("predictions:") and summary.latency_s_mean is None


def test_predictions_missing_an_id_is_bad_input(eval_file, tmp_path):
    predictions = _write(tmp_path / "pred.jsonl", [{"id": "a", "output": "4"}])
    with pytest.raises(BadInput, match=r"no prediction for eval id 'b' \(and 1 more\)"):
        evaluate(EvalRequest(data=str(eval_file), predictions=str(predictions), out=str(tmp_path / "x")))
    bad = _write(tmp_path / "bad.jsonl", [{"id": "a", "text": "4"}])
    with pytest.raises(BadInput, match=r"bad.jsonl:1: a prediction row needs 'id' and 'output'"):
        evaluate(EvalRequest(data=str(eval_file), predictions=str(bad), out=str(tmp_path / "y")))


def test_kshot_draws_from_training_data_and_never_an_eval_question(eval_file, tmp_path):
    from harness.evaluation.runner import _conversations

    train = _write(
        tmp_path / "train.jsonl",
        [
            {"prompt": "What is 2+2?", "completion": "4"},  # the eval question itself: must be skipped
            {"prompt": "What is 1+1?", "completion": "2"},
            {"prompt": "Capital of Spain?", "completion": "Madrid"},
        ],
    )
    request = EvalRequest(data=str(eval_file), few_shot=2, train=str(train), system_prompt="Answer briefly.")
    conversations, _ = _conversations(request, ROWS)
    for conversation in conversations:
        assert conversation[0] == {"role": "system", "content": "Answer briefly."}
        shots = [m["content"] for m in conversation[1:-1] if m["role"] == "user"]
        assert sorted(shots) == ["Capital of Spain?", "What is 1+1?"]
    assert conversations[0][-1]["content"] == "What is 2+2?"
    with pytest.raises(BadInput, match="only 2 usable training examples"):
        _conversations(request.model_copy(update={"few_shot": 3}), ROWS)


class QueuedRetriever:
    """A retriever stand-in that returns fixed hits (the real one is tested in rag_baseline's tests)."""

    fingerprint = "fixed-v1"

    def __init__(self) -> None:
        self.queries: list[str] = []

    def search(self, query: str, k: int):
        from rag_baseline.retrieve import Hit

        self.queries.append(query)
        return [Hit(id=f"doc.md#{i}", source="doc.md", text=f"fact {i}", score=0.9 - i / 10) for i in range(k)]


def test_rag_records_context_ids_per_example(tiny_model_dir, eval_file, tmp_path):
    retriever = QueuedRetriever()
    out = tmp_path / "rag"
    summary = evaluate(_request(tiny_model_dir, eval_file, out, retriever=retriever, top_k=2))
    assert summary.variant == "rag"
    assert retriever.queries == ["What is 2+2?", "Name the capital of Italy.", "Say yes."]
    results = _results(out)
    assert all(r["context_ids"] == ["doc.md#0", "doc.md#1"] for r in results)
    assert all(r["context_sources"] == ["doc.md", "doc.md"] for r in results)
    assert results[0]["prompt"] == "What is 2+2?"  # the question, not the context-stuffed turn


class _Judge(BaseHTTPRequestHandler):
    seen: ClassVar[list[dict]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Judge.seen.append(body)
        answer = body["messages"][-1]["content"]
        grade = 9 if "Answer to grade:\nRome" in answer else 2
        reply = {"choices": [{"message": {"role": "assistant", "content": f"Score: {grade}"}}]}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


def test_judge_through_an_openai_compatible_endpoint(eval_file, tmp_path):
    server = HTTPServer(("127.0.0.1", 0), _Judge)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        predictions = _write(
            tmp_path / "pred.jsonl",
            [{"id": "a", "output": "five"}, {"id": "b", "output": "Rome"}, {"id": "c", "output": "no"}],
        )
        summary = evaluate(
            EvalRequest(
                data=str(eval_file),
                predictions=str(predictions),
                metrics=["judge"],
                judge_url=f"http://127.0.0.1:{server.server_port}/v1",
                judge_rubric="Exactly right city names only.",
                out=str(tmp_path / "judged"),
            )
        )
    finally:
        server.shutdown()
    assert [r["scores"]["judge"] for r in _results(tmp_path / "judged")] == [0.2, 0.9, 0.2]
    assert summary.metrics["judge"].mean == pytest.approx(1.3 / 3)
    assert "Exactly right city names only." in _Judge.seen[0]["messages"][-1]["content"]


def test_judge_with_a_local_model_gives_grades_in_range(tiny_model_dir):
    from harness.evaluation.scorers import JudgeScorer

    grades = JudgeScorer(model=str(tiny_model_dir)).score(["2+2?"], ["4"], ["4"])
    assert len(grades) == 1 and 0.0 <= grades[0] <= 1.0  # random weights rarely write "Score: N"; 0 then


def test_cli_json_output_shape(cli, capsys, tiny_model_dir, eval_file, tmp_path):
    code, out, err = cli(
        "eval", "--model", str(tiny_model_dir), "--data", str(eval_file), "--metrics", "exact_match,contains",
        "--max-new-tokens", "3", "--out", str(tmp_path / "o"), "--json", capsys=capsys,
    )  # fmt: skip
    assert code == 0, err
    payload = json.loads(out)
    assert set(payload["metrics"]) == {"exact_match", "contains"}
    for m in payload["metrics"].values():
        assert set(m) == {"mean", "ci95", "n"} and len(m["ci95"]) == 2 and m["n"] == 3


def test_cli_predictions_mode_prints_a_table(cli, capsys, eval_file, tmp_path):
    predictions = _write(
        tmp_path / "p.jsonl", [{"id": i, "output": o} for i, o in zip("abc", ["4", "Rome", "no"], strict=True)]
    )
    code, out, _ = cli(
        "eval", "--predictions", str(predictions), "--data", str(eval_file), "--metrics", "exact_match",
        "--out", str(tmp_path / "o"), capsys=capsys,
    )  # fmt: skip
    assert code == 0 and "exact_match" in out and "0.667" in out


def test_cli_unknown_metric_is_one_clear_message_exit_2(cli, capsys, eval_file):
    code, _, err = cli("eval", "--data", str(eval_file), "--metrics", "exact_mach", capsys=capsys)
    assert code == 2 and "did you mean 'exact_match'" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_cli_row_without_the_field_a_metric_needs_exit_2(cli, capsys, tmp_path):
    data = _write(tmp_path / "e.jsonl", [{"prompt": "x", "reference": "y"}, {"prompt": "z", "reference": "w"}])
    code, _, err = cli("eval", "--data", str(data), "--metrics", "unit_tests", capsys=capsys)
    assert code == 2 and f"{data}:1: field 'tests' is missing; metric 'unit_tests' needs it" in err
    no_ref = _write(tmp_path / "n.jsonl", [{"prompt": "x", "reference": "y"}, {"prompt": "z"}])
    code, _, err = cli("eval", "--data", str(no_ref), "--metrics", "f1", capsys=capsys)
    assert code == 2 and f"{no_ref}:2: field 'reference' is missing; metric 'f1' needs it" in err


def test_cli_few_shot_without_training_data_exit_2(cli, capsys, eval_file):
    code, _, err = cli("eval", "--data", str(eval_file), "--few-shot", "2", capsys=capsys)
    assert code == 2 and "--few-shot needs --train" in err


def test_kshot_with_limit_still_excludes_eval_questions_beyond_the_limit(eval_file, tmp_path):
    from harness.evaluation.runner import _conversations, _load_eval_rows

    train = _write(
        tmp_path / "train.jsonl",
        [{"prompt": "Name the capital of Italy.", "completion": "Rome"}, {"prompt": "1+1?", "completion": "2"}],
    )
    request = EvalRequest(data=str(eval_file), few_shot=1, train=str(train), limit=1)
    rows, _, questions = _load_eval_rows(request)
    assert len(rows) == 1 and len(questions) == 3
    conversations, _ = _conversations(request, rows, questions)
    assert conversations[0][0]["content"] == "1+1?"  # row b's question (beyond --limit 1) was not drawn

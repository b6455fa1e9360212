"""Best-of-N and distillation with real models: the default model where behaviour matters, tiny for wiring."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from harness.datagen.best_of_n import best_of_n
from harness.datagen.distill import distill
from harness.datagen.standin_server import StandinServer, model_responder, queued_responder

REPO = Path(__file__).resolve().parent.parent
# Plain sums ("What is 12 + 7? Reply with just the number."): at temperature 0.7 the default model gets
# about 25% of single samples right and best-of-4 about 60%. The word problems of examples/arithmetic
# are too hard for it in 48 tokens (0-9% per sample), so a strict "best beats single" test there would
# hinge on one lucky sample.
ARITHMETIC = REPO / "tests" / "data" / "arith_prompts.jsonl"


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.mark.slow
def test_best_of_n_beats_single_samples_and_writes_valid_dpo_pairs(tmp_path):
    from harness.data.check import check_dataset
    from harness.data.formats import load_dataset
    from harness.training.rewards import numeric_answer

    prompts = ARITHMETIC
    answers = {}
    for row in read_jsonl(prompts)[:8]:
        answers[row["prompt"] if isinstance(row["prompt"], str) else row["prompt"][-1]["content"]] = row["answer"]
    out, pairs = tmp_path / "sft.jsonl", tmp_path / "dpo.jsonl"
    summary = best_of_n(
        prompts, "smollm2-135m", 4, "numeric_answer", out, pairs=pairs, max_new_tokens=24, limit=8, temperature=0.7
    )
    rows = read_jsonl(out)
    assert len(rows) == summary.prompts == 8
    # Score the kept answers again, independently of what the command recorded.
    rescored = [
        numeric_answer([r["messages"][-1]["content"]], answer=[answers[r["messages"][-2]["content"]]])[0] for r in rows
    ]
    assert rescored == [r["reward"] for r in rows]
    single = statistics.fmean(s for r in rows for s in r["sample_rewards"])
    best = statistics.fmean(rescored)
    print(f"single-sample mean reward {single:.3f}, best-of-4 mean {best:.3f}")
    assert best > single
    assert (summary.sample_scores.mean, summary.best_scores.mean) == (pytest.approx(single), pytest.approx(best))
    # DPO pairs: best over worst, only where the samples disagreed; the data check accepts them as DPO data.
    pair_rows = read_jsonl(pairs)
    assert len(pair_rows) == summary.pairs >= 1
    assert summary.pairs + summary.tied_prompts == 8
    assert all(p["chosen_reward"] > p["rejected_reward"] for p in pair_rows)
    report = check_dataset(pairs, kind="dpo")
    assert report.errors == []
    assert len(load_dataset(pairs, kind="dpo")) == summary.pairs


def length_reward_file(tmp_path: Path) -> Path:
    path = tmp_path / "rewards.py"
    path.write_text(
        "def longer(completions, **kwargs):\n    return [float(len(c[-1]['content'])) for c in completions]\n"
    )
    return path


def test_best_of_n_cli_with_a_rewards_file_and_resume(tmp_path, tiny_model_dir, cli, capsys):
    prompts = tmp_path / "p.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": f"Say something about {w}."}) + "\n" for w in ("cats", "rain")))
    out, pairs = tmp_path / "sft.jsonl", tmp_path / "dpo.jsonl"
    reward = f"{length_reward_file(tmp_path)}:longer"
    args = ["data", "best-of-n", str(prompts), "--model", str(tiny_model_dir), "-n", "3", "--reward", reward]
    args += ["--out", str(out), "--pairs", str(pairs), "--max-new-tokens", "6", "--json"]
    code, stdout, stderr = cli(*args, capsys=capsys)
    assert code == 0, stderr
    report = json.loads(stdout)
    rows = read_jsonl(out)
    assert report["written"] == len(rows) == 2
    for row in rows:  # the kept answer is the longest of the samples
        assert row["reward"] == max(row["sample_rewards"]) == len(row["messages"][-1]["content"])
    assert report["pairs"] == len(read_jsonl(pairs))
    code, stdout, _ = cli(*args, capsys=capsys)
    assert code == 0 and json.loads(stdout)["resumed"] == 2 and json.loads(stdout)["written"] == 0
    assert len(read_jsonl(out)) == 2


def test_best_of_n_with_a_judge_behind_an_endpoint(tmp_path, tiny_model_dir):
    prompts = tmp_path / "p.jsonl"
    prompts.write_text(json.dumps({"prompt": "Name a colour."}) + "\n")
    with StandinServer(queued_responder(["3", "Rating: 9", "no idea"]), model="judge") as server:
        summary = best_of_n(
            prompts, str(tiny_model_dir), 3, f"judge:{server.url}", tmp_path / "o.jsonl",
            pairs=tmp_path / "d.jsonl", max_new_tokens=4,
        )  # fmt: skip
    [row] = read_jsonl(tmp_path / "o.jsonl")
    # The judge is asked about the samples concurrently, so which sample gets which queued grade varies;
    # the set of grades, the unparsable one (None) and the choice of the best do not.
    rewards = row["sample_rewards"]
    assert sorted(r for r in rewards if r is not None) == [0.3, 0.9] and None in rewards and row["reward"] == 0.9
    assert summary.pairs == 1 and read_jsonl(tmp_path / "d.jsonl")[0]["rejected_reward"] == 0.3


def test_best_of_n_unknown_reward_is_exit_2(tmp_path, tiny_model_dir, cli, capsys):
    prompts = tmp_path / "p.jsonl"
    prompts.write_text(json.dumps({"prompt": "hi"}) + "\n")
    code, _, err = cli(
        "data", "best-of-n", str(prompts), "--model", str(tiny_model_dir), "-n", "2", "--reward", "nope",
        "--out", str(tmp_path / "o.jsonl"), capsys=capsys,
    )  # fmt: skip
    assert code == 2 and "nope" in err and "Traceback" not in err


def test_distill_from_a_local_teacher_and_from_a_server_backed_by_a_model(tmp_path, tiny_model_dir):
    prompts = tmp_path / "p.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": f"Tell me about {w}."}) + "\n" for w in ("owls", "tea", "ice")))
    local = distill(prompts, str(tiny_model_dir), tmp_path / "local.jsonl", max_new_tokens=6, batch_size=1)
    assert local.written + local.empty == 3 and local.teacher_settings["backend"] == "local"
    with StandinServer(model_responder(str(tiny_model_dir)), model="tiny") as server:
        remote = distill(prompts, server.url, tmp_path / "remote.jsonl", max_new_tokens=6)
    # Greedy decoding of the same model gives the same answers in-process and behind the endpoint.
    assert [r["messages"] for r in read_jsonl(tmp_path / "remote.jsonl")] == [
        r["messages"] for r in read_jsonl(tmp_path / "local.jsonl")
    ]
    assert remote.teacher == "tiny"


@pytest.mark.slow
def test_distill_with_the_default_model_as_teacher(tmp_path):
    prompts = tmp_path / "p.jsonl"
    prompts.write_text(json.dumps({"prompt": "What is the capital of France? Answer in one word."}) + "\n")
    summary = distill(prompts, "smollm2-135m", tmp_path / "sft.jsonl", max_new_tokens=12)
    [row] = read_jsonl(tmp_path / "sft.jsonl")
    assert summary.written == 1 and row["teacher"] == "smollm2-135m"
    assert "paris" in row["messages"][-1]["content"].lower()

"""posttrain run: stage order, skipping unchanged stages, stopping on bad data, resuming after a kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from harness.runner.manifest import Manifest, hash_json, hash_path
from harness.runner.pipeline import select_stages
from posttrain.errors import BadInput

QUESTIONS = [
    ("What colour is the sky on a clear day?", "blue"),
    ("How many legs does a spider have?", "8"),
    ("What is 2 + 3?", "5"),
    ("Which planet do we live on?", "Earth"),
    ("What is the opposite of hot?", "cold"),
    ("How many days are in a week?", "7"),
]


def make_experiment(root: Path, model: Path, **training: object) -> Path:
    """A tiny SFT experiment written by hand, independent of the scaffold generator."""
    data = root / "data"
    data.mkdir(parents=True)
    train = [
        {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": f"ANSWER: {a}"}]}
        for q, a in QUESTIONS * 3
    ]
    (data / "train.jsonl").write_text("\n".join(json.dumps(r) for r in train) + "\n")
    evals = [{"id": f"q{i}", "prompt": f"Quick: {q}", "reference": a} for i, (q, a) in enumerate(QUESTIONS)]
    (data / "eval.jsonl").write_text("\n".join(json.dumps(r) for r in evals) + "\n")
    config = {
        "name": "tiny",
        "model": str(model),
        "methods": ["sft"],
        "lora": {"r": 4, "alpha": 8},
        "training": {"max_steps": 4, "batch_size": 2, "max_length": 64, "save_steps": 2, **training},
        "data": {"train": ["data/train.jsonl"]},
        "baselines": {"few_shot": 1},
        "evals": [{"name": "qa", "path": "data/eval.jsonl", "metrics": ["contains"], "max_new_tokens": 4}],
        "forgetting": {"tasks": ["posttrain_general"], "limit": 3},
    }
    (root / "experiment.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return root


def test_select_stages_rejects_unknown_names():
    with pytest.raises(BadInput, match=r"unknown stage 'trian'.*train"):
        select_stages(["trian"], None, None)


def test_manifest_survives_reload(tmp_path):
    manifest = Manifest(tmp_path)
    manifest.mark("train", "abc", "done", wall_s=1.0)
    again = Manifest(tmp_path)
    assert again.is_done("train", "abc")
    assert not again.is_done("train", "abd")


def test_hash_path_follows_content(tmp_path):
    file = tmp_path / "a.jsonl"
    file.write_text("1\n")
    first = hash_path(file)
    file.write_text("2\n")
    assert hash_path(file) != first
    assert hash_path(tmp_path / "missing") is None
    assert hash_json([1, 2]) != hash_json([2, 1])


def test_bad_training_data_stops_before_anything_runs(tmp_path, tiny_model_dir):
    exp = make_experiment(tmp_path / "exp", tiny_model_dir)
    with open(exp / "data" / "train.jsonl", "a") as handle:
        handle.write('{"messages": [{"role": "user", "content": "hi"}\n')  # broken last line
    from harness.runner.pipeline import run_experiment

    with pytest.raises(BadInput, match=r"train\.jsonl:19"):
        run_experiment(exp, say=lambda _line: None)
    run_dir = (exp / "runs" / "latest").resolve()
    assert not (run_dir / "eval").exists() and not (run_dir / "train").exists()


@pytest.mark.slow
def test_run_skips_unchanged_stages_and_reruns_dependents(tmp_path, tiny_model_dir):
    from harness.runner.pipeline import run_experiment

    exp = make_experiment(tmp_path / "exp", tiny_model_dir)
    first = run_experiment(exp, say=lambda _line: None)
    assert [o.status for o in first.outcomes] == ["ran"] * 6
    run_dir = first.run_dir
    assert (run_dir / "train" / "sft" / "adapter_config.json").is_file()
    for variant in ("prompt", "kshot", "tuned"):
        assert (run_dir / "eval" / variant / "qa" / "summary.json").is_file()
    assert (run_dir / "report.html").is_file() and (run_dir / "versions.json").is_file()

    again = run_experiment(exp, say=lambda _line: None)
    assert again.run_dir == run_dir
    assert {o.status for o in again.outcomes} == {"skipped"}

    config = yaml.safe_load((exp / "experiment.yaml").read_text())
    config["evals"][0]["max_new_tokens"] = 6  # changes evaluation, not training
    (exp / "experiment.yaml").write_text(yaml.safe_dump(config))
    third = {o.name: o.status for o in run_experiment(exp, say=lambda _line: None).outcomes}
    assert third == {
        "check": "skipped",
        "baselines": "ran",
        "train": "skipped",
        "tuned": "ran",
        "forgetting": "skipped",
        "report": "ran",
    }

    # A changed training setting retrains from scratch; the earlier adapter is set aside, not deleted
    # (the trainer itself refuses to resume checkpoints made with other settings).
    before = json.loads((run_dir / "train" / "sft" / "provenance.json").read_text())["fingerprint"]
    config["training"]["learning_rate"] = 1e-3
    (exp / "experiment.yaml").write_text(yaml.safe_dump(config))
    lines: list[str] = []
    fourth = {o.name: o.status for o in run_experiment(exp, say=lines.append).outcomes}
    assert [fourth[n] for n in ("baselines", "train", "tuned", "forgetting")] == ["skipped", "ran", "ran", "ran"]
    after = json.loads((run_dir / "train" / "sft" / "provenance.json").read_text())["fingerprint"]
    assert after != before
    (kept,) = (run_dir / "superseded").iterdir()
    assert json.loads((kept / "sft" / "provenance.json").read_text())["fingerprint"] == before
    assert any(f"kept as superseded/{kept.name}/" in line for line in lines)


@pytest.mark.slow
def test_killed_run_resumes_without_redoing_baselines(tmp_path, tiny_model_dir):
    exp = make_experiment(tmp_path / "exp", tiny_model_dir, max_steps=80, save_steps=10)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "harness.cli", "run", str(exp)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoints = exp / "runs" / "latest" / "train" / "sft" / "checkpoints"
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if checkpoints.is_dir() and any(checkpoints.glob("checkpoint-*")):
            break
        time.sleep(0.05)
    assert proc.poll() is None, "training finished before it could be interrupted"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    run_dir = (exp / "runs" / "latest").resolve()
    manifest = json.loads((run_dir / "manifest.json").read_text())["stages"]
    assert manifest["baselines"]["status"] == "done" and manifest["train"]["status"] == "running"
    baseline_finished = manifest["baselines"]["finished"]

    done = subprocess.run([*cmd, "--json"], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    outcome = {s["name"]: s["status"] for s in json.loads(done.stdout)["stages"]}
    assert outcome["baselines"] == "skipped" and outcome["train"] == "ran"
    manifest = json.loads((run_dir / "manifest.json").read_text())["stages"]
    assert manifest["baselines"]["finished"] == baseline_finished
    summary = json.loads((run_dir / "train" / "sft" / "train_summary.json").read_text())
    assert summary["steps"] == 80

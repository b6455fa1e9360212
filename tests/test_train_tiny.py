"""Training wiring on the tiny random model: outputs, each method, resume after a kill, accelerate DDP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.training import build_request, train

REPO = Path(__file__).resolve().parent.parent
PERSONA = REPO / "examples" / "persona"
ARITH = REPO / "examples" / "arithmetic"
FAST = {"batch_size": 4, "max_length": 64, "learning_rate": 1e-3, "save_steps": 100}

pytestmark = pytest.mark.slow


def _steps(out: Path) -> list[int]:
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [row["step"] for row in rows if "loss" in row]


def test_sft_writes_a_standard_adapter_dir(tiny_model_dir: Path, tmp_path: Path) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    out = tmp_path / "sft"
    request = build_request(
        method="sft", model=str(tiny_model_dir), data=[str(PERSONA / "sft.jsonl")], out=out, merge=True,
        replay=0.25, max_steps=3, progress=False, **FAST,
    )  # fmt: skip
    summary = train(request)
    assert summary.steps == 3 and summary.tokens > 0 and summary.adapter_size_bytes > 0
    for name in ("adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "train_summary.json"):
        assert (out / name).is_file(), name
    assert _steps(out) == [1, 2, 3]
    assert list((out / "runs").glob("events.out.tfevents.*")), "TensorBoard events"
    provenance = json.loads((out / "provenance.json").read_text())
    assert provenance["versions"]["trl"] and provenance["request"]["training"]["max_steps"] == 3
    assert any(h.startswith("sha256:") for h in provenance["data_hashes"].values())
    assert any("general.jsonl" in p for p in provenance["data_hashes"])  # the replay set was mixed in
    assert json.loads((out / "train_summary.json").read_text())["adapter_path"] == str(out)

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    ids = torch.tensor([[1, 2, 3, 4]])
    before = base(ids).logits
    tuned = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), out)
    after = tuned(ids).logits
    assert not torch.allclose(before, after)  # the adapter is loaded and does something
    merged = AutoModelForCausalLM.from_pretrained(out / "merged")
    assert torch.allclose(merged(ids).logits, after, atol=1e-4)

    mtime = (out / "adapter_model.safetensors").stat().st_mtime
    again = train(request)  # a finished run is returned as it is, not retrained
    assert again == summary and (out / "adapter_model.safetensors").stat().st_mtime == mtime


def test_dpo_from_sft_adapter_then_reward_model_feeds_grpo(tiny_model_dir: Path, tmp_path: Path) -> None:
    from peft import PeftConfig

    model = str(tiny_model_dir)
    sft = train(build_request(method="sft", model=model, data=[str(PERSONA / "sft.jsonl")], out=tmp_path / "sft",
                              max_steps=1, progress=False, **FAST))  # fmt: skip
    preference = [str(PERSONA / "preference.jsonl")]
    dpo = train(build_request(method="dpo", model=model, data=preference, adapter=sft.adapter_path,
                              out=tmp_path / "dpo", max_steps=2, progress=False, **FAST))  # fmt: skip
    assert dpo.steps == 2 and "rewards/margins" in (tmp_path / "dpo" / "metrics.jsonl").read_text()
    assert PeftConfig.from_pretrained(tmp_path / "dpo").base_model_name_or_path == model

    reward = train(build_request(method="reward", model=model, data=[str(PERSONA / "preference.jsonl")],
                                 out=tmp_path / "rm", max_steps=2, progress=False, **FAST))  # fmt: skip
    assert reward.steps == 2
    grpo = train(build_request(
        method="grpo", model=model, data=[str(ARITH / "prompts.jsonl")], out=tmp_path / "grpo",
        rewards=["numeric_answer", f"learned:{tmp_path / 'rm'}"], max_steps=1, batch_size=4, num_generations=4,
        max_completion_length=8, max_length=64, save_steps=100, progress=False,
    ))  # fmt: skip
    assert grpo.steps == 1
    logged = (tmp_path / "grpo" / "metrics.jsonl").read_text()
    assert "rewards/numeric_answer/mean" in logged and "rewards/learned_rm/mean" in logged


def _train_cmd(model: Path, out: Path, steps: int) -> list[str]:
    return [
        sys.executable, "-m", "harness.cli", "train", "--method", "sft", "--model", str(model),
        "--data", str(PERSONA / "sft.jsonl"), "--out", str(out), "--max-steps", str(steps), "--save-steps", "2",
        "--batch-size", "2", "--max-length", "64", "--lr", "1e-3", "--json",
    ]  # fmt: skip


def test_killed_run_resumes_from_last_checkpoint(tiny_model_dir: Path, tmp_path: Path) -> None:
    out, steps = tmp_path / "sft", 12
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    first = subprocess.Popen(_train_cmd(tiny_model_dir, out, steps), cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 240
    while not (out / "checkpoints" / "checkpoint-4" / "trainer_state.json").is_file():
        assert first.poll() is None, "the first run ended before it could be killed"
        assert time.monotonic() < deadline, "no checkpoint after 240 s"
        time.sleep(0.1)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert not (out / "train_summary.json").exists()
    before = {json.loads(line)["step"]: line for line in (out / "metrics.jsonl").read_text().splitlines()}

    second = subprocess.run(_train_cmd(tiny_model_dir, out, steps), cwd=REPO, env=env, capture_output=True, text=True)
    assert second.returncode == 0, second.stderr[-2000:]
    summary = json.loads(second.stdout)
    assert summary["steps"] == steps
    resumed = summary["resumed_from_step"]
    assert resumed >= 4
    assert _steps(out) == list(range(1, steps + 1))  # every step logged exactly once
    after = {json.loads(line)["step"]: line for line in (out / "metrics.jsonl").read_text().splitlines()}
    # the early steps' log lines are the first run's own: they were not redone
    assert all(after[s] == before[s] for s in range(1, resumed + 1))
    state = json.loads((out / "checkpoints" / f"checkpoint-{steps}" / "trainer_state.json").read_text())
    assert state["global_step"] == steps


def test_accelerate_ddp_two_cpu_processes(tiny_model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    cmd = [
        sys.executable, "-m", "harness.cli", "train", "--method", "sft", "--model", str(tiny_model_dir),
        "--data", str(PERSONA / "sft.jsonl"), "--out", str(out), "--max-steps", "2", "--batch-size", "2",
        "--max-length", "64", "--launcher", "accelerate", "--num-processes", "2", "--json",
    ]  # fmt: skip
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=400)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (out / "adapter_model.safetensors").is_file()
    provenance = json.loads((out / "provenance.json").read_text())
    assert provenance["world_size"] == 2
    assert json.loads((out / "train_summary.json").read_text())["steps"] == 2

"""RLOO through the method registry: online RL with the same prompts and rewards as GRPO."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

PROMPTS = [
    "What is 2 + 3?",
    "How many legs does a spider have?",
    "What colour is the sky?",
    "What is the capital of France?",
    "How many days are in a week?",
    "What is the opposite of hot?",
    "Name a fruit.",
    "What is 10 minus 4?",
]
# A reward the policy can move within a few steps: the share of the 24-token budget an answer leaves unused.
# Asked for "a few words", the default model stops early on some samples and rambles on others, so each
# group of 4 has something to prefer (a budget of 16 was too short: 88% of answers hit it, reward ~0 for all).
REWARDS_PY = """
def briefer(completions, completion_ids, **kwargs):
    return [1.0 - min(len(ids), 24) / 24 for ids in completion_ids]
"""


def _experiment_files(folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    prompts = folder / "prompts.jsonl"
    prompts.write_text(
        "".join(json.dumps({"prompt": f"{p} Answer in a few words.", "answer": "5"}) + "\n" for p in PROMPTS)
    )
    (folder / "rewards.py").write_text(REWARDS_PY)
    return prompts, folder / "rewards.py"


def test_train_rloo_from_the_cli(cli, capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_model_dir: Path) -> None:
    prompts, _ = _experiment_files(tmp_path)
    out = tmp_path / "rloo"
    code, stdout, err = cli(
        "train", "--method", "rloo", "--model", str(tiny_model_dir), "--data", str(prompts), "--reward", "numeric",
        "--out", str(out), "--max-steps", "1", "--batch-size", "4", "--num-generations", "2",
        "--max-completion-length", "4", "--max-length", "64", "--json", capsys=capsys,
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(stdout)["method"] == "rloo" and (out / "adapter_config.json").is_file()
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert any("reward" in row for row in logged)


def test_rloo_batch_must_hold_whole_groups(cli, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    prompts, _ = _experiment_files(tmp_path)
    code, _, err = cli(
        "train", "--method", "rloo", "--data", str(prompts), "--reward", "numeric", "--batch-size", "6",
        "--num-generations", "4", "--out", str(tmp_path / "o"), capsys=capsys,
    )  # fmt: skip
    assert code == 2 and "use --batch-size 8" in err


@pytest.mark.slow
def test_rloo_raises_the_mean_reward(default_model_dir: Path, tmp_path: Path) -> None:
    from harness.training import build_request, train

    prompts, rewards = _experiment_files(tmp_path)
    request = build_request(
        method="rloo", data=[str(prompts)], out=tmp_path / "rloo", rewards=[f"{rewards}:briefer"], max_steps=4,
        batch_size=8, num_generations=4, max_completion_length=24, learning_rate=3e-3, max_length=64,
        save_steps=1000, progress=False,
    )  # fmt: skip
    train(request)
    logged = [json.loads(line) for line in (tmp_path / "rloo" / "metrics.jsonl").read_text().splitlines()]
    means = [row["reward"] for row in logged if "reward" in row]
    # Measured (seed 42): 0.49, 0.34, 0.46, 0.96 — by step 4 the policy stops at once, the shortest answer the
    # reward pays for most: the direction of the signal, and a reminder that a reward gets what it asks for.
    assert len(means) == 4 and means[-1] > means[0], means

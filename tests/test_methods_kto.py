"""KTO through the method registry: unpaired good/bad feedback, from the CLI and on the real default model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PERSONA = REPO / "examples" / "persona" / "preference.jsonl"


def feedback_file(path: Path, pairs: int) -> Path:
    """The persona example's pairs, unpaired: the in-voice answer is good (true), the plain one bad (false)."""
    rows = [json.loads(line) for line in PERSONA.read_text().splitlines()[:pairs]]
    with path.open("w") as out:
        for row in rows:
            out.write(json.dumps({"prompt": row["prompt"], "completion": row["chosen"], "label": True}) + "\n")
            out.write(json.dumps({"prompt": row["prompt"], "completion": row["rejected"], "label": False}) + "\n")
    return path


def margins(out: Path) -> list[float]:
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [row["rewards/margins"] for row in rows if "rewards/margins" in row]


def test_train_kto_from_the_cli(cli, capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_model_dir: Path) -> None:
    data = feedback_file(tmp_path / "feedback.jsonl", 4)
    out = tmp_path / "kto"
    code, stdout, err = cli(
        "train", "--method", "kto", "--model", str(tiny_model_dir), "--data", str(data), "--out", str(out),
        "--max-steps", "1", "--batch-size", "4", "--max-length", "64", "--json", capsys=capsys,
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(stdout)["method"] == "kto" and (out / "adapter_config.json").is_file()
    assert json.loads((out / "provenance.json").read_text())["request"]["kto"]["beta"] == 0.1


@pytest.mark.slow
def test_kto_raises_the_reward_margin(default_model_dir: Path, tmp_path: Path) -> None:
    from harness.training import build_request, train

    data = feedback_file(tmp_path / "feedback.jsonl", 12)
    request = build_request(
        method="kto", data=[str(data)], out=tmp_path / "kto", max_steps=3, batch_size=8, learning_rate=1e-3,
        max_length=96, save_steps=1000, progress=False,
    )  # fmt: skip
    train(request)
    seen = margins(tmp_path / "kto")
    # Step 1 sees the policy equal to its reference (margin 0); the good answers' implied reward then pulls
    # ahead of the bad ones' (measured: 0.0 → 1.4 → 3.5 at this rate).
    assert len(seen) == 3 and seen[-1] > seen[0] + 0.5, seen

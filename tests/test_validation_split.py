"""The validation split held out of the training data, the best checkpoint kept, early stopping."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.training import build_request
from harness.training.prepare import training_split
from harness.training.validation import MIN_ROWS_TO_SPLIT, split_sources

REPO = Path(__file__).resolve().parent.parent
PERSONA = REPO / "examples" / "persona"


@pytest.fixture(autouse=True)
def _one_thread_when_oversubscribed() -> Iterator[None]:
    """On a shared, oversubscribed CPU, OpenMP spin-waits make 2 torch threads ~10x slower than 1."""
    import torch

    before = torch.get_num_threads()
    if os.getloadavg()[0] > (os.cpu_count() or 1):
        torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _conversation(i: int) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "user", "content": f"q{i}a"},
            {"role": "assistant", "content": f"a{i}a"},
            {"role": "user", "content": f"q{i}b"},
            {"role": "assistant", "content": f"a{i}b"},
        ]
    }


def test_split_is_seeded_disjoint_and_never_empties_training() -> None:
    rows = [{"i": i} for i in range(50)]
    train, held, note = split_sources([rows], 0.2, seed=3)
    assert note is None and len(held) == 10 and len(train[0]) == 40
    assert {r["i"] for r in held}.isdisjoint(r["i"] for r in train[0])
    assert held == split_sources([rows], 0.2, seed=3)[1]  # the same seed, the same split
    assert held != split_sources([rows], 0.2, seed=4)[1]
    # Two sources: each gives its share; a one-row source keeps its row for training.
    train, held, _ = split_sources([rows[:19], rows[19:20]], 0.1, seed=0)
    assert [len(t) for t in train] == [17, 1] and len(held) == 2
    small, none, note = split_sources([rows[: MIN_ROWS_TO_SPLIT - 1]], 0.1, seed=0)
    assert none == [] and len(small[0]) == MIN_ROWS_TO_SPLIT - 1 and "too few" in str(note)


def test_sft_holds_out_whole_conversations(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _write(tmp_path / "conv.jsonl", [_conversation(i) for i in range(30)])
    request = build_request(method="sft", out=tmp_path / "o", data=[str(data)])
    assert request.training.validation_fraction == 0.1
    train, held = training_split(request)
    assert held is not None and len(held) == 6 and len(train) == 54  # 3 conversations x 2 turns held out
    held_ids = {r["completion"][0]["content"][1:-1] for r in held}
    trained_text = json.dumps(train)
    assert all(f"a{i}a" not in trained_text and f"a{i}b" not in trained_text for i in held_ids)

    few = _write(tmp_path / "few.jsonl", [_conversation(i) for i in range(5)])
    train, held = training_split(build_request(method="sft", out=tmp_path / "o", data=[str(few)]))
    assert held is None and len(train) == 10
    assert "validation split skipped: 5 training rows" in capsys.readouterr().err


def test_preference_rows_split_and_online_rl_or_an_eval_file_do_not(tmp_path: Path) -> None:
    dpo = build_request(method="dpo", out=tmp_path / "o", data=[str(PERSONA / "preference.jsonl")])
    train, held = training_split(dpo)
    assert held is not None and (len(train), len(held)) == (72, 8)
    assert set(held[0]) == {"prompt", "chosen", "rejected"}
    explicit = build_request(method="dpo", out=tmp_path / "o", data=[str(PERSONA / "preference.jsonl")],
                             eval=str(PERSONA / "heldout_preference.jsonl"))  # fmt: skip
    assert training_split(explicit)[1] is None and len(training_split(explicit)[0]) == 80
    feedback = [{"prompt": f"p{i}", "completion": "c", "label": i % 3 != 0} for i in range(30)]  # 20 good, 10 bad
    kto = build_request(method="kto", out=tmp_path / "o", data=[str(_write(tmp_path / "kto.jsonl", feedback))])
    train, held = training_split(kto)
    assert held is not None and sorted(r["label"] for r in held) == [False, True, True]  # the 2:1 balance kept
    grpo = build_request(method="grpo", out=tmp_path / "o", data=[str(REPO / "examples/arithmetic/prompts.jsonl")])
    assert training_split(grpo)[1] is None


def test_early_stopping_without_validation_is_refused_before_loading(tmp_path: Path) -> None:
    from harness.training import train
    from posttrain.errors import BadInput

    request = build_request(method="sft", out=tmp_path / "o", data=[str(PERSONA / "sft.jsonl")], model="/nonexistent")
    request.training.validation_fraction = 0.0
    request.training.early_stopping_patience = 2
    with pytest.raises(BadInput, match="early_stopping_patience: needs a validation split"):
        train(request)


def _letters(tmp_path: Path, seed: int) -> Path:
    """20 rows where exactly the rows the split holds out answer B and the trained ones A: once the shared
    tokens (end of turn) are learnt, every step on A makes B less likely and the validation loss rises."""
    held = {r["i"] for r in split_sources([[{"i": i} for i in range(20)]], 0.1, seed)[1]}
    rows = [{"prompt": "Say a letter.", "completion": " ".join(["B" if i in held else "A"] * 24)} for i in range(20)]
    return _write(tmp_path / "letters.jsonl", rows)


@pytest.mark.slow
def test_best_checkpoint_is_the_output_and_early_stopping_stops(tiny_model_dir: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    from harness.training import train

    out = tmp_path / "sft"
    # Full fine-tuning: the tiny random model's frozen, tiny embeddings cap what LoRA can move its logits by.
    request = build_request(
        method="sft", model=str(tiny_model_dir), data=[str(_letters(tmp_path, seed=42))], out=out, max_steps=12,
        save_steps=2, batch_size=4, max_length=64, learning_rate=5e-2, full_finetune=True, progress=False,
    )  # fmt: skip
    request.training.early_stopping_patience = 2
    summary = train(request)
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    val = {r["step"]: r["eval_loss"] for r in logged if "eval_loss" in r}
    # Evaluated every save_steps; the best at 4, then two evaluations without a gain: stopped at 8 of 12.
    assert sorted(val) == [2, 4, 6, 8]
    assert val[4] < min(val[2], val[6], val[8])
    assert summary.stopped_early and summary.steps == 8 and summary.validation_rows == 2
    assert (summary.best_step, summary.best_metric) == (4, "eval_loss")
    assert summary.best_value == pytest.approx(val[4])
    assert "best step 4 (eval_loss" in summary.line()
    # What OUT holds is checkpoint-4's weights, not the last step's.
    saved = load_file(out / "model.safetensors")
    best = load_file(out / "checkpoints" / "checkpoint-4" / "model.safetensors")
    last = load_file(out / "checkpoints" / "checkpoint-8" / "model.safetensors")
    assert saved.keys() == best.keys()
    assert all(saved[k].equal(best[k]) for k in saved)
    assert not all(saved[k].equal(last[k]) for k in saved)
    # A rerun asking for more steps does not train on: the run stopped early, it is finished.
    again = train(request.model_copy(update={"training": request.training.model_copy(update={"max_steps": 20})}))
    assert again.steps == 8 and again.best_step == 4


def test_training_curves_show_the_validation_loss() -> None:
    from harness.report.data import CurvePoint, ReportData, TrainingRow
    from harness.report.plots import training_plot

    def figure(with_val: bool) -> str | None:
        val = {s: 1 + abs(s - 4) / 4 for s in (2, 4, 6, 8)} if with_val else {}
        curve = [CurvePoint(step=s, values={"loss": 2.0 / s} | ({"eval_loss": val[s]} if s in val else {}))
                 for s in range(1, 9)]  # fmt: skip
        return training_plot(ReportData.model_construct(training=[TrainingRow(method="sft", curve=curve)]))

    with_val, without = figure(True), figure(False)
    assert with_val is not None and without is not None and with_val.startswith("data:image/png;base64,")
    assert with_val != without

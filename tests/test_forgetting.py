"""The forgetting check on the real default model: it must see what an adapter trained to forget did,
and refuse an adapter that changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.forgetting import PROBE_GROUP, PROBE_TASKS_DIR, AdapterNotApplied, run_forgetting_check

SUBTASKS = ("arithmetic", "knowledge", "commonsense", "reading")


@pytest.fixture
def one_thread():
    """One torch thread: on a shared 2-core machine two spinning OpenMP threads run ~7x slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _make_adapter(model_dir: Path, out: Path, steps: int) -> Path:
    """A LoRA adapter on the real model; ``steps`` > 0 trains it at a high rate on one narrow text."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", lora_dropout=0.0))
    if steps:
        # One repeated line at 3e-3 for 12 steps (loss 4.4 -> 0.3 by step 4): the model learns to say
        # "banana" after everything, the narrow over-training that erodes general skills.
        batch = tokenizer(["Answer: banana banana banana banana banana banana banana banana"] * 4, return_tensors="pt")
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3)
        model.train()
        for _ in range(steps):
            loss = model(**batch, labels=batch["input_ids"]).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
    model.save_pretrained(out)
    return out


def test_probe_has_300_items_with_four_options_and_a_known_answer() -> None:
    total = 0
    for task in SUBTASKS:
        rows = [json.loads(line) for line in (PROBE_TASKS_DIR / f"{task}.jsonl").read_text().splitlines()]
        assert len(rows) >= 60, task
        for row in rows:
            assert len(row["choices"]) == 4 and len(set(row["choices"])) == 4, row
            assert 0 <= row["answer"] < 4
            assert task != "reading" or len(row["passage"]) > 80
        total += len(rows)
        # answers are spread over the positions, so position bias cannot pass for skill
        positions = {row["answer"] for row in rows}
        assert positions == {0, 1, 2, 3}
    assert total >= 300


@pytest.mark.slow
def test_adapter_trained_to_forget_shows_a_loss_and_is_written(
    default_model_dir: Path, tmp_path: Path, one_thread: None
) -> None:
    adapter = _make_adapter(default_model_dir, tmp_path / "forgetful", steps=12)
    result = run_forgetting_check(default_model_dir, adapter, [PROBE_GROUP], limit=10, out_dir=tmp_path / "fg")
    assert set(result.tasks) == {f"{PROBE_GROUP}_{t}" for t in SUBTASKS}
    assert result.adapter_applied
    assert result.overall is not None and result.overall.base.n == 40
    # the base model is clearly above chance (25%) on the probe; the forgetful adapter lost skill
    assert result.overall.base.acc >= 0.4
    assert result.overall.delta <= -0.1  # a clear drop (measured: 0.650 -> 0.425 on these 40 items)
    assert result.overall.ci95[0] <= result.overall.delta <= result.overall.ci95[1]
    written = json.loads((tmp_path / "fg" / "forgetting.json").read_text())
    assert written["adapter_applied"] is True
    row = written["tasks"][f"{PROBE_GROUP}_knowledge"]
    assert set(row) == {"base", "tuned", "delta", "ci95", "p_value"}
    assert row["delta"] == pytest.approx(row["tuned"]["acc"] - row["base"]["acc"])


@pytest.mark.slow
def test_untrained_adapter_is_reported_as_not_applied(
    default_model_dir: Path, tmp_path: Path, one_thread: None
) -> None:
    # A fresh LoRA has B = 0: the adapter adds exact zeros, like an adapter that was never loaded.
    adapter = _make_adapter(default_model_dir, tmp_path / "untrained", steps=0)
    with pytest.raises(AdapterNotApplied, match="adapter was not applied"):
        run_forgetting_check(default_model_dir, adapter, [f"{PROBE_GROUP}_knowledge"], limit=5)


def test_missing_adapter_is_bad_input(tmp_path: Path) -> None:
    from posttrain.errors import BadInput

    with pytest.raises(BadInput, match=r"adapter_config\.json"):
        run_forgetting_check("smollm2-135m", tmp_path, [PROBE_GROUP], limit=1)


@pytest.fixture
def adapter_dir(tmp_path: Path) -> Path:
    (tmp_path / "adapter_config.json").write_text("{}")
    return tmp_path


def test_public_task_without_its_dataset_is_one_clear_line(adapter_dir: Path) -> None:
    from posttrain.errors import BadInput

    # offline (conftest), arc_easy's dataset is unreachable: one line, before any model is loaded
    with pytest.raises(BadInput) as caught:
        run_forgetting_check("smollm2-135m", adapter_dir, ["arc_easy"], limit=1)
    message = str(caught.value)
    assert "\n" not in message and "arc_easy" in message and PROBE_GROUP in message


def test_unknown_task_name_suggests_close_names(adapter_dir: Path) -> None:
    from posttrain.errors import BadInput

    with pytest.raises(BadInput, match=r"unknown lm-eval task arc_eazy \(did you mean arc_easy"):
        run_forgetting_check("smollm2-135m", adapter_dir, ["arc_eazy"], limit=1)

"""A 7B model on one GPU, planned before it runs: memory and time by arithmetic, no model loaded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from harness.runner.memory_plan import (
    COMPUTE,
    GIB,
    KNOWN_SHAPES,
    Layout,
    choose,
    options,
    scaffold_choice,
    shape_config,
)

BENCH = {"batch": 8, "max_length": 512, "mean_tokens": 300, "accumulation": 2, "lora_dropout": 0.05}


def _options(model: str, compute: str, **overrides: object) -> dict[str, object]:
    layout = Layout.of(shape_config(model) or {}, r=16)
    opts = options(layout, **{**BENCH, **overrides}, full_finetune=False, compute=COMPUTE[compute])  # type: ignore[arg-type]
    return {"layout": layout, "by": {o.label: o for o in opts}, "chosen": choose(opts)}


def test_qwen_7b_shape_matches_its_published_size() -> None:
    layout = Layout.of(shape_config("Qwen/Qwen2.5-7B-Instruct") or {}, r=16)
    assert 7.5e9 < layout.params < 7.7e9  # the model card: 7.61B
    assert 35e6 < layout.lora_params < 45e6  # r=16 on all seven projections of 28 layers
    assert 7.9e9 < Layout.of(shape_config("meta-llama/Llama-3.1-8B") or {}, r=16).params < 8.1e9


def test_7b_on_24gb_needs_qlora_or_checkpointing() -> None:
    plan = _options("Qwen2.5-7B", "gpu_24gb")
    by, chosen = plan["by"], plan["chosen"]
    plain = by["bf16 LoRA"]  # type: ignore[index]
    assert plain.parts["weights"] / GIB == pytest.approx(7.62e9 * 2 / GIB, rel=0.01)  # bf16: 2 B/param
    assert not plain.fits and plain.total_gib > 24
    checkpointed = by["bf16 LoRA + gradient checkpointing"]  # type: ignore[index]
    assert checkpointed.parts["activations"] < plain.parts["activations"] / 10  # one layer's, not 28
    qlora = by["QLoRA 4-bit + gradient checkpointing"]  # type: ignore[index]
    assert qlora.parts["weights"] < plain.parts["weights"] / 2.5  # NF4 linears, bf16 embeddings
    assert qlora.fits and qlora.total_gib < 24
    assert chosen is not None and (chosen.qlora or chosen.gradient_checkpointing)
    assert chosen.label != "bf16 LoRA"
    assert chosen.step_s > plain.step_s  # recomputation and dequantisation cost time


def test_7b_on_80gb_fits_plain_bf16_lora() -> None:
    plan = _options("mistralai/Mistral-7B-v0.3", "gpu_80gb")
    chosen = plan["chosen"]
    assert chosen is not None and chosen.label == "bf16 LoRA"
    assert 30 < chosen.total_gib < 80
    # 100 steps of 8 × 2 × 300 tokens at 6·N_lora + 4·N_frozen FLOPs/token, 312 TFLOP/s × 35%: ~1-2 s/step.
    assert 0.5 < chosen.step_s < 3


def test_nothing_fits_when_the_micro_batch_is_too_long() -> None:
    plan = _options("Llama-3.1-8B", "gpu_24gb", batch=64, max_length=4096)
    assert plan["chosen"] is None


def test_a_local_config_json_is_read(tmp_path: Path) -> None:
    hidden, layers, inter, heads, kv, vocab, tied = KNOWN_SHAPES["qwen2.5-7b"]
    config = {"hidden_size": hidden, "num_hidden_layers": layers, "intermediate_size": inter,
              "num_attention_heads": heads, "num_key_value_heads": kv, "vocab_size": vocab,
              "tie_word_embeddings": tied}  # fmt: skip
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert shape_config(str(tmp_path)) == shape_config("qwen2.5-7b")
    assert shape_config("someone/unknown-model") is None


@pytest.mark.parametrize(
    ("compute", "qlora", "checkpointing"), [("gpu_24gb", True, True), ("gpu_80gb", False, False), ("cpu", False, False)]
)
def test_scaffold_turns_on_what_the_estimate_needs(
    tmp_path: Path, compute: str, qlora: bool, checkpointing: bool
) -> None:
    from harness.config import load_config
    from harness.scaffold.plan import plan_from_flags
    from harness.scaffold.render import new_experiment

    plan = plan_from_flags("big", "sft", model="Qwen/Qwen2.5-7B-Instruct", compute=compute)
    new_experiment(tmp_path / "exp", plan)
    raw = yaml.safe_load((tmp_path / "exp" / "experiment.yaml").read_text())
    assert raw["lora"].get("qlora", False) is qlora
    assert raw["training"].get("gradient_checkpointing", False) is checkpointing
    config = load_config(tmp_path / "exp")  # the scaffold's choice is a valid setting
    assert config.lora.qlora is qlora and config.training.gradient_checkpointing is checkpointing


def test_scaffold_leaves_the_small_default_model_alone() -> None:
    assert scaffold_choice("smollm2-135m", "gpu_24gb", 8, 512, 16, 0.05).label == "bf16 LoRA"  # type: ignore[union-attr]


def test_gradient_checkpointing_reaches_the_trainer_args() -> None:
    from harness.training import build_request
    from harness.training.stage import common_args

    request = build_request(method="sft", out="o", data=["a.jsonl"], gradient_checkpointing=True)
    args = common_args(request, Path("o"), "cpu", "fp32", has_eval=False)
    assert args["gradient_checkpointing"] is True
    assert args["gradient_checkpointing_kwargs"] == {"use_reentrant": False}


@pytest.mark.slow  # the dry run imports transformers for the default tokenizer (token counts of the data)
def test_dry_run_plans_a_named_7b_without_downloading_it(tmp_path: Path, default_model_dir: Path, cli, capsys) -> None:
    from harness.scaffold.plan import plan_from_flags
    from harness.scaffold.render import new_experiment

    plan = plan_from_flags("big", "sft", model="Qwen/Qwen2.5-7B-Instruct", compute="gpu_24gb")  # 8 × 512 tokens
    new_experiment(tmp_path / "exp", plan)
    code, out, err = cli("run", str(tmp_path / "exp"), "--dry-run", "--json", "--compute", "gpu_24gb", capsys=capsys)
    assert code == 0, err
    rows = json.loads(out)
    assert rows["model"].startswith("Qwen/Qwen2.5-7B-Instruct: 7615M")
    assert "does not fit" in rows["gpu_24gb: bf16 LoRA"]
    assert rows["gpu_24gb: plan"].startswith("QLoRA 4-bit + gradient checkpointing")
    code, _, err = cli("run", str(tmp_path / "exp"), "--dry-run", "--compute", "tpu", capsys=capsys)
    assert code == 2 and "--compute tpu: unknown" in err


def test_a_damaged_local_config_is_one_line(tmp_path: Path) -> None:
    from harness.runner.memory_plan import shape_config
    from posttrain.errors import BadInput

    (tmp_path / "config.json").write_text('{"hidden_size": 4096,\n  "num_layers": }')
    with pytest.raises(BadInput, match=r"config\.json:2: not valid JSON"):
        shape_config(str(tmp_path))
    (tmp_path / "config.json").write_text("[1, 2]")
    with pytest.raises(BadInput, match="must be a JSON object"):
        shape_config(str(tmp_path))

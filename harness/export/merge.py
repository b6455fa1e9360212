"""Fold a LoRA adapter into its base model and save a folder that ``transformers`` alone can load.

The base model and tokenizer are loaded by the same function the evaluator uses, so the merged
folder carries the tokenizer, chat template and special tokens the run was evaluated with. Its
``generation_config.json`` holds the run's decoding settings (greedy, the longest answer, the end
token), built from scratch: a base model's own sampling defaults (temperature, top_p) would
otherwise ride along into every server that reads the file.
"""

from __future__ import annotations

import gc
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# What a served copy of the adapter needs; checkpoints/ and training logs stay behind.
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors", "adapter_model.bin")


@dataclass(frozen=True)
class MergedModel:
    path: Path
    dtype: str
    eos_token: str | None
    eos_token_id: int | None
    pad_token_id: int | None
    max_new_tokens: int
    size_bytes: int
    changed_tensors: int  # adapted matrices with a non-zero update: 0 means the adapter did nothing


def generation_settings(tokenizer: Any, max_new_tokens: int, stop: list[str] | None = None) -> dict[str, Any]:
    """The decoding the run evaluated with, as ``GenerationConfig`` fields.

    ``harness.evaluation.generate.generate_batch`` decodes greedily, stops at the tokenizer's end
    token and pads with the pad token (the end token when there is none): the same here.
    """
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    settings: dict[str, Any] = {
        "do_sample": False,
        "max_new_tokens": max_new_tokens,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": pad,
    }
    if tokenizer.bos_token_id is not None:
        settings["bos_token_id"] = tokenizer.bos_token_id
    if stop:
        settings["stop_strings"] = list(stop)
    return settings


def merge_adapter(
    base: Path, adapter: Path, out: Path, *, dtype: str, max_new_tokens: int, stop: list[str] | None = None
) -> MergedModel:
    """Write ``out`` (safetensors weights, config, tokenizer, chat template, generation config)."""
    import torch
    from transformers import GenerationConfig

    from harness.models import load_model_and_tokenizer

    # Merge in float32 on the CPU whatever the target: W + (alpha/r)·BA rounded once, at the end, and a
    # 7B model in float32 (28 GB) fits in RAM where it may not fit on the GPU.
    # A full model in place of an adapter (an `external` one) loads as itself: nothing to merge.
    model, tokenizer = load_model_and_tokenizer(str(base), adapter=str(adapter), dtype="float32", device="cpu")
    # A LoRA layer whose B matrix is still all zeros adds nothing (B starts at zero): count the live ones.
    changed = sum(1 for name, p in model.named_parameters() if "lora_B" in name and bool(p.detach().abs().sum() > 0))
    merged = model.merge_and_unload() if hasattr(model, "merge_and_unload") else model
    merged = merged.to(getattr(torch, dtype))
    merged.generation_config = GenerationConfig(**generation_settings(tokenizer, max_new_tokens, stop))
    out.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(out)  # safetensors: the transformers 5 default
    tokenizer.save_pretrained(out)
    result = MergedModel(
        path=out,
        dtype=dtype,
        eos_token=tokenizer.eos_token,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=merged.generation_config.pad_token_id,
        max_new_tokens=max_new_tokens,
        size_bytes=sum(f.stat().st_size for f in out.glob("*.safetensors")),
        changed_tensors=changed,
    )
    del model, merged
    gc.collect()  # the check loads the merged folder next; two copies of a 7B model do not fit
    return result


def copy_adapter(adapter: Path, out: Path) -> Path:
    """The adapter alone (for serving base + LoRA), without checkpoints or training logs."""
    out.mkdir(parents=True, exist_ok=True)
    for name in ADAPTER_FILES:
        if (adapter / name).is_file():
            shutil.copy2(adapter / name, out / name)
    return out


def lora_rank(adapter: Path) -> int:
    """The largest rank in the adapter (``r`` or any ``rank_pattern`` entry)."""
    import json

    config = json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8"))
    ranks = [int(config.get("r") or 8), *(int(v) for v in (config.get("rank_pattern") or {}).values())]
    return max(ranks)

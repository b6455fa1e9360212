"""Adapter settings → ``peft.LoraConfig``; QLoRA only where CUDA and bitsandbytes are present."""

from __future__ import annotations

import importlib.util
from typing import Any

from harness.config import LoraSettings
from posttrain.errors import BadInput


def qlora_available() -> bool:
    """QLoRA needs a CUDA device and the bitsandbytes package."""
    import torch

    return bool(torch.cuda.is_available()) and importlib.util.find_spec("bitsandbytes") is not None


def lora_config(settings: LoraSettings, method: str) -> Any:
    """The ``LoraConfig`` for ``settings``, or None for full fine-tuning (an explicit opt-in)."""
    if settings.full_finetune:
        return None
    from peft import LoraConfig

    target: Any = settings.target_modules
    return LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=target,
        bias="none",
        # A reward model adds a fresh score head: it must be trained and saved with the adapter.
        task_type="SEQ_CLS" if method == "reward" else "CAUSAL_LM",
        modules_to_save=["score"] if method == "reward" else None,
    )


def quantization_config(settings: LoraSettings) -> Any:
    """A 4-bit ``BitsAndBytesConfig`` for QLoRA; BadInput where it cannot run."""
    if not settings.qlora:
        return None
    if settings.full_finetune:
        raise BadInput("lora.qlora and lora.full_finetune exclude each other: QLoRA trains an adapter on 4-bit weights")
    if not qlora_available():
        raise BadInput("lora.qlora: needs a CUDA GPU and the bitsandbytes package; set qlora: false on this machine")
    import torch
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16,
    )


def trainable_parameters(model: Any) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total


def frozen_to_bf16(model: Any, autocast_only: bool = False) -> int:
    """Store the frozen (non-trainable) fp32 weights of a LoRA model in bf16, for bf16 autocast on the CPU; returns
    how many values changed. ``autocast_only``: every forward pass of this model runs under autocast (SFT's do; GRPO
    generates outside it), so PEFT need not cast each adapter's bf16 input to fp32 for autocast to cast it back.

    Autocast casts every fp32 weight to bf16 again at every forward pass, and the fp32 activations around them at
    every matmul: on SmolLM2-135M at 8 × 256 tokens ~9% of a step's CPU time was those copies. The frozen weights
    are only ever read in bf16 there, so nothing their matmuls compute changes; the residual stream and norms run
    in bf16 too (as GPU LoRA recipes that load the base in bf16 do), the adapter's own weights and their optimizer
    state stay fp32. A run that merges the adapter merges it into the fp32 base read again from disk.
    """
    import torch

    changed = 0
    for param in model.parameters():
        if not param.requires_grad and param.dtype == torch.float32:
            param.data = param.data.to(torch.bfloat16)
            changed += param.numel()
    if autocast_only:
        for module in model.modules():
            if hasattr(module, "cast_input_dtype_enabled"):
                module.cast_input_dtype_enabled = False
    return changed


def is_peft_model(model: Any) -> bool:
    """True for a model with PEFT adapters (its base weights frozen)."""
    try:
        from peft import PeftModel
    except ImportError:
        return False
    return isinstance(model, PeftModel)

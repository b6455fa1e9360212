"""Learned rewards: score GRPO/RLOO completions with a reward model trained by ``methods/reward.py``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.training.completions import RewardFn, completion_text
from posttrain.errors import BadInput


def load_reward_model(adapter_dir: Path, model_spec: str | None = None) -> tuple[Any, Any]:
    """The reward model (base + adapter merged, one score per sequence) and its tokenizer."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from harness.models import resolve_model

    config_file = adapter_dir / "adapter_config.json"
    if not config_file.is_file():
        if (adapter_dir / "config.json").is_file():  # a full fine-tuned reward model
            model = AutoModelForSequenceClassification.from_pretrained(adapter_dir, num_labels=1, dtype=torch.float32)
            return model.eval(), AutoTokenizer.from_pretrained(adapter_dir)
        raise BadInput(f"learned:{adapter_dir}: not a reward model; train one with `posttrain train --method reward`")
    base = json.loads(config_file.read_text())["base_model_name_or_path"] or model_spec
    path = resolve_model(base)
    tokenizer = AutoTokenizer.from_pretrained(adapter_dir)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1, dtype=torch.float32)
    model.config.pad_token_id = tokenizer.pad_token_id
    model = PeftModel.from_pretrained(model, adapter_dir).merge_and_unload()
    return model.eval(), tokenizer


def learned_reward(adapter_dir: Path, model_spec: str | None = None) -> RewardFn:
    """A TRL reward function that scores prompt + completion with a trained reward model."""
    import torch

    from harness.models.device import resolve_placement

    model, tokenizer = load_reward_model(adapter_dir, model_spec)
    model = model.to(resolve_placement().device)  # scores in fp32, on the GPU when there is one

    def learned(completions: list[Any], prompts: list[Any] | None = None, **kwargs: Any) -> list[float]:
        texts = []
        for i, completion in enumerate(completions):
            prompt = prompts[i] if prompts else []
            messages = ([{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt or [])) + [
                {"role": "assistant", "content": completion_text(completion)}
            ]
            texts.append(tokenizer.apply_chat_template(messages, tokenize=False))
        batch = tokenizer(texts, return_tensors="pt", padding=True, truncation=True, max_length=512)
        device = next(model.parameters()).device
        with torch.inference_mode():
            scores = model(**batch.to(device)).logits[:, 0]
        return [float(s) for s in scores]

    learned.__name__ = f"learned_{adapter_dir.name}"
    return learned

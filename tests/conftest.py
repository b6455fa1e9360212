"""Shared fixtures: an isolated posttrain home, the real default model, and a tiny random model.

The real default model is converted once per test home (about 20 s); the home lives in
``.pytest-home/`` so local reruns skip the conversion, while CI's clean clone starts empty.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TEST_HOME = Path(os.environ.get("POSTTRAIN_TEST_HOME", REPO / ".pytest-home"))

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["ANONYMIZED_TELEMETRY"] = "False"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ["POSTTRAIN_HOME"] = str(TEST_HOME)


@pytest.fixture(scope="session")
def default_model_dir() -> Path:
    """The real SmolLM2-135M-Instruct, converted from the installed GGUF package."""
    from harness.models import ensure_default_model

    return ensure_default_model()


@pytest.fixture(scope="session")
def tiny_model_dir(default_model_dir: Path) -> Path:
    """A 2-layer random-weights Llama with the default's tokenizer and chat template, for wiring tests."""
    target = TEST_HOME / "models" / "tiny-random"
    if (target / "config.json").is_file():
        return target
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(default_model_dir)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    staging = target.with_name("tiny-random.tmp")
    LlamaForCausalLM(config).save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    staging.rename(target)
    return target


@pytest.fixture
def cli():
    """Run the root CLI in-process; returns (exit_code, stdout, stderr)."""
    from harness.cli import main

    def invoke(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
        code = main(list(args))
        out = capsys.readouterr()
        return code, out.out, out.err

    return invoke

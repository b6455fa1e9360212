"""Resolve a ``--model`` value to a local directory and load it.

A value is the default's name (``smollm2-135m``), a local Hugging Face model directory, or a hub id
that is cached (or reachable when the user is online; tests set ``HF_HUB_OFFLINE=1``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.models.default import DEFAULT_MODEL, ensure_default_model
from posttrain import collector
from posttrain.errors import BadInput


def resolve_model(spec: str | None) -> Path:
    """Return a local directory for ``spec``; raise :class:`BadInput` saying why it cannot be found."""
    spec = spec or DEFAULT_MODEL
    if spec in (DEFAULT_MODEL, "default", "HuggingFaceTB/SmolLM2-135M-Instruct"):
        return ensure_default_model()
    path = Path(spec).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise BadInput(f"--model {spec}: the directory has no config.json; is it a Hugging Face model?")
        return path
    if spec.count("/") == 1 and not spec.startswith((".", "/")):
        return _hub_snapshot(spec)
    raise BadInput(
        f"--model {spec}: no such directory, and not a hub id; use '{DEFAULT_MODEL}', a model directory "
        "or an id like 'org/name'"
    )


def _hub_snapshot(repo_id: str) -> Path:
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, allow_patterns=["*.json", "*.safetensors", "*.model", "*.txt"]))
    except Exception as error:  # offline and not cached, unknown repo, no access
        raise BadInput(
            f"--model {repo_id}: not in the local Hugging Face cache and could not be fetched "
            f"({type(error).__name__}); download it while online or pass a local directory"
        ) from None


def load_tokenizer(spec: str | None) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(resolve_model(spec))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def tokenizer_for(spec: str | None, adapter: str | Path | None = None) -> Any:
    """The tokenizer saved beside ``adapter`` when there is one, else the model's.

    posttrain saves the tokenizer it trained with next to the adapter: for a base model it carries the
    chat template training set, and the EOS that ends a turn, so evaluation prompts and stops as trained.
    """
    folder = Path(adapter) if adapter is not None else None
    if folder is None or not (folder / "tokenizer_config.json").is_file():
        return load_tokenizer(str(resolve_model(spec)))
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model_and_tokenizer(
    spec: str | None,
    adapter: str | Path | None = None,
    dtype: str | None = None,
    for_training: bool = False,
    device: str = "auto",
    precision: str = "auto",
) -> tuple[Any, Any]:
    """Load a causal LM and its tokenizer; with ``adapter``, wrap the model in that PEFT adapter.

    For inference the model goes where :func:`harness.models.device.resolve_placement` says (``device`` /
    ``precision``; an explicit ``dtype`` such as ``"float32"`` overrides the precision). For training it
    stays fp32 on the CPU: the Trainer moves it and runs mixed precision itself.
    An ``adapter`` directory that holds a full model (``config.json``, no ``adapter_config.json``), as an
    externally trained model may, is loaded in place of ``spec``.
    """
    import torch
    from transformers import AutoModelForCausalLM

    from harness.models.device import resolve_placement

    if adapter is not None and _is_full_model(Path(adapter)):
        spec, adapter = str(adapter), None
    path = resolve_model(spec)
    tokenizer = tokenizer_for(str(path), adapter)
    placement = None if for_training else resolve_placement(device, precision, purpose="infer")
    weights = dtype or (placement.dtype if placement else "float32")
    model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, weights))
    if adapter is not None:
        from peft import PeftModel

        adapter_path = Path(adapter)
        if not (adapter_path / "adapter_config.json").is_file():
            raise BadInput(f"--adapter {adapter}: no adapter_config.json there; pass a PEFT adapter directory")
        model = PeftModel.from_pretrained(model, adapter_path, is_trainable=for_training)
    if placement is not None:
        model = model.to(placement.device)
    if not for_training:
        model.eval()
    collector.settle()  # the libraries and a model are in memory: see posttrain.collector
    return model, tokenizer


def _is_full_model(path: Path) -> bool:
    return (path / "config.json").is_file() and not (path / "adapter_config.json").is_file()

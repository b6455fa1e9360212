"""What models are at hand: the default (installed? converted?), models in ``POSTTRAIN_HOME/models``,
and models in the Hugging Face hub cache — with their sizes on disk.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.models.default import (
    DEFAULT_MODEL,
    DEFAULT_PACKAGE,
    DEFAULT_PACKAGE_VERSION,
    INSTALL_HINT,
    default_gguf_path,
    default_model_dir,
    is_converted,
    models_dir,
)
from posttrain.errors import BadInput


class ModelInfo(BaseModel):
    """One model posttrain can load by name or path."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="what to pass to --model")
    where: Literal["default", "posttrain", "hf-cache"]
    status: str = Field(description="ready, not converted yet (converts on first use), or not installed")
    path: str | None = None
    size_bytes: int = Field(0, description="bytes on disk (for an unconverted default: the GGUF file)")


def dir_size(path: Path) -> int:
    """Bytes of the regular files under ``path`` (symlinks followed once, as the HF cache uses them)."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += (Path(root) / name).stat().st_size
            except OSError:  # a dangling symlink in a half-deleted cache
                continue
    return total


def human_size(n: int) -> str:
    """
    >>> human_size(538_000_000), human_size(2048), human_size(0)
    ('538.0 MB', '2.0 kB', '0 B')
    """
    size = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"  # pragma: no cover


def list_models() -> list[ModelInfo]:
    """The default model first, then converted/saved models in the posttrain cache, then the HF cache."""
    out = [_default_info()]
    root = models_dir()
    if root.is_dir():
        for path in sorted(root.iterdir()):
            if path == default_model_dir() or path.name.startswith(".") or not path.is_dir():
                continue
            if (path / "config.json").is_file():
                out.append(
                    ModelInfo(
                        name=str(path), where="posttrain", status="ready", path=str(path), size_bytes=dir_size(path)
                    )
                )
    out.extend(_hub_models())
    return out


def _default_info() -> ModelInfo:
    target = default_model_dir()
    if is_converted(target):
        return ModelInfo(
            name=DEFAULT_MODEL, where="default", status="ready", path=str(target), size_bytes=dir_size(target)
        )
    try:
        gguf = default_gguf_path()
    except BadInput:
        return ModelInfo(name=DEFAULT_MODEL, where="default", status=f"not installed: {INSTALL_HINT}")
    return ModelInfo(
        name=DEFAULT_MODEL,
        where="default",
        status=f"installed ({DEFAULT_PACKAGE}=={DEFAULT_PACKAGE_VERSION}); converts on first use (~20 s)",
        path=str(gguf),
        size_bytes=gguf.stat().st_size,
    )


def _hub_models() -> list[ModelInfo]:
    try:
        from huggingface_hub import constants, scan_cache_dir
    except ImportError:  # pragma: no cover - a dependency of transformers
        return []
    try:
        # Read the location now: HF_HUB_CACHE may have changed since huggingface_hub was imported.
        cache = scan_cache_dir(os.environ.get("HF_HUB_CACHE") or constants.HF_HUB_CACHE)
    except Exception:  # no cache directory yet, or an unreadable one
        return []
    out = []
    for repo in sorted(cache.repos, key=lambda r: r.repo_id):
        if repo.repo_type != "model":
            continue
        out.append(
            ModelInfo(
                name=repo.repo_id,
                where="hf-cache",
                status="ready (cached)",
                path=str(repo.repo_path),
                size_bytes=int(repo.size_on_disk),
            )
        )
    return out

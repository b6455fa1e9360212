"""Training: LoRA SFT, DPO, KTO, GRPO, RLOO and reward models through TRL and PEFT, resumable, with replay.

``train(request)`` is the one entry point (``posttrain train`` and the runner's train stage call it);
the methods live one file each under :mod:`harness.training.methods`. Importing this package is cheap
and imports nothing else: ``harness.config`` reads the method registry, and the request builder reads
``harness.config``, so those load on first use (torch, transformers, trl and peft load inside ``train``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.training.callbacks import TrainSummary
    from harness.training.request import TrainRequest
    from harness.training.resolve import build_request

__all__ = ["TrainRequest", "build_request", "train"]


def train(request: TrainRequest) -> TrainSummary:
    """Train one method into ``request.out`` (see :mod:`harness.training.stage`)."""
    from harness.training.stage import train as run_stage

    return run_stage(request)


def __getattr__(name: str) -> Any:
    if name == "TrainRequest":
        from harness.training import request

        return request.TrainRequest
    if name == "build_request":  # the request from flags, or a config's step (harness.training.resolve)
        from harness.training import resolve

        return resolve.build_request
    raise AttributeError(f"module 'harness.training' has no attribute {name!r}")

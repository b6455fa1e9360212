"""Training: LoRA SFT, DPO, GRPO and reward models through TRL and PEFT, resumable, with replay.

``train(request)`` is the one entry point (``posttrain train`` and the runner's train stage call it).
Importing this package is cheap: torch, transformers, trl and peft load inside ``train``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.training.request import TrainRequest, build_request

if TYPE_CHECKING:
    from harness.training.callbacks import TrainSummary

__all__ = ["TrainRequest", "build_request", "train"]


def train(request: TrainRequest) -> TrainSummary:
    """Train one method into ``request.out`` (see :mod:`harness.training.stage`)."""
    from harness.training.stage import train as run_stage

    return run_stage(request)

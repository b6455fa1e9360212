"""External: a model trained elsewhere (Axolotl, Unsloth, LLaMA-Factory, OpenRLHF, ...), judged like posttrain's own.

``methods: [external]`` with ``external: {path: DIR}`` trains nothing: the ``train`` stage checks that DIR
is a PEFT adapter (``adapter_config.json``) or a full Hugging Face model directory (``config.json``), and
the ``tuned`` and ``forgetting`` stages evaluate it against the same baselines, eval sets and probes.
An adapter is applied to the experiment's ``model``; a full model directory replaces it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.training.methods import MethodSpec
from posttrain.errors import BadInput

ADAPTER_FILE = "adapter_config.json"
MODEL_FILE = "config.json"


class ExternalSettings(BaseModel):
    """``external:`` in experiment.yaml."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    path: str | None = Field(
        None, description="The adapter or model directory trained elsewhere (relative to the experiment folder)."
    )


def weights_kind(path: Path, where: str = "external.path") -> Literal["adapter", "model"]:
    """``adapter`` for a PEFT adapter dir, ``model`` for a full HF model dir; BadInput for anything else."""
    if (path / ADAPTER_FILE).is_file():
        return "adapter"
    if (path / MODEL_FILE).is_file():
        return "model"
    if not path.exists():
        raise BadInput(f"{where} {path}: does not exist; put the adapter or model trained elsewhere there")
    raise BadInput(
        f"{where} {path}: neither a PEFT adapter ({ADAPTER_FILE}) nor a Hugging Face model dir ({MODEL_FILE})"
    )


def describe(path: Path, where: str = "external.path") -> dict[str, str | None]:
    """What the run records about the external weights: their kind and, for an adapter, its base model."""
    kind = weights_kind(path, where)
    base = None
    if kind == "adapter":
        base = json.loads((path / ADAPTER_FILE).read_text(encoding="utf-8")).get("base_model_name_or_path")
    return {"path": str(path), "kind": kind, "base_model": base, "trained_by": "elsewhere (not run by posttrain)"}


SPEC = MethodSpec(
    name="external",
    summary="evaluate an adapter or model trained elsewhere (not run by posttrain)",
    data_kind="none",
    chains_policy=False,
    runs_here=False,
    settings=ExternalSettings,
)

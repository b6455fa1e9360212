"""``TrainRequest``: everything one training stage needs, resolved from ``experiment.yaml`` plus flags.

:mod:`harness.training.resolve` builds them (``resolve_requests``, ``build_request``): flags override the
config; the config overrides the defaults in :mod:`harness.config`. Paths inside a config are relative to
the folder that holds it. Nothing heavy is imported here.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.config import (
    ComputeSettings,
    LoraSettings,
    ReplaySettings,
    RewardSpec,
    TrainingSettings,
    TrainSource,
)
from harness.training.methods import method_named, trainable_here
from harness.training.methods.dpo import DpoSettings
from harness.training.methods.grpo import GrpoSettings
from harness.training.methods.kto import KtoSettings
from harness.training.methods.reward import RewardSettings
from harness.training.methods.rloo import RlooSettings
from harness.training.methods.sft import SftSettings
from posttrain.errors import BadInput, validation_lines

METHODS = trainable_here()  # the methods `posttrain train` runs in-process (ppo and external do not)
Method = Literal["sft", "dpo", "kto", "grpo", "rloo", "reward"]


class TrainRequest(BaseModel):
    """One training stage, fully resolved (see :func:`harness.training.resolve.resolve_requests`)."""

    model_config = ConfigDict(extra="forbid")

    method: Method = Field(description="sft, dpo, kto, grpo, rloo or reward (a reward model on preference pairs).")
    model: str = Field("smollm2-135m", description="Base model: a name, a model directory or a hub id.")
    data: list[TrainSource] = Field(min_length=1, description="Training sources with mixing weights.")
    out: str = Field(description="Output directory: the PEFT adapter, metrics, provenance, checkpoints.")
    eval: str | None = Field(None, description="Optional eval file for an eval loss during training.")
    adapter: str | None = Field(None, description="Start from this adapter (e.g. the SFT adapter for DPO).")
    merge: bool = Field(False, description="Also write OUT/merged, the base model with the adapter merged in.")
    system_prompt: str | None = Field(None, description="Prepended to conversations without a system message.")
    lora: LoraSettings = Field(default_factory=LoraSettings, description="Adapter settings.")
    training: TrainingSettings = Field(
        default_factory=TrainingSettings, description="Optimiser and schedule, the method section's values applied."
    )
    rewards: list[RewardSpec] = Field(default_factory=list, description="GRPO/RLOO rewards, summed with weights.")
    # Each method's own section (harness/training/methods/<name>.py); only `method`'s is read.
    sft: SftSettings = Field(default_factory=SftSettings, description="SFT's own settings.")
    dpo: DpoSettings = Field(default_factory=DpoSettings, description="DPO's own settings.")
    kto: KtoSettings = Field(default_factory=KtoSettings, description="KTO's own settings.")
    grpo: GrpoSettings = Field(default_factory=GrpoSettings, description="GRPO's own settings.")
    rloo: RlooSettings = Field(default_factory=RlooSettings, description="RLOO's own settings.")
    reward: RewardSettings = Field(default_factory=RewardSettings, description="The reward model's own settings.")
    replay: ReplaySettings | None = Field(None, description="General data mixed into SFT against forgetting.")
    compute: ComputeSettings = Field(default_factory=ComputeSettings, description="Device, precision, launcher.")
    base_dir: str | None = Field(None, description="Folder that relative reward files are resolved against.")
    progress: bool = Field(True, description="Show a progress bar.")

    def fingerprint(self) -> str:
        """Hash of the settings that change what is trained (not progress bars or the launcher).

        >>> r = TrainRequest(method="sft", data=[{"path": "a.jsonl"}], out="o")
        >>> r.fingerprint() == r.model_copy(update={"progress": False}).fingerprint()
        True
        >>> r.fingerprint() == r.model_copy(update={"dpo": DpoSettings(beta=0.5)}).fingerprint()  # not sft's
        True
        """
        # Another method's section does not change what this one trains; its training overrides are
        # already applied in `training`, so only its own settings count.
        others = set(METHODS) - {self.method}
        data = self.model_dump(exclude={"progress", "merge", "compute", self.method, *others})
        data["own"] = getattr(self, self.method).own_settings()
        data["training"].pop("max_steps", None)  # raising max_steps continues a run
        data["training"].pop("save_steps", None)
        data["training"].pop("logging_steps", None)
        data["training"].pop("seeds", None)  # one request is one seed's run
        return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def check_method(method: str) -> None:
    """A method ``posttrain train`` runs; ppo and external get their own refusal."""
    spec = method_named(method)
    if not spec.runs_here:
        from harness.training.methods.ppo import refusal

        raise BadInput(refusal() if method == "ppo" else f"--method {method}: {spec.summary}; plan it in a config")


def validated(cls: Any, values: dict[str, Any], flag: str) -> Any:
    try:
        return cls.model_validate(values)
    except ValidationError as error:
        raise BadInput("\n".join(f"{flag}: {line}" for line in validation_lines(error))) from None


def relative_to(path: str, base_dir: Path) -> str:
    """A config path under ``base_dir``; a bare name that is no file there (a `datasets` name) passes through."""
    candidate = Path(path).expanduser()
    if candidate.is_absolute():
        return str(candidate)
    resolved = base_dir / candidate
    return str(resolved) if resolved.exists() or "/" in path or "." in Path(path).name else path

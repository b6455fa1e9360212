"""``TrainRequest``: everything one training stage needs, resolved from ``experiment.yaml`` plus flags.

Flags override the config; the config overrides the defaults in :mod:`harness.config`. Paths inside a
config are relative to the folder that holds it. Nothing heavy is imported here.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.config import (
    ComputeSettings,
    ExperimentConfig,
    LoraSettings,
    ReplaySettings,
    RewardSpec,
    TrainingSettings,
    TrainSource,
)
from harness.training.methods import method_named, trainable_here
from harness.training.methods.kto import KtoSettings
from harness.training.methods.rloo import RlooSettings
from posttrain.errors import BadInput, validation_lines

METHODS = trainable_here()  # the methods `posttrain train` runs in-process (ppo and external do not)
Method = Literal["sft", "dpo", "kto", "grpo", "rloo", "reward"]


class TrainRequest(BaseModel):
    """One training stage, fully resolved."""

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
    training: TrainingSettings = Field(default_factory=TrainingSettings, description="Optimiser and schedule.")
    rewards: list[RewardSpec] = Field(default_factory=list, description="GRPO/RLOO rewards, summed with weights.")
    kto: KtoSettings = Field(default_factory=KtoSettings, description="KTO's own settings.")
    rloo: RlooSettings = Field(default_factory=RlooSettings, description="RLOO's own settings.")
    replay: ReplaySettings | None = Field(None, description="General data mixed into SFT against forgetting.")
    compute: ComputeSettings = Field(default_factory=ComputeSettings, description="Device, precision, launcher.")
    temperature: float = Field(0.7, gt=0, description="GRPO/RLOO: sampling temperature of the completions.")
    base_dir: str | None = Field(None, description="Folder that relative reward files are resolved against.")
    progress: bool = Field(True, description="Show a progress bar.")

    def fingerprint(self) -> str:
        """Hash of the settings that change what is trained (not progress bars or the launcher).

        >>> r = TrainRequest(method="sft", data=[{"path": "a.jsonl"}], out="o")
        >>> r.fingerprint() == r.model_copy(update={"progress": False}).fingerprint()
        True
        """
        # Another method's own section does not change what this one trains.
        others = {m for m in ("kto", "rloo") if m != self.method}
        data = self.model_dump(exclude={"progress", "merge", "compute", *others})
        data["training"].pop("max_steps", None)  # raising max_steps continues a run
        data["training"].pop("save_steps", None)
        data["training"].pop("logging_steps", None)
        return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


# Flags whose value goes into TrainingSettings / LoraSettings when given (None means "not given").
TRAINING_FLAGS = (
    "max_steps",
    "epochs",
    "learning_rate",
    "batch_size",
    "gradient_accumulation",
    "max_length",
    "seed",
    "packing",
    "save_steps",
    "logging_steps",
    "dpo_beta",
    "num_generations",
    "max_completion_length",
    "warmup_ratio",
)
LORA_FLAGS = {"lora_r": "r", "lora_alpha": "alpha", "full_finetune": "full_finetune", "qlora": "qlora"}


def build_request(
    *,
    method: str | None,
    out: str | Path,
    model: str | None = None,
    data: list[str] | None = None,
    eval: str | None = None,
    config: str | Path | None = None,
    adapter: str | None = None,
    merge: bool = False,
    rewards: list[str] | None = None,
    replay: float | None = None,
    launcher: str | None = None,
    num_processes: int | None = None,
    precision: str | None = None,
    progress: bool = True,
    temperature: float | None = None,
    **overrides: Any,
) -> TrainRequest:
    """Merge an optional ``experiment.yaml`` with flags (flags win) into a validated request.

    >>> r = build_request(method="sft", out="o", data=["a.jsonl"], learning_rate=1e-3, max_steps=5)
    >>> (r.training.learning_rate, r.training.max_steps, r.data[0].path)
    (0.001, 5, 'a.jsonl')
    >>> build_request(method="sft", out="o", data=["a.jsonl"], learning_rate=0)
    Traceback (most recent call last):
    ...
    posttrain.errors.BadInput: --learning-rate: Input should be greater than 0 (got 0)
    >>> build_request(method="dop", out="o", data=["a.jsonl"])
    Traceback (most recent call last):
    ...
    posttrain.errors.BadInput: --method dop: unknown; did you mean dpo? Methods: sft, dpo, kto, grpo, rloo, \
reward, ppo, external
    """
    unknown = set(overrides) - set(TRAINING_FLAGS) - set(LORA_FLAGS)
    if unknown:
        raise TypeError(f"unknown override(s): {', '.join(sorted(unknown))}")
    cfg: ExperimentConfig | None = None
    base_dir: Path | None = None
    if config is not None:
        from harness.config import load_config

        config_path = Path(config)
        cfg = load_config(config_path)
        base_dir = (config_path if config_path.is_dir() else config_path.parent).resolve()
    if method is None:
        if cfg is None or not cfg.methods:
            raise BadInput(f"--method: missing; give --method {'|'.join(METHODS)} (or a --config with methods)")
        method = cfg.methods[0]
    spec = method_named(method)
    if not spec.runs_here:
        from harness.training.methods.ppo import refusal

        raise BadInput(refusal() if method == "ppo" else f"--method {method}: {spec.summary}; plan it in a config")

    sources = _sources(method, data, cfg, base_dir)
    base_training = cfg.training.for_method(method) if cfg else TrainingSettings()  # per_method overrides
    training = _override(base_training, overrides, TRAINING_FLAGS, {}, TrainingSettings)
    lora = _override(cfg.lora if cfg else LoraSettings(), overrides, tuple(LORA_FLAGS), LORA_FLAGS, LoraSettings)
    reward_specs = [RewardSpec(name=name) for name in rewards] if rewards else list(cfg.rewards if cfg else [])
    replay_settings = cfg.data.replay if cfg else None
    if replay is not None:
        replay_settings = _validated(
            ReplaySettings, {**(replay_settings or ReplaySettings()).model_dump(), "fraction": replay}, "--replay"
        )
        if replay == 0:
            replay_settings = None
    if replay_settings is not None and replay_settings.path != "builtin:general" and base_dir is not None:
        replay_settings = replay_settings.model_copy(update={"path": _rel(replay_settings.path, base_dir)})
    compute = cfg.compute if cfg else ComputeSettings()
    compute_update = {
        k: v
        for k, v in {"launcher": launcher, "num_processes": num_processes, "precision": precision}.items()
        if v is not None
    }
    if compute_update:
        compute = _validated(ComputeSettings, {**compute.model_dump(), **compute_update}, "--launcher")
    # Eval sets are scored by `posttrain eval`; an eval loss during training is opt-in through --eval.
    eval_path = eval
    try:
        return TrainRequest(
            method=method,  # type: ignore[arg-type]
            model=model or (cfg.model if cfg else "smollm2-135m"),
            data=sources,
            out=str(out),
            eval=eval_path,
            adapter=adapter,
            merge=merge,
            system_prompt=cfg.baselines.system_prompt if cfg else None,
            lora=lora,
            training=training,
            rewards=reward_specs,
            kto=cfg.kto if cfg else KtoSettings(),
            rloo=cfg.rloo if cfg else RlooSettings(),
            replay=replay_settings if method == "sft" else None,
            compute=compute,
            base_dir=str(base_dir) if base_dir else None,
            **({"temperature": temperature} if temperature is not None else {}),
            progress=progress,
        )
    except ValidationError as error:
        raise BadInput("\n".join(validation_lines(error))) from None


def _rel(path: str, base_dir: Path) -> str:
    candidate = Path(path).expanduser()
    if candidate.is_absolute():
        return str(candidate)
    resolved = base_dir / candidate
    return str(resolved) if resolved.exists() or "/" in path or "." in Path(path).name else path


def _sources(method: str, data: list[str] | None, cfg: ExperimentConfig | None, base_dir: Path | None) -> list[Any]:
    if data:
        return [TrainSource(path=p) for p in data]
    if cfg is None or base_dir is None:
        raise BadInput("--data: missing; give a training file (or a --config that names one)")
    field = method_named(method).data_field or "data"
    if field == "data.train":
        found = [s.model_copy(update={"path": _rel(s.path, base_dir)}) for s in cfg.data.train]
    else:
        value = getattr(cfg.data, field.removeprefix("data."))
        found = [TrainSource(path=_rel(value, base_dir))] if value else []
    if not found:
        raise BadInput(f"--data: missing; the config has no {field} for --method {method}")
    return found


def _override(current: Any, overrides: dict[str, Any], names: tuple[str, ...], rename: dict[str, str], cls: Any) -> Any:
    given = {rename.get(k, k): v for k, v in overrides.items() if k in names and v is not None}
    if not given:
        return current
    try:
        return cls.model_validate({**current.model_dump(), **given})
    except ValidationError as error:
        flag = {v: k for k, v in rename.items()}
        lines = []
        for err in error.errors():
            name = str(err["loc"][0]) if err["loc"] else "?"
            msg = err["msg"] + (f" (got {err['input']!r})" if "input" in err else "")
            lines.append(f"--{flag.get(name, name).replace('_', '-')}: {msg}")
        raise BadInput("\n".join(lines)) from None


def _validated(cls: Any, values: dict[str, Any], flag: str) -> Any:
    try:
        return cls.model_validate(values)
    except ValidationError as error:
        raise BadInput("\n".join(f"{flag}: {line}" for line in validation_lines(error))) from None

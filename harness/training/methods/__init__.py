"""The training methods, one file each: its typed settings beside its ``build()``, as TRL keeps
``x_config.py`` beside ``x_trainer.py``.

A method declares the data it trains on, the stages it comes after and whether it trains inside
posttrain at all (``ppo`` hands off to OpenRLHF; ``external`` brings a model trained elsewhere). Adding
a method is one file here plus one line in :data:`_MODULES`. Importing this package is cheap: a module
imports torch and TRL only inside its ``build``.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from posttrain.errors import BadInput

DataKind = Literal["sft", "preference", "feedback", "prompts", "none"]
# The config field each data kind is read from (relative to the experiment folder).
DATA_FIELD: dict[str, str] = {
    "sft": "data.train",
    "preference": "data.preference",
    "feedback": "data.feedback",
    "prompts": "data.prompts",
}


class NoSettings(BaseModel):
    """A method with nothing of its own to set (its knobs live in ``training:`` and ``lora:``)."""

    model_config = {"extra": "forbid"}


# The shared ``training:`` settings a method section may set for that method alone; each one is validated
# by ``harness.config.TrainingSettings`` when it is applied (``ExperimentConfig.training_for``), so the
# limits (learning_rate > 0, ...) are written once, there. A test keeps these names among its fields.
TRAINING_OVERRIDES = (
    "max_steps",
    "epochs",
    "learning_rate",
    "batch_size",
    "gradient_accumulation",
    "max_length",
    "warmup_ratio",
    "save_steps",
    "logging_steps",
)


class MethodSection(BaseModel):
    """A method's section in experiment.yaml (``sft:``, ``dpo:``, ...): its own settings, plus any shared
    ``training:`` setting it needs a different value of, e.g. ``dpo: {beta: 0.1, learning_rate: 5.0e-5}``."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    max_steps: int | None = Field(None, description="This method's own training.max_steps (unset: training's).")
    epochs: float | None = Field(None, description="This method's own training.epochs (unset: training's).")
    learning_rate: float | None = Field(
        None, description="This method's own training.learning_rate (unset: training's)."
    )
    batch_size: int | None = Field(None, description="This method's own training.batch_size (unset: training's).")
    gradient_accumulation: int | None = Field(
        None, description="This method's own training.gradient_accumulation (unset: training's)."
    )
    max_length: int | None = Field(None, description="This method's own training.max_length (unset: training's).")
    warmup_ratio: float | None = Field(None, description="This method's own training.warmup_ratio (unset: training's).")
    save_steps: int | None = Field(None, description="This method's own training.save_steps (unset: training's).")
    logging_steps: int | None = Field(None, description="This method's own training.logging_steps (unset: training's).")

    def training_overrides(self) -> dict[str, Any]:
        """The shared settings this section sets for its method (the ones written, not None).

        >>> MethodSection(learning_rate=5e-5).training_overrides()
        {'learning_rate': 5e-05}
        """
        return {name: getattr(self, name) for name in TRAINING_OVERRIDES if getattr(self, name) is not None}

    def own_settings(self) -> dict[str, Any]:
        """The method's own settings (beta, num_generations, ...), without the training overrides."""
        return self.model_dump(exclude=set(TRAINING_OVERRIDES))


@dataclass(frozen=True)
class MethodSpec:
    """What the runner, the request builder and the config need to know about one method."""

    name: str
    summary: str = field(compare=False)
    data_kind: DataKind
    # Methods that must come earlier in the plan when both are planned (their output feeds this one).
    after: tuple[str, ...] = ()
    # The policy adapter trained just before (e.g. SFT for DPO) is where this method starts.
    chains_policy: bool = True
    # Online RL scores its samples with the plan's rewards (built-ins, rewards.py or the reward stage's model).
    needs_rewards: bool = False
    # Does it write a policy the `tuned` stage evaluates? (A reward model is no policy.)
    policy: bool = True
    # False: posttrain does not train it (ppo hands off to OpenRLHF; external is trained elsewhere).
    runs_here: bool = True
    settings: type[BaseModel] = NoSettings
    # build(request, model, tokenizer, common, train, evals, peft, rewards) -> a transformers Trainer
    build: Callable[..., Any] | None = field(default=None, compare=False)

    @property
    def data_field(self) -> str | None:
        return DATA_FIELD.get(self.data_kind)


_MODULES = ("sft", "dpo", "kto", "grpo", "rloo", "reward", "ppo", "external")
METHOD_NAMES: tuple[str, ...] = _MODULES
_SPECS: dict[str, MethodSpec] = {}


def registry() -> dict[str, MethodSpec]:
    """Every method by name, in plan order (the modules import nothing heavy)."""
    if not _SPECS:
        for name in _MODULES:
            spec = importlib.import_module(f"harness.training.methods.{name}").SPEC
            assert spec.name == name, f"methods/{name}.py declares {spec.name}"
            _SPECS[name] = spec
    return _SPECS


def method_named(name: str, flag: str = "--method") -> MethodSpec:
    """The method called ``name``; an unknown one gets "did you mean" and the list.

    >>> method_named("kto").data_kind
    'feedback'
    >>> method_named("grp")
    Traceback (most recent call last):
    ...
    posttrain.errors.BadInput: --method grp: unknown; did you mean grpo? Methods: sft, dpo, kto, grpo, rloo, \
reward, ppo, external
    """
    specs = registry()
    if name in specs:
        return specs[name]
    close = difflib.get_close_matches(name, list(specs), n=1)
    hint = f"did you mean {close[0]}? " if close else ""
    raise BadInput(f"{flag} {name}: unknown; {hint}Methods: {', '.join(specs)}")


def trainable_here() -> tuple[str, ...]:
    """Methods ``posttrain train`` runs in-process."""
    return tuple(name for name, spec in registry().items() if spec.runs_here)

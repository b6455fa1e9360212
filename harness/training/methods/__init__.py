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

from pydantic import BaseModel

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

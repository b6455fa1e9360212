"""The ``posttrain train`` flags that set a schema field, derived from the pydantic models themselves.

Each flag's type and help come from its field (``Field(description=...)``), so a setting is documented
once: every scalar of ``training:`` (``--learning-rate``, ``--warmup-ratio``, ...), LoRA's (``--lora-r``, ...)
and each method section's own settings. A setting several methods share from one class (GRPO and RLOO's
``num_generations``, ``max_completion_length``, ``temperature``) is one bare flag that sets it for each of
them; a name that means different things per method gets the method's prefix (``--dpo-beta``, ``--kto-beta``,
``--rloo-beta``). Nothing heavy is imported here.
"""

from __future__ import annotations

import inspect
import types
import typing
from dataclasses import dataclass
from functools import cache
from typing import Any

from pydantic import BaseModel, ValidationError

from harness.config import LoraSettings, TrainingSettings
from harness.training.methods import TRAINING_OVERRIDES, MethodSection, registry
from posttrain.errors import BadInput

# LoRA fields and their flags (target_modules is a list or a word: set it in experiment.yaml).
LORA_FLAGS = {"r": "lora_r", "alpha": "lora_alpha", "dropout": "lora_dropout", "full_finetune": "full_finetune",
              "qlora": "qlora"}  # fmt: skip
SCALARS = (bool, int, float, str)


@dataclass(frozen=True)
class Flag:
    """One flag: its Python name, its type, its help and the (section, field) pairs it sets."""

    dest: str
    kind: type
    help: str
    targets: tuple[tuple[str, str], ...]  # section is "training", "lora" or a method name

    @property
    def option(self) -> str:
        return "--" + self.dest.replace("_", "-")


def _scalar(annotation: Any) -> type | None:
    """``int | None`` → int; lists, dicts and literals → None (they are set in experiment.yaml)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return args[0] if len(args) == 1 and args[0] in SCALARS else None
    return annotation if annotation in SCALARS else None


def _declared_by(cls: type[BaseModel], name: str) -> type:
    """The class in ``cls``'s bases that declares field ``name`` (shared classes make shared flags)."""
    for base in cls.__mro__:
        if name in inspect.get_annotations(base):
            return base
    return cls


@cache
def train_flags() -> tuple[Flag, ...]:
    """Every schema flag of ``posttrain train``, in help order: training, LoRA, then each method's own.

    >>> flags = {f.dest: f for f in train_flags()}
    >>> flags["num_generations"].targets, flags["dpo_beta"].targets
    ((('grpo', 'num_generations'), ('rloo', 'num_generations')), (('dpo', 'beta'),))
    >>> flags["learning_rate"].option, flags["learning_rate"].kind
    ('--learning-rate', <class 'float'>)
    """
    flags: list[Flag] = []
    for name, info in TrainingSettings.model_fields.items():
        kind = _scalar(info.annotation)
        if kind is not None:
            flags.append(Flag(name, kind, info.description or "", (("training", name),)))
    for name, dest in LORA_FLAGS.items():
        info = LoraSettings.model_fields[name]
        flags.append(Flag(dest, _scalar(info.annotation) or str, info.description or "", (("lora", name),)))
    owners: dict[str, dict[type, list[str]]] = {}
    for method, spec in registry().items():
        if not spec.runs_here or not issubclass(spec.settings, MethodSection):
            continue
        for name, info in spec.settings.model_fields.items():
            if name not in TRAINING_OVERRIDES and _scalar(info.annotation) is not None:
                owners.setdefault(name, {}).setdefault(_declared_by(spec.settings, name), []).append(method)
    for name, by_class in owners.items():
        for cls, methods in by_class.items():
            info = cls.model_fields[name]  # type: ignore[attr-defined]
            dest = name if len(by_class) == 1 else f"{methods[0]}_{name}"
            who = "/".join(m.upper() for m in methods)
            kind = _scalar(info.annotation) or str
            flags.append(Flag(dest, kind, f"{who}: {info.description}", tuple((m, name) for m in methods)))
    return tuple(flags)


def flag_named(dest: str) -> Flag:
    return next(f for f in train_flags() if f.dest == dest)


def apply_flags(
    method: str,
    values: dict[str, Any],
    training: TrainingSettings,
    lora: LoraSettings,
    section: BaseModel,
) -> tuple[TrainingSettings, LoraSettings, BaseModel]:
    """The request's settings with the given flags applied (None = not given), each validated by its model.

    >>> t, _, s = apply_flags("grpo", {"num_generations": 8, "max_steps": 3}, TrainingSettings(), LoraSettings(),
    ...                       registry()["grpo"].settings())
    >>> t.max_steps, s.num_generations
    (3, 8)
    """
    given: dict[str, dict[str, Any]] = {}
    option_of: dict[tuple[str, str], str] = {}
    for flag in train_flags():
        value = values.get(flag.dest)
        if value is None:
            continue
        for target, name in flag.targets:
            if target in ("training", "lora") or target == method:
                given.setdefault(target, {})[name] = value
                option_of[(target, name)] = flag.option
    own = given.pop(method, {})
    return (
        _updated(training, given.get("training", {}), "training", option_of),
        _updated(lora, given.get("lora", {}), "lora", option_of),
        _updated(section, own, method, option_of),
    )


def unused_flags(values: dict[str, Any], methods: list[str]) -> list[str]:
    """Method flags given that none of ``methods`` reads, as ``--flag: ...`` lines."""
    lines = []
    for flag in train_flags():
        sections = {t for t, _ in flag.targets}
        if values.get(flag.dest) is not None and not sections & {"training", "lora", *methods}:
            lines.append(
                f"{flag.option}: sets {', '.join(f'{t}.{n}' for t, n in flag.targets)}; "
                f"--method {'/'.join(methods) or '?'} does not use it"
            )
    return lines


def _updated(current: Any, given: dict[str, Any], section: str, option_of: dict[tuple[str, str], str]) -> Any:
    if not given:
        return current
    try:
        return type(current).model_validate({**current.model_dump(), **given})
    except ValidationError as error:
        lines = []
        for err in error.errors():
            name = str(err["loc"][0]) if err["loc"] else "?"
            msg = err["msg"] + (f" (got {err['input']!r})" if "input" in err and name in given else "")
            lines.append(f"{option_of.get((section, name), '--' + name.replace('_', '-'))}: {msg}")
        raise BadInput("\n".join(lines)) from None

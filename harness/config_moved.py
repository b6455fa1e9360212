"""Fields that moved out of ``training:`` into the method sections, and how an older file is read.

An older ``experiment.yaml`` keeps working: each moved field is read at its new place and one notice per
field says where to write it (``experiment.yaml:17: training.dpo_beta moved to dpo.beta; ...``), the way a
library deprecates a keyword rather than breaking a run in progress. A file that sets both the old and the
new place is refused: which one was meant cannot be guessed.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# Old ``training.<name>`` → the method sections that now hold it (the old field applied to all of them).
MOVED: dict[str, tuple[str, ...]] = {
    "dpo_beta": ("dpo.beta",),
    "num_generations": ("grpo.num_generations", "rloo.num_generations"),
    "max_completion_length": ("grpo.max_completion_length", "rloo.max_completion_length", "ppo.max_completion_length"),
}
Loc = tuple[str | int, ...]


@dataclass
class Migration:
    """The file's values at their new places, a notice per moved field, and where each moved value was."""

    raw: dict[str, Any]
    notices: list[tuple[Loc, str]] = field(default_factory=list)  # (old location, message)
    conflicts: list[tuple[Loc, str]] = field(default_factory=list)
    moved_from: dict[Loc, Loc] = field(default_factory=dict)  # new location → old location

    def old_location(self, loc: Loc) -> Loc:
        """Where a (possibly moved) location was written in the file, so errors point at the user's line.

        >>> m = Migration(raw={}, moved_from={("dpo", "max_steps"): ("training", "per_method", "dpo", "max_steps")})
        >>> m.old_location(("dpo", "max_steps")), m.old_location(("dpo", "beta"))
        (('training', 'per_method', 'dpo', 'max_steps'), ('dpo', 'beta'))
        """
        for new, old in self.moved_from.items():
            if loc[: len(new)] == new:
                return (*old, *loc[len(new) :])
        return loc


def migrate(raw: dict[str, Any]) -> Migration:
    """Move ``training.dpo_beta``/``num_generations``/``max_completion_length``/``per_method`` to the sections.

    >>> m = migrate({"methods": ["sft", "dpo"], "training": {"dpo_beta": 0.2, "per_method": {"dpo": {"max_steps": 5}}}})
    >>> m.raw["dpo"], m.raw["training"]
    ({'beta': 0.2, 'max_steps': 5}, {})
    >>> [message for _, message in m.notices]  # doctest: +NORMALIZE_WHITESPACE
    ['training.dpo_beta moved to dpo.beta; write `dpo: {beta: 0.2}` (read from its new place this time)',
     'training.per_method.dpo moved to dpo; write `dpo: {max_steps: 5}` (read from its new place this time)']
    """
    out = copy.deepcopy(raw)
    migration = Migration(raw=out)
    training = out.get("training")
    if not isinstance(training, dict):
        return migration
    planned = [m for m in out.get("methods") or [] if isinstance(m, str)]
    for name, targets in MOVED.items():
        if name not in training:
            continue
        value = training.pop(name)
        shown = [t for t in targets if t.split(".")[0] in planned] or list(targets)
        for target in targets:
            _put(migration, target.split("."), value, ("training", name))
        write = ", ".join(f"`{t.split('.')[0]}: {{{t.split('.')[1]}: {_flow(value)}}}`" for t in shown)
        migration.notices.append(
            (
                ("training", name),
                f"training.{name} moved to {' and '.join(shown)}; write {write} (read from its new place this time)",
            )
        )
    per_method = training.pop("per_method", None)
    if isinstance(per_method, dict):
        for method, values in per_method.items():
            if not isinstance(values, dict):
                migration.conflicts.append((("training", "per_method", method), "must be a mapping of settings"))
                continue
            for key, value in values.items():
                # per_method.grpo.num_generations: the moved field's place in that method's own section
                target = next((t for t in MOVED.get(key, ()) if t.split(".")[0] == method), f"{method}.{key}")
                _put(migration, target.split("."), value, ("training", "per_method", method, key))
            write = ", ".join(f"{k}: {_flow(v)}" for k, v in values.items())
            migration.notices.append(
                (
                    ("training", "per_method", method),
                    f"training.per_method.{method} moved to {method}; write "
                    f"`{method}: {{{write}}}` (read from its new place this time)",
                )
            )
    return migration


def _put(migration: Migration, target: list[str], value: Any, old: Loc) -> None:
    section_name, key = target
    if migration.raw.get(section_name) is None:  # absent, or `dpo:` written empty
        migration.raw[section_name] = {}
    section = migration.raw[section_name]
    if not isinstance(section, dict):
        return  # a wrong type there is reported by the schema, at its own line
    if key in section and (section_name, key) not in migration.moved_from:
        migration.conflicts.append(
            (old, f"moved to {section_name}.{key}, which is also set; remove {'.'.join(map(str, old))}")
        )
        return
    section[key] = value
    migration.moved_from[(section_name, key)] = old


def _flow(value: Any) -> str:
    """A value as the user would write it in YAML flow style.

    >>> _flow(5e-05), _flow(True), _flow(4)
    ('5.0e-05', 'true', '4')
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        mantissa, _, exponent = repr(value).partition("e")
        return f"{mantissa if '.' in mantissa else mantissa + '.0'}e{exponent}" if exponent else repr(value)
    return str(value)


_SHOWN: set[str] = set()


def print_notice(line: str) -> None:
    """Print a moved-field notice on stderr once per process (a run reads its config more than once)."""
    import sys

    if line not in _SHOWN:
        _SHOWN.add(line)
        print(f"notice: {line}", file=sys.stderr)


Notify = Callable[[str], None]

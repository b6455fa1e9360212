"""Where a named lm-eval task's YAML lives, without lm-eval indexing all of its task files.

lm-eval's ``TaskManager`` parses every one of its ~14,000 task YAMLs (10-60 s on a 2-core machine)
before it can name one task. A line scan for ``task: NAME`` finds the folder in about a second, and a
``TaskManager`` over that folder alone loads the task the same way. Groups, tags and tasks defined in
other ways are not found here; callers then fall back to lm-eval's full index.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
from collections.abc import Sequence
from pathlib import Path

_TASK_LINE = re.compile(rb"^task:[ \t]*['\"]?([A-Za-z0-9_.\-]+)", re.MULTILINE)
_WORD = re.compile(rb"[A-Za-z0-9_.\-]+")


@functools.cache
def _scan() -> tuple[dict[str, frozenset[str]], frozenset[str]]:
    """Task name → folders defining it, and every word of every task YAML (names lm-eval could know)."""
    spec = importlib.util.find_spec("lm_eval.tasks")
    if spec is None or spec.origin is None:
        return {}, frozenset()
    found: dict[str, set[str]] = {}
    words: set[bytes] = set()
    for folder, _dirs, files in os.walk(Path(spec.origin).parent):
        for name in files:
            if name.endswith((".yaml", ".yml")):
                with open(os.path.join(folder, name), "rb") as handle:
                    text = handle.read()
                for match in _TASK_LINE.finditer(text):
                    found.setdefault(match.group(1).decode(), set()).add(folder)
                words.update(_WORD.findall(text))
    folders = {task: frozenset(where) for task, where in found.items()}
    return folders, frozenset(w.decode(errors="replace") for w in words)


def _folders_by_task() -> dict[str, frozenset[str]]:
    return _scan()[0]


def never_named(task: str) -> bool:
    """True when no lm-eval task YAML mentions ``task`` at all: it cannot be a task, group or tag.

    >>> never_named("arc_eazy"), never_named("arc_easy")
    (True, False)
    """
    return task not in _scan()[1]


def task_names() -> list[str]:
    """Every plain task name the scan found (for "did you mean" hints)."""
    return sorted(_folders_by_task())


def task_folders(tasks: Sequence[str]) -> tuple[str, ...] | None:
    """The lm-eval folders that define ``tasks`` (sorted), or None when any of them is not a plain task.

    >>> task_folders(["arc_easy"])[0].endswith("arc")
    True
    >>> task_folders(["no_such_task_here"]) is None
    True
    """
    index = _folders_by_task()
    folders: set[str] = set()
    for task in tasks:
        if task not in index:
            return None
        folders |= index[task]
    return tuple(sorted(folders))

"""The validation split: rows held out of the *training* data (never the eval set) to watch overfitting.

The trainer evaluates it every ``save_steps`` (and at the last step), logs ``eval_loss`` beside the
training loss in ``metrics.jsonl``, keeps the best checkpoint (``load_best_model_at_end``) and can stop
early. The split is drawn per source, on the rows as read, before a conversation becomes one row per
trained turn, so no turn of a held-out conversation is trained on. Pure functions; nothing heavy here.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Any

# Below this many rows a held-out share is a handful of examples: its loss is noise, and every row
# is worth more as training data. 20 rows x 10% = 2 validation rows, the least that says anything.
MIN_ROWS_TO_SPLIT = 20
# Online RL (grpo, rloo) optimises sampled rewards: there is no loss on fixed targets to validate.
SPLIT_METHODS = ("sft", "dpo", "kto", "reward")


def best_metric(method: str) -> tuple[str, bool]:
    """The validation metric that picks the best checkpoint, and whether greater is better.

    A reward model is judged by how often it ranks chosen above rejected on held-out pairs; every
    other method by its validation loss.

    >>> best_metric("reward"), best_metric("sft")
    (('eval_accuracy', True), ('eval_loss', False))
    """
    return ("eval_accuracy", True) if method == "reward" else ("eval_loss", False)


def held_out_count(size: int, fraction: float) -> int:
    """Rows of a source of ``size`` rows to hold out: ``fraction x size`` rounded half up, at least 1, never all.

    >>> held_out_count(100, 0.1), held_out_count(25, 0.1), held_out_count(3, 0.4), held_out_count(1, 0.4)
    (10, 3, 1, 0)
    """
    if fraction <= 0 or size < 2:
        return 0
    return min(size - 1, max(1, math.floor(fraction * size + 0.5)))


def split_sources(
    sources: list[list[dict[str, Any]]],
    fraction: float,
    seed: int,
    stratum: Callable[[dict[str, Any]], Any] = lambda row: None,
) -> tuple[list[list[dict[str, Any]]], list[dict[str, Any]], str | None]:
    """Each source's rows split into (train, held out) by ``seed``; returns the train parts, the held-out
    rows of every source together, and a one-line notice when no split was made although one was asked.
    Rows with different ``stratum(row)`` are split apart, so each part keeps their shares (KTO's labels).

    >>> rows = [{"i": i} for i in range(30)]
    >>> train, held, note = split_sources([rows], 0.1, seed=1)
    >>> len(train[0]), len(held), note, sorted(r["i"] for r in held) == sorted(
    ...     r["i"] for r in split_sources([rows], 0.1, seed=1)[1])
    (27, 3, None, True)
    >>> split_sources([rows[:12]], 0.1, seed=1)[2]
    'validation split skipped: 12 training rows are too few to hold out 10% (needs 20); the adapter is the last step'
    """
    total = sum(len(s) for s in sources)
    if fraction <= 0:
        return sources, [], None
    if total < MIN_ROWS_TO_SPLIT:
        return (
            sources,
            [],
            f"validation split skipped: {total} training rows are too few to hold out {fraction:.0%} "
            f"(needs {MIN_ROWS_TO_SPLIT}); the adapter is the last step",
        )
    rng = random.Random(seed)
    train_parts: list[list[dict[str, Any]]] = []
    held: list[dict[str, Any]] = []
    for rows in sources:
        cut: set[int] = set()
        strata: dict[Any, list[int]] = {}
        for i, row in enumerate(rows):
            strata.setdefault(stratum(row), []).append(i)
        for members in strata.values():
            rng.shuffle(members)
            cut.update(members[: held_out_count(len(members), fraction)])
        train_parts.append([r for i, r in enumerate(rows) if i not in cut])
        held += [r for i, r in enumerate(rows) if i in cut]
    return train_parts, held, None


def checkpoint_step(path: str | None) -> int | None:
    """The step of a ``checkpoint-N`` folder.

    >>> checkpoint_step("out/checkpoints/checkpoint-40"), checkpoint_step(None)
    (40, None)
    """
    if not path:
        return None
    tail = path.rstrip("/").rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else None

"""Reward functions for GRPO, with TRL's signature ``(completions, **kwargs) -> list[float]``.

A completion is a string or, for chat data, a list of messages whose last one holds the text. Reference
columns of the prompt rows (``answer``, ``tests``, ...) arrive as keyword lists aligned with ``completions``.
Built-ins live in :data:`BUILTIN_REWARDS`; an experiment adds its own as ``rewards.py:function``, and a
reward model trained with ``posttrain train --method reward`` is used as ``learned:DIR``.

Correctness has one vocabulary: a reward that checks correctness calls the evaluator's metric of the same
name (``numeric``, ``exact_match``, ``unit_tests``), so training optimises what the eval scores, and the
metric names are accepted as reward names (:data:`REWARD_ALIASES`).
"""

from __future__ import annotations

import difflib
import importlib.util
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# RewardFn and completion_text live apart so reward_model (which this module loads) need not import it
from harness.training.completions import RewardFn, completion_text
from posttrain.errors import BadInput, PosttrainError

# "Answer: N", also when a small model puts it at the end of a sentence rather than on its own line.
_ANSWER_LINE = re.compile(r"\bAnswer:[ \t*]*(-?\d[\d,]*(?:\.\d+)?)")


def _references(kwargs: dict[str, Any], n: int, names: Sequence[str] = ("answer", "reference", "solution")) -> list:
    for name in names:
        if name in kwargs and kwargs[name] is not None:
            values = list(kwargs[name])
            if len(values) != n:
                raise ValueError(f"column {name!r} has {len(values)} values for {n} completions")
            return values
    raise ValueError(f"needs a reference column in the prompt rows: one of {', '.join(names)}")


def exact_answer(completions: list[Any], **kwargs: Any) -> list[float]:
    """1.0 when the completion equals the ``answer`` column as the ``exact_match`` metric normalises them.

    >>> exact_answer(["Paris.", "Lyon", "The Nile"], answer=["paris", "Paris", "nile"])
    [1.0, 0.0, 1.0]
    """
    from harness.evaluation.metrics import exact_match

    refs = _references(kwargs, len(completions))
    return [exact_match(completion_text(c), {"reference": str(r)}) for c, r in zip(completions, refs, strict=True)]


def numeric_answer(completions: list[Any], **kwargs: Any) -> list[float]:
    """1.0 when the stated answer equals ``answer`` as the ``numeric`` metric decides (math-verify, then the
    last number as a fraction; see :func:`harness.evaluation.metrics.numbers_agree`).

    >>> numeric_answer(["3 + 4 = 7", "It is 8", "seven", "Answer: 7\\nor 9", "x = 1/2"], answer=[7, "7", 7, 7, 0.5])
    [1.0, 0.0, 0.0, 1.0, 1.0]
    """
    from harness.evaluation.metrics import numbers_agree

    refs = _references(kwargs, len(completions))
    return [float(numbers_agree(completion_text(c), str(r))) for c, r in zip(completions, refs, strict=True)]


def format_answer_line(completions: list[Any], **kwargs: Any) -> list[float]:
    """1.0 when the completion states ``Answer: <number>`` (the arithmetic example's format).

    >>> format_answer_line(["3 + 4 = 7\\nAnswer: 7", "7", "Answer: seven", "So 9 - 2 = 7. Answer: 7"])
    [1.0, 0.0, 0.0, 1.0]
    """
    return [float(bool(_ANSWER_LINE.search(completion_text(c)))) for c in completions]


def format_short(completions: list[Any], **kwargs: Any) -> list[float]:
    """Rewards brevity: 1.0 up to 40 words, falling linearly to 0.0 at 120 words.

    >>> format_short(["one two three", " ".join(["w"] * 80)])
    [1.0, 0.5]
    """
    scores = []
    for c in completions:
        words = len(completion_text(c).split())
        scores.append(max(0.0, min(1.0, (120 - words) / 80)))
    return scores


def format_no_repeat(completions: list[Any], **kwargs: Any) -> list[float]:
    """Share of distinct lines (1.0 when no line repeats); catches degenerate loops.

    >>> format_no_repeat(["a\\nb", "a\\na\\na\\na"])
    [1.0, 0.25]
    """
    scores = []
    for c in completions:
        lines = [line.strip() for line in completion_text(c).splitlines() if line.strip()]
        scores.append(len(set(lines)) / len(lines) if lines else 0.0)
    return scores


def unit_tests(completions: list[Any], **kwargs: Any) -> list[float]:
    """1.0 when the row's ``tests`` ran to their end on the completion's code: the evaluator's hardened check.

    The same check as the ``unit_tests`` metric, so a completion that exits (``sys.exit(0)``) or
    prints a fake pass earns 0. An ``entry_point`` column calls HumanEval's ``check(candidate)``.
    """
    from harness.evaluation.sandbox import check_answers  # written by the evaluation area; imported lazily

    tests = _references(kwargs, len(completions), names=("tests",))
    entries = kwargs.get("entry_point") or [None] * len(completions)
    prompts = [p if isinstance(p, str) else None for p in kwargs.get("prompts") or [None] * len(completions)]
    items = [
        (completion_text(c), str(t), str(e) if e else None, p)
        for c, t, e, p in zip(completions, tests, entries, prompts, strict=True)
    ]
    return [float(result.passed) for result in check_answers(items)]


BUILTIN_REWARDS: dict[str, RewardFn] = {
    "exact_answer": exact_answer,
    "numeric_answer": numeric_answer,
    "unit_tests": unit_tests,
    "format_answer_line": format_answer_line,
    "format_short": format_short,
    "format_no_repeat": format_no_repeat,
}


# The evaluator's metric names, accepted as the names of the rewards that check the same thing.
REWARD_ALIASES = {"numeric": "numeric_answer", "exact_match": "exact_answer", "exact": "exact_answer"}


def reward_named(name: str) -> RewardFn | None:
    """A built-in reward by its name or its metric's name; None when there is none.

    >>> reward_named("numeric") is numeric_answer, reward_named("numeric_answer") is numeric_answer
    (True, True)
    """
    return BUILTIN_REWARDS.get(REWARD_ALIASES.get(name, name))


def load_reward(spec: str, base_dir: Path | None = None, model: str | None = None) -> RewardFn:
    """Resolve a reward name: a built-in (or its metric's name), ``file.py:function`` or ``learned:DIR``."""
    builtin = reward_named(spec)
    if builtin is not None:
        return builtin
    if spec.startswith("learned:"):
        from harness.training.reward_model import learned_reward

        return learned_reward(Path(spec.removeprefix("learned:")), model)
    if ":" in spec and spec.split(":", 1)[0].endswith(".py"):
        file_name, func_name = spec.split(":", 1)
        file = Path(file_name)
        if not file.is_absolute() and base_dir is not None:
            file = base_dir / file
        if not file.is_file():
            raise BadInput(f"reward {spec}: no file {file}")
        module_spec = importlib.util.spec_from_file_location(f"posttrain_rewards_{file.stem}", file)
        if module_spec is None or module_spec.loader is None:
            raise BadInput(f"reward {spec}: cannot import {file}")
        module = importlib.util.module_from_spec(module_spec)
        try:
            module_spec.loader.exec_module(module)
        except Exception as error:
            raise BadInput(f"reward {spec}: importing {file} failed: {type(error).__name__}: {error}") from None
        func = getattr(module, func_name, None)
        if not callable(func):
            raise BadInput(f"reward {spec}: {file} defines no function {func_name!r}")
        return func  # type: ignore[no-any-return]
    names = ", ".join(sorted(BUILTIN_REWARDS))
    close = difflib.get_close_matches(spec, [*BUILTIN_REWARDS, *REWARD_ALIASES], n=1)
    hint = f"did you mean {REWARD_ALIASES.get(close[0], close[0])}? " if close else ""
    raise BadInput(f"reward {spec!r}: unknown; {hint}use a built-in ({names}), 'rewards.py:function' or 'learned:DIR'")


def check_reward(name: str, func: RewardFn, rows: list[dict[str, Any]]) -> None:
    """Call ``func`` once on a dummy batch built from ``rows``; raise BadInput if it fails or miscounts.

    >>> check_reward("numeric_answer", numeric_answer, [{"prompt": "1+1?", "answer": 2}])
    >>> check_reward("bad", lambda completions, **kw: [1.0], [{"prompt": "a"}, {"prompt": "b"}])
    Traceback (most recent call last):
    ...
    posttrain.errors.BadInput: reward bad: returned 1 scores for 2 completions; it must return one float per completion
    """
    batch = rows[:2] or [{"prompt": "test"}]
    completions = [[{"role": "assistant", "content": "Answer: 1"}] for _ in batch]
    columns = {key: [row.get(key) for row in batch] for key in batch[0] if key not in ("prompt", "completion")}
    prompts = [row.get("prompt") for row in batch]
    try:
        scores = func(prompts=prompts, completions=completions, completion_ids=[[0] for _ in batch], **columns)
    except PosttrainError:
        raise  # already one clear message (e.g. no sandbox for the unit_tests reward)
    except Exception as error:
        raise BadInput(
            f"reward {name}: raised {type(error).__name__}: {error} (on a test batch of {len(batch)} prompts)"
        ) from None
    if not isinstance(scores, list | tuple) or len(scores) != len(batch):
        got = len(scores) if isinstance(scores, list | tuple) else type(scores).__name__
        raise BadInput(
            f"reward {name}: returned {got} scores for {len(batch)} completions; "
            "it must return one float per completion"
        )
    for score in scores:
        if score is not None and not isinstance(score, int | float):
            raise BadInput(f"reward {name}: returned {type(score).__name__} values; it must return floats (or None)")

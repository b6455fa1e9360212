"""Reward functions for GRPO, with TRL's signature ``(completions, **kwargs) -> list[float]``.

A completion is a string or, for chat data, a list of messages whose last one holds the text. Reference
columns of the prompt rows (``answer``, ``tests``, ...) arrive as keyword lists aligned with ``completions``.
Built-ins live in :data:`BUILTIN_REWARDS`; an experiment adds its own as ``rewards.py:function``, and a
reward model trained with ``posttrain train --method reward`` is used as ``learned:DIR``.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from posttrain.errors import BadInput

RewardFn = Callable[..., Sequence[float | None]]  # Sequence: a list[float] fits too

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
# "Answer: N", also when a small model puts it at the end of a sentence rather than on its own line.
_ANSWER_LINE = re.compile(r"\bAnswer:[ \t*]*(-?\d[\d,]*(?:\.\d+)?)")


def completion_text(completion: Any) -> str:
    """The generated text of one completion, chat-form or plain.

    >>> completion_text("42")
    '42'
    >>> completion_text([{"role": "assistant", "content": "The answer is 7."}])
    'The answer is 7.'
    """
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        return str(completion[-1].get("content", ""))
    return str(completion)


def last_number(text: str) -> float | None:
    """The last number in ``text`` (commas as thousands separators), or None.

    >>> last_number("3 apples and 4 pears make 7.")
    7.0
    >>> last_number("It costs 1,250 dollars")
    1250.0
    >>> last_number("no digits") is None
    True
    """
    found = _NUMBER.findall(text)
    if not found:
        return None
    try:
        return float(found[-1].replace(",", ""))
    except ValueError:
        return None


def _normalise(text: str) -> str:
    return " ".join(text.strip().lower().rstrip(".!").split())


def _references(kwargs: dict[str, Any], n: int, names: Sequence[str] = ("answer", "reference", "solution")) -> list:
    for name in names:
        if name in kwargs and kwargs[name] is not None:
            values = list(kwargs[name])
            if len(values) != n:
                raise ValueError(f"column {name!r} has {len(values)} values for {n} completions")
            return values
    raise ValueError(f"needs a reference column in the prompt rows: one of {', '.join(names)}")


def exact_answer(completions: list[Any], **kwargs: Any) -> list[float]:
    """1.0 when the completion equals the ``answer`` column (case, spaces and a final period ignored).

    >>> exact_answer(["Paris.", "Lyon"], answer=["paris", "Paris"])
    [1.0, 0.0]
    """
    refs = _references(kwargs, len(completions))
    return [float(_normalise(completion_text(c)) == _normalise(str(r))) for c, r in zip(completions, refs, strict=True)]


def final_answer(text: str) -> float | None:
    """The number of the last ``Answer: N``, else the last number in the text.

    >>> final_answer("Answer: 12\\nThen 5 more people came")
    12.0
    >>> final_answer("3 + 4 = 7")
    7.0
    """
    stated = _ANSWER_LINE.findall(text)
    return last_number(stated[-1]) if stated else last_number(text)


def numeric_answer(completions: list[Any], **kwargs: Any) -> list[float]:
    """1.0 when the final answer (an ``Answer: N`` line, else the last number) equals ``answer`` (within 1e-6).

    >>> numeric_answer(["3 + 4 = 7", "It is 8", "seven", "Answer: 7\\nor 9"], answer=[7, "7", 7, 7])
    [1.0, 0.0, 0.0, 1.0]
    """
    refs = _references(kwargs, len(completions))
    scores = []
    for completion, ref in zip(completions, refs, strict=True):
        got = final_answer(completion_text(completion))
        want = last_number(str(ref))
        scores.append(float(got is not None and want is not None and abs(got - want) <= 1e-6))
    return scores


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
    """1.0 when the code in the completion passes the row's ``tests`` in the evaluator's sandbox."""
    from harness.evaluation.sandbox import run_tests  # written by the evaluation area; imported lazily

    tests = _references(kwargs, len(completions), names=("tests",))
    return [
        float(run_tests(_code_of(completion_text(c)), str(t)).passed) for c, t in zip(completions, tests, strict=True)
    ]


def _code_of(text: str) -> str:
    """The first fenced code block, or the whole text.

    >>> _code_of("Here:\\n```python\\ndef f():\\n    return 1\\n```")
    'def f():\\n    return 1'
    """
    match = re.search(r"```(?:[a-zA-Z0-9_+-]*)\n(.*?)```", text, re.S)
    return match.group(1).rstrip() if match else text


BUILTIN_REWARDS: dict[str, RewardFn] = {
    "exact_answer": exact_answer,
    "numeric_answer": numeric_answer,
    "unit_tests": unit_tests,
    "format_answer_line": format_answer_line,
    "format_short": format_short,
    "format_no_repeat": format_no_repeat,
}


def load_reward(spec: str, base_dir: Path | None = None, model: str | None = None) -> RewardFn:
    """Resolve a reward name: a built-in, ``file.py:function`` (relative to ``base_dir``) or ``learned:DIR``."""
    if spec in BUILTIN_REWARDS:
        return BUILTIN_REWARDS[spec]
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
    raise BadInput(f"reward {spec!r}: unknown; use a built-in ({names}), 'rewards.py:function' or 'learned:DIR'")


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

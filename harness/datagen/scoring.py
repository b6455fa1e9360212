"""Rewards for best-of-N: one interface over built-ins, ``rewards.py:function``, reward models and judges.

A scorer takes the prompts and one completion per prompt (aligned lists) and returns one score per
completion, ``None`` where the reward cannot judge. Specs:

- a built-in name (``numeric_answer``, ``exact_answer``, ``unit_tests``, ``format_*``) or
  ``file.py:function`` or ``learned:DIR``: resolved by the training area's ``load_reward``, called
  with TRL's signature, reference columns (``answer``, ``tests`` ...) passed as keyword lists;
- a directory holding a trained reward model: the same as ``learned:DIR``;
- ``judge:MODEL_OR_URL``: an LLM judge rates each answer 1–10 with a rubric; the score is rating / 10.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.datagen.prompts import Prompt
from posttrain.errors import BadInput

Scorer = Callable[[list[Prompt], list[str]], list[float | None]]

JUDGE_RUBRIC = (
    "You are grading an assistant's answer. Rate how correct, helpful and clear it is on a scale "
    "from 1 (useless or wrong) to 10 (perfect). Reply with the number only.\n\n"
    "Question:\n{question}\n\nAnswer:\n{answer}\n\nRating (1-10):"
)


def parse_rating(text: str) -> float | None:
    """The first number 1–10 in a judge's reply, scaled to 0.1–1.0; None when there is none.

    >>> parse_rating("8"), parse_rating("Rating: 10/10"), parse_rating("I cannot rate this")
    (0.8, 1.0, None)
    """
    match = re.search(r"\d+(?:\.\d+)?", text)
    if match is None:
        return None
    value = float(match.group())
    return round(value / 10, 4) if 0 <= value <= 10 else None


def _reward_fn_scorer(name: str, func: Callable[..., Any], tokenizer: Any | None) -> Scorer:
    def score(prompts: list[Prompt], completions: list[str]) -> list[float | None]:
        columns: dict[str, list[Any]] = {}
        keys = {key for p in prompts for key in p.columns}
        for key in sorted(keys):
            columns[key] = [p.columns.get(key) for p in prompts]
        chat = [[{"role": "assistant", "content": text}] for text in completions]
        ids = tokenizer(completions, add_special_tokens=False)["input_ids"] if tokenizer is not None else None
        try:
            scores = func(prompts=[p.messages for p in prompts], completions=chat, completion_ids=ids, **columns)
        except BadInput:
            raise
        except Exception as error:
            raise BadInput(f"--reward {name}: raised {type(error).__name__}: {error}") from None
        if not isinstance(scores, list | tuple) or len(scores) != len(completions):
            got = len(scores) if isinstance(scores, list | tuple) else type(scores).__name__
            raise BadInput(f"--reward {name}: returned {got} scores for {len(completions)} completions")
        out: list[float | None] = []
        for value in scores:
            if value is not None and not isinstance(value, int | float):
                raise BadInput(f"--reward {name}: returned a {type(value).__name__}; it must return floats or None")
            out.append(None if value is None else float(value))
        return out

    return score


def _judge_scorer(spec: str) -> Scorer:
    from harness.datagen.teacher import make_teacher

    judge = make_teacher(spec, max_new_tokens=8, temperature=0.0)

    def score(prompts: list[Prompt], completions: list[str]) -> list[float | None]:
        asks = [
            [{"role": "user", "content": JUDGE_RUBRIC.format(question=p.text, answer=c)}]
            for p, c in zip(prompts, completions, strict=True)
        ]
        return [parse_rating(reply) for reply in judge.answer(asks)]

    return score


def make_scorer(spec: str, *, model: str | None = None, tokenizer: Any | None = None) -> Scorer:
    """Resolve ``--reward``; ``model`` is the policy's spec (a learned reward may need its tokenizer)."""
    if spec.startswith("judge:"):
        target = spec.removeprefix("judge:")
        if not target:
            raise BadInput("--reward judge: name the judge, e.g. judge:smollm2-135m or judge:http://host:8000/v1")
        return _judge_scorer(target)
    from harness.training.rewards import load_reward

    resolved = spec
    if not spec.startswith("learned:") and Path(spec).is_dir():
        resolved = f"learned:{spec}"  # a directory is a trained reward model
    func = load_reward(resolved, base_dir=None, model=model)
    return _reward_fn_scorer(spec, func, tokenizer)

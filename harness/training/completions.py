"""What every reward function shares: its type and the text of one completion (chat-form or plain).

A leaf of its own so :mod:`harness.training.rewards` (which loads learned rewards) and
:mod:`harness.training.reward_model` (a learned reward) both import it and not each other.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

RewardFn = Callable[..., Sequence[float | None]]  # Sequence: a list[float] fits too


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


__all__ = ["RewardFn", "completion_text"]

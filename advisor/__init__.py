"""The decision advisor: questions as data, a pure recommendation engine, and its CLI.

Imports nothing heavy (no torch, transformers, trl, peft, chromadb, lm_eval). The public API loads on
first use, so importing ``advisor.cli`` for ``posttrain --help`` stays cheap:

>>> from advisor import Answers, recommend
>>> recommend(Answers(goals=["knowledge"], knowledge_changes="weekly_or_faster")).primary
'rag'
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "Answers": "advisor.schema",
    "Recommendation": "advisor.schema",
    "Advice": "advisor.schema",
    "recommend": "advisor.engine",
    "load_answers": "advisor.advice",
    "load_advice": "advisor.advice",
    "save_advice": "advisor.advice",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'advisor' has no attribute {name!r}")

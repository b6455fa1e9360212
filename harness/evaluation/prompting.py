"""The prompt baseline: a system prompt, zero-shot or k-shot, and (for RAG) retrieved context.

k-shot examples come from the TRAINING data, never from the eval set: a training row whose prompt
equals an eval prompt (after normalisation) is dropped before drawing, so a leak cannot inflate
the baseline. The same k examples precede every question (a fixed k-shot prompt, as in lm-eval).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from harness.evaluation.metrics import normalize

Message = dict[str, str]
Shot = tuple[str, str]


def draw_shots(train_rows: Sequence[dict[str, Any]], k: int, eval_prompts: Sequence[str], seed: int = 0) -> list[Shot]:
    """Draw ``k`` (question, answer) pairs from training rows, excluding any whose prompt is an eval prompt.

    >>> train = [{"prompt": "1+1?", "completion": "2"}, {"prompt": "2+2?", "completion": "4"},
    ...          {"messages": [{"role": "user", "content": "3+3?"}, {"role": "assistant", "content": "6"}]}]
    >>> sorted(draw_shots(train, 2, eval_prompts=["2+2?"]))
    [('1+1?', '2'), ('3+3?', '6')]
    """
    from harness.data.formats import prompt_text, response_text

    banned = {normalize(p) for p in eval_prompts}
    pool = []
    for row in train_rows:
        question, answer = prompt_text(row).strip(), response_text(row).strip()
        if question and answer and normalize(question) not in banned:
            pool.append((question, answer))
    if k <= 0:
        return []
    return random.Random(seed).sample(pool, min(k, len(pool)))


def build_conversation(
    messages: list[Message], system_prompt: str | None = None, shots: Sequence[Shot] = ()
) -> list[Message]:
    """System prompt first (a row's own system turn wins), then the shots as earlier turns, then the row.

    >>> build_conversation([{"role": "user", "content": "2+2?"}], "Be brief.", [("1+1?", "2")])
    ... # doctest: +NORMALIZE_WHITESPACE
    [{'role': 'system', 'content': 'Be brief.'}, {'role': 'user', 'content': '1+1?'},
     {'role': 'assistant', 'content': '2'}, {'role': 'user', 'content': '2+2?'}]
    """
    own_system = [m for m in messages if m["role"] == "system"]
    rest = [m for m in messages if m["role"] != "system"]
    head = own_system or ([{"role": "system", "content": system_prompt}] if system_prompt else [])
    turns: list[Message] = []
    for question, answer in shots:
        turns += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
    return head + turns + rest


def question_of(messages: list[Message]) -> str:
    """The last user turn: what retrieval searches for and what results.jsonl shows as the prompt.

    >>> question_of([{"role": "system", "content": "s"}, {"role": "user", "content": "q"}])
    'q'
    """
    users = [m["content"] for m in messages if m["role"] == "user"]
    return users[-1] if users else ""


def add_context(
    conversations: list[list[Message]], retriever: Any, top_k: int
) -> tuple[list[list[Message]], list[list[str]]]:
    """Retrieve ``top_k`` chunks per question and put them in its prompt; returns (conversations, context ids).

    ``retriever`` needs ``.search(query, k) -> hits`` (each with ``id`` and ``text``); a
    ``.search_many(queries, k)`` is used when present (one embedding batch for all questions).
    """
    from rag_baseline.prompt import with_context

    queries = [question_of(messages) for messages in conversations]
    if hasattr(retriever, "search_many"):
        all_hits = retriever.search_many(queries, top_k)
    else:
        all_hits = [retriever.search(query, top_k) for query in queries]
    return (
        [with_context(messages, hits) for messages, hits in zip(conversations, all_hits, strict=True)],
        [[str(hit.id) for hit in hits] for hits in all_hits],
    )

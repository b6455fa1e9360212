"""Prompts for generation: any file the data layer reads, turned into chat turns with a stable id.

A prompt row may be ``{"prompt": str}``, ``{"prompt": [messages]}``, ``{"messages": [...]}`` (a
trailing assistant turn is dropped: that is the answer being replaced) or an eval row. Every other
column (``answer``, ``reference``, ``tests`` ...) travels along, since verifiable rewards read them.
The id is the row's ``id`` or a hash of its turns, so a rerun over the same file finds the same ids.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from posttrain.errors import BadInput

Message = dict[str, str]


@dataclass
class Prompt:
    """One prompt: its id, the chat turns to answer, and the row's other columns."""

    id: str
    messages: list[Message]
    columns: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The last user turn, as the plain-text prompt that rewards and reports show."""
        users = [m["content"] for m in self.messages if m.get("role") == "user"]
        return users[-1] if users else self.messages[-1]["content"]


def prompt_messages(row: dict[str, Any], where: str) -> list[Message]:
    """The turns a model should answer for ``row``; raises BadInput naming ``where`` otherwise.

    >>> prompt_messages({"prompt": "2+2?"}, "p.jsonl:1")
    [{'role': 'user', 'content': '2+2?'}]
    >>> prompt_messages({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}, "x")
    [{'role': 'user', 'content': 'hi'}]
    >>> prompt_messages({"question": "?"}, "p.jsonl:3")
    Traceback (most recent call last):
    posttrain.errors.BadInput: p.jsonl:3: no 'prompt' or 'messages' field; a prompt row looks like {"prompt": "..."}
    """
    value = row.get("prompt", row.get("messages"))
    if value is None:
        raise BadInput(f"""{where}: no 'prompt' or 'messages' field; a prompt row looks like {{"prompt": "..."}}""")
    if isinstance(value, str):
        if not value.strip():
            raise BadInput(f"{where}: field 'prompt' is empty")
        return [{"role": "user", "content": value}]
    if not isinstance(value, list) or not value:
        raise BadInput(f"{where}: 'prompt'/'messages' must be a string or a non-empty list of messages")
    turns: list[Message] = []
    for position, message in enumerate(value):
        if not (isinstance(message, dict) and isinstance(message.get("content"), str) and message.get("role")):
            raise BadInput(f"{where}: message {position} needs 'role' and string 'content'")
        turns.append({"role": str(message["role"]), "content": message["content"]})
    while turns and turns[-1]["role"] == "assistant":
        turns.pop()
    if not turns:
        raise BadInput(f"{where}: the conversation has no user turn to answer")
    return turns


def prompt_id(messages: list[Message]) -> str:
    """A short content hash of the turns: the same prompt gets the same id in every run.

    >>> prompt_id([{"role": "user", "content": "2+2?"}]) == prompt_id([{"role": "user", "content": "2+2?"}])
    True
    """
    blob = json.dumps(messages, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()[:16]


def load_prompts(path: str | Path, limit: int | None = None) -> list[Prompt]:
    """Read ``path`` through the data layer and return its prompts; ids are unique within the file."""
    from harness.data.io import read_table

    table = read_table(path)
    rows = table.rows
    if not rows:
        raise BadInput(f'{path}: no rows; a prompt file holds one prompt per line, e.g. {{"prompt": "..."}}')
    prompts: list[Prompt] = []
    seen: dict[str, int] = {}
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            raise BadInput(f"{table.where(index)}: a row must be a JSON object")
        messages = prompt_messages(row, table.where(index))
        base = str(row["id"]) if row.get("id") not in (None, "") else prompt_id(messages)
        # A repeated id (or a repeated prompt) gets an occurrence suffix so each row is answered once.
        seen[base] = seen.get(base, 0) + 1
        row_id = base if seen[base] == 1 else f"{base}#{seen[base]}"
        columns = {k: v for k, v in row.items() if k not in ("prompt", "messages", "id")}
        prompts.append(Prompt(id=row_id, messages=messages, columns=columns))
        if limit is not None and len(prompts) >= limit:
            break
    return prompts

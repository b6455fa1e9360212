"""The TRL data formats: detect which one a file holds, and check each row against it.

Formats (Hugging Face TRL conventions):

- ``messages``: ``{"messages": [{"role": ..., "content": ...}, ...]}`` (SFT)
- ``prompt_completion``: ``{"prompt": ..., "completion": ...}``, strings or message lists (SFT)
- ``preference``: ``{"prompt"?, "chosen", "rejected"}``, strings or message lists (DPO, reward models)
- ``prompt_only``: ``{"prompt": ..., <reference columns the reward reads>}`` (RL)
- ``unpaired``: ``{"prompt", "completion", "label": bool}`` (KTO: unpaired good/bad feedback)
- ``eval``: ``{"prompt" | "messages", "reference", "tests"?, "choices"?, "id"?}``

Alpaca, ShareGPT, OpenAI chat files and column mappings are mapped onto these first
(:mod:`harness.data.mapping`). A *kind* is what the user trains or evaluates (``sft``, ``dpo``,
``kto``, ``rl``, ``eval``); each kind accepts some formats. Row checks here are pure functions that
return messages; the loaders turn them into :class:`BadInput` with ``file:line``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from posttrain.errors import BadInput

Format = Literal["messages", "prompt_completion", "preference", "prompt_only", "unpaired", "eval"]
Kind = Literal["sft", "dpo", "kto", "rl", "eval"]
FORMATS: tuple[str, ...] = ("messages", "prompt_completion", "preference", "prompt_only", "unpaired", "eval")
KINDS: tuple[str, ...] = ("sft", "dpo", "kto", "rl", "eval")
KIND_FORMATS: dict[str, tuple[str, ...]] = {
    "sft": ("messages", "prompt_completion"),
    "dpo": ("preference",),
    "kto": ("unpaired",),
    # GRPO reads only the prompt; any other column (answer, reference, tests) goes to the reward.
    "rl": ("prompt_only", "eval", "prompt_completion"),
    "eval": ("eval",),
}
FORMAT_KIND: dict[str, str] = {
    "messages": "sft",
    "prompt_completion": "sft",
    "preference": "dpo",
    "prompt_only": "rl",
    "unpaired": "kto",
    "eval": "eval",
}
ROLES = ("system", "user", "assistant", "tool")
# How many rows detection looks at: enough to see optional columns, cheap on a 100k-row file.
_DETECT_ROWS = 100
# At most this many row errors go into one BadInput message; the rest are counted.
_MAX_LISTED = 5

_HINTS = {
    frozenset({"instruction", "output"}): "looks like Alpaca (instruction/input/output); map it to "
    '{"prompt": instruction + input, "completion": output}',
    frozenset({"conversations"}): "looks like ShareGPT (conversations with from/value); rename to "
    '"messages" with role (human→user, gpt→assistant) and content',
    frozenset({"question", "answer"}): 'rename question→"prompt" (and answer→"completion" for SFT, '
    '"reference" for eval)',
    frozenset({"text"}): 'plain "text" rows are language-model pretraining data; SFT needs "messages" or '
    '"prompt"/"completion"',
}


def detect_format(rows: Sequence[dict[str, Any]]) -> str:
    """Name the TRL format of ``rows`` from their columns.

    >>> detect_format([{"messages": [{"role": "user", "content": "hi"}]}])
    'messages'
    >>> detect_format([{"prompt": "2+2?", "completion": "4"}])
    'prompt_completion'
    >>> detect_format([{"chosen": "a", "rejected": "b"}])
    'preference'
    >>> detect_format([{"prompt": "2+2?", "answer": "4"}])
    'prompt_only'
    >>> detect_format([{"prompt": "2+2?", "reference": "4"}])
    'eval'
    >>> detect_format([{"instruction": "x", "output": "y"}])
    Traceback (most recent call last):
    ...
    posttrain.errors.BadInput: rows have columns instruction, output; no TRL format matches: looks like Alpaca \
(instruction/input/output); map it to {"prompt": instruction + input, "completion": output}
    """
    if not rows:
        raise BadInput("no rows to detect a format from")
    keys: set[str] = set()
    for row in rows[:_DETECT_ROWS]:
        keys.update(row)
    if "chosen" in keys and "rejected" in keys:
        return "preference"
    if "label" in keys and "prompt" in keys and "completion" in keys:
        return "unpaired"
    if "reference" in keys and ("prompt" in keys or "messages" in keys) and "completion" not in keys:
        return "eval"
    if "messages" in keys:
        return "messages"
    if "prompt" in keys and "completion" in keys:
        return "prompt_completion"
    if "prompt" in keys:
        return "prompt_only"
    hint = next((text for cols, text in _HINTS.items() if cols <= keys), None)
    expected = "messages | prompt+completion | prompt+chosen+rejected | prompt (+answer columns) | prompt+reference"
    raise BadInput(f"rows have columns {', '.join(sorted(keys))}; no TRL format matches: {hint or expected}")


def format_for_kind(rows: Sequence[dict[str, Any]], kind: str | None) -> str:
    """The format to validate ``rows`` as: detected, then checked against what ``kind`` accepts."""
    if kind is not None and kind not in KINDS and kind not in FORMATS:
        raise BadInput(f"--kind {kind}: unknown; use one of {', '.join(KINDS)}")
    if kind in FORMATS:  # the user named the format itself
        return kind
    detected = detect_format(rows)
    if kind is None:
        return detected
    if detected == "unpaired" and kind in ("sft", "rl"):
        return "prompt_completion"  # a `label` column beside prompt/completion is extra data, not KTO, here
    if detected not in KIND_FORMATS[kind]:
        if kind == "eval" and detected in ("prompt_only", "prompt_completion", "messages"):
            return "eval"  # validation then says which row lacks "reference"
        accepted = " or ".join(KIND_FORMATS[kind])
        raise BadInput(f"--kind {kind} expects {accepted} rows, but the rows look like {detected}")
    return detected


def load_dataset(
    path: str | Path, kind: str | None = None, columns: Any = None, split: str | None = None
) -> list[dict[str, Any]]:
    """Read ``path``, map it onto a TRL format, and validate every row for ``kind`` (None: detect).

    ``columns`` renames columns first (``{"prompt": "question"}`` or ``"prompt=question"``); ``split``
    picks a DatasetDict split. Raises :class:`BadInput` listing the first few bad rows as
    ``file:line: field: why``.
    """
    from harness.data.mapping import announce, read_rows

    table = read_rows(path, split=split, columns=columns)
    announce(table)
    return validated_rows(table, kind, str(path))


def validated_rows(table: Any, kind: str | None, path: str) -> list[dict[str, Any]]:
    """The rows of a read :class:`~harness.data.io.Table`, each checked for ``kind``; BadInput lists bad ones."""
    fmt = format_for_kind(table.rows, kind)
    effective_kind = kind if kind in KINDS else FORMAT_KIND[fmt]
    lines: list[str] = []
    bad = 0
    for i, row in enumerate(table.rows):
        errors = row_errors(row, fmt, effective_kind)
        if errors:
            bad += 1
            if len(lines) < _MAX_LISTED:
                lines.extend(f"{table.where(i)}: {e}" for e in errors[:2])
    if bad:
        more = f"\n… {bad} rows with errors in all; run `posttrain data check {path}` for the full list"
        raise BadInput("\n".join(lines[:_MAX_LISTED]) + (more if bad > 1 else ""))
    if fmt == "eval":
        for row in table.rows:
            if isinstance(row.get("reference"), int | float) and not isinstance(row["reference"], bool):
                row["reference"] = str(row["reference"])
    return table.rows


def eval_messages(row: dict[str, Any]) -> list[dict[str, str]]:
    """The conversation to send the model for an eval row: the user turn(s), without the answer.

    >>> eval_messages({"prompt": "2+2?", "reference": "4"})
    [{'role': 'user', 'content': '2+2?'}]
    >>> eval_messages({"messages": [{"role": "system", "content": "Be brief."},
    ...                             {"role": "user", "content": "2+2?"},
    ...                             {"role": "assistant", "content": "4"}], "reference": "4"})
    [{'role': 'system', 'content': 'Be brief.'}, {'role': 'user', 'content': '2+2?'}]
    """
    source = row.get("messages", row.get("prompt"))
    if isinstance(source, str):
        return [{"role": "user", "content": source}]
    if not isinstance(source, list) or not source:
        raise BadInput('an eval row needs "prompt" (text or messages) or "messages"')
    messages = [{"role": str(m["role"]), "content": str(m["content"])} for m in source]
    while messages and messages[-1]["role"] == "assistant":
        messages.pop()
    return messages


# ---------------------------------------------------------------- row checks (pure)


def row_errors(row: dict[str, Any], fmt: str, kind: str | None = None) -> list[str]:
    """Field-level problems of one row in format ``fmt``: missing or mistyped fields, bad turns, empty text.

    >>> row_errors({"messages": [{"role": "user", "content": "hi"}]}, "messages", "sft")
    ['messages: an SFT conversation must end with an assistant turn (ends with user)']
    >>> row_errors({"chosen": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "x"}],
    ...             "rejected": [{"role": "user", "content": "b"}, {"role": "assistant", "content": "y"}]},
    ...            "preference")  # doctest: +ELLIPSIS
    ['chosen and rejected answer different prompts: their turns before the answer differ at turn 0 ...']
    >>> row_errors({"prompt": "p", "reference": 4}, "eval")
    []
    """
    check = _CHECKS[fmt]
    return check(row, kind or FORMAT_KIND[fmt])


def _check_messages_row(row: dict[str, Any], kind: str) -> list[str]:
    if "messages" not in row:
        return ['missing field "messages"']
    errors = message_list_errors(row["messages"], "messages")
    if not errors and kind == "sft":
        last = row["messages"][-1]["role"]
        if last != "assistant":
            errors.append(f"messages: an SFT conversation must end with an assistant turn (ends with {last})")
    return errors


def _check_prompt_completion_row(row: dict[str, Any], kind: str) -> list[str]:
    errors = _text_or_messages(row, "prompt")
    if kind == "rl":  # the completion is just a reference column for the reward
        return errors
    errors += _text_or_messages(row, "completion")
    if not errors and isinstance(row["completion"], list):
        roles = {m["role"] for m in row["completion"]}
        if roles - {"assistant", "tool"}:
            errors.append(f"completion: turns must be assistant turns (found {', '.join(sorted(roles))})")
    if not errors and isinstance(row["prompt"], list) and row["prompt"][-1]["role"] == "assistant":
        errors.append("prompt: a prompt must end with a user turn, not assistant")
    if not errors and type(row["prompt"]) is not type(row["completion"]):
        errors.append("prompt and completion must both be text or both be message lists")
    return errors


def _check_preference_row(row: dict[str, Any], kind: str) -> list[str]:
    errors = []
    if "prompt" in row:
        errors += _text_or_messages(row, "prompt")
    errors += _text_or_messages(row, "chosen") + _text_or_messages(row, "rejected")
    if errors:
        return errors
    chosen, rejected = row["chosen"], row["rejected"]
    if type(chosen) is not type(rejected):
        errors.append("chosen and rejected must both be text or both be message lists")
    elif isinstance(chosen, list):
        # Implicit-prompt rows carry the conversation in both lists: everything but the answer must match,
        # or the pair compares answers to two different questions.
        shared_c, shared_r = _strip_turns(chosen[:-1]), _strip_turns(rejected[:-1])
        if shared_c != shared_r:
            at = next((i for i, (a, b) in enumerate(zip(shared_c, shared_r, strict=False)) if a != b), None)
            at = min(len(shared_c), len(shared_r)) if at is None else at
            errors.append(
                f"chosen and rejected answer different prompts: their turns before the answer differ at turn {at} "
                f"({len(shared_c)} vs {len(shared_r)} earlier turns); both must share the prompt"
            )
        if row.get("prompt") is not None:
            for name, value in (("chosen", chosen), ("rejected", rejected)):
                others = sorted({str(t.get("role")) for t in value} - {"assistant", "tool"})
                if others:
                    errors.append(
                        f"{name}: with a separate prompt, {name} holds the answer only (found {', '.join(others)})"
                    )
        for name, value in (("chosen", chosen), ("rejected", rejected)):
            if value[-1].get("role") != "assistant":
                errors.append(f"{name}: the last turn must be the assistant's answer (is {value[-1].get('role')})")
    return errors


def _strip_turns(turns: list[Any]) -> list[tuple[Any, Any]]:
    return [(t.get("role"), " ".join(str(t.get("content") or "").split())) for t in turns if isinstance(t, dict)]


def _check_unpaired_row(row: dict[str, Any], kind: str) -> list[str]:
    errors = _text_or_messages(row, "prompt") + _text_or_messages(row, "completion")
    label = row.get("label")
    if "label" not in row:
        errors.append('missing field "label" (true for a good completion, false for a bad one)')
    elif not isinstance(label, bool):
        errors.append(f"label: expected true or false, got {label!r}")
    if not errors and isinstance(row["prompt"], list) and row["prompt"][-1]["role"] == "assistant":
        errors.append("prompt: a prompt must end with a user turn, not assistant")
    return errors


def _check_prompt_only_row(row: dict[str, Any], kind: str) -> list[str]:
    errors = _text_or_messages(row, "prompt")
    if not errors and isinstance(row["prompt"], list) and row["prompt"][-1]["role"] == "assistant":
        errors.append("prompt: a prompt must end with a user turn, not assistant")
    return errors


def _check_eval_row(row: dict[str, Any], kind: str) -> list[str]:
    if "messages" in row:
        errors = message_list_errors(row["messages"], "messages")
    elif "prompt" in row:
        errors = _text_or_messages(row, "prompt")
    else:
        errors = ['missing field "prompt" (or "messages")']
    ref = row.get("reference")
    if "reference" not in row:
        errors.append('missing field "reference"')
    elif isinstance(ref, bool) or not isinstance(ref, str | int | float):
        errors.append(f"reference: expected text, got {type(ref).__name__}")
    elif isinstance(ref, str) and not ref.strip() and "tests" not in row:
        errors.append("reference: empty")
    if "tests" in row and not isinstance(row["tests"], str):
        errors.append(f"tests: expected text (Python test code), got {type(row['tests']).__name__}")
    if "choices" in row:
        choices = row["choices"]
        if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices) or len(choices) < 2:
            errors.append("choices: expected a list of at least two strings")
    if "id" in row and (isinstance(row["id"], bool) or not isinstance(row["id"], str | int)):
        errors.append(f"id: expected text or a number, got {type(row['id']).__name__}")
    return errors


_CHECKS = {
    "messages": _check_messages_row,
    "prompt_completion": _check_prompt_completion_row,
    "preference": _check_preference_row,
    "prompt_only": _check_prompt_only_row,
    "unpaired": _check_unpaired_row,
    "eval": _check_eval_row,
}


def _text_or_messages(row: dict[str, Any], name: str) -> list[str]:
    if name not in row or row[name] is None:
        return [f'missing field "{name}"']
    value = row[name]
    if isinstance(value, str):
        return [] if value.strip() else [f"{name}: empty text"]
    if isinstance(value, list):
        return message_list_errors(value, name)
    return [f"{name}: expected text or a list of messages, got {type(value).__name__}"]


def message_list_errors(messages: Any, name: str = "messages") -> list[str]:
    """Problems of a chat turn list: shape, roles, order (system first, user/assistant alternating), empty text.

    >>> message_list_errors([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}])
    ['messages[1]: user follows user; user and assistant turns must alternate']
    >>> message_list_errors([{"role": "bot", "content": "a"}])
    ["messages[0].role: unknown role 'bot' (expected system, user, assistant, tool)"]
    """
    if not isinstance(messages, list):
        return [f"{name}: expected a list of messages, got {type(messages).__name__}"]
    if not messages:
        return [f"{name}: empty list"]
    errors: list[str] = []
    previous: str | None = None
    for i, message in enumerate(messages):
        where = f"{name}[{i}]"
        if not isinstance(message, dict):
            errors.append(f"{where}: expected an object with role and content, got {type(message).__name__}")
            continue
        role, content = message.get("role"), message.get("content")
        if "role" not in message:
            errors.append(f'{where}: missing field "role"')
            continue
        if role not in ROLES:
            errors.append(f"{where}.role: unknown role {role!r} (expected {', '.join(ROLES)})")
            continue
        if "content" not in message or (content is None and not message.get("tool_calls")):
            errors.append(f'{where}: missing field "content"')
        elif content is not None and not isinstance(content, str):
            errors.append(f"{where}.content: expected text, got {type(content).__name__}")
        elif isinstance(content, str) and not content.strip() and not message.get("tool_calls"):
            errors.append(f"{where}.content: empty")
        if "weight" in message and (isinstance(message["weight"], bool) or message["weight"] not in (0, 1)):
            errors.append(f"{where}.weight: expected 0 or 1, got {message['weight']!r}")
        if role == "system" and i != 0:
            errors.append(f"{where}: a system message must come first")
        elif role in ("user", "assistant") and previous == role:
            errors.append(f"{where}: {role} follows {role}; user and assistant turns must alternate")
        elif role == "tool" and previous not in ("assistant", "tool"):
            errors.append(f"{where}: a tool message must follow an assistant turn")
        previous = role
    return errors


def prompt_text(row: dict[str, Any]) -> str:
    """The prompt of a row as plain text (user/system turns joined), for duplicate and overlap checks.

    >>> prompt_text({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]})
    'hi'
    """
    if "prompt" in row:
        return _as_text(row["prompt"])
    messages = row.get("messages")
    if isinstance(messages, list):
        # Everything before the last assistant turn is the prompt.
        last = max((i for i, m in enumerate(messages) if _role(m) == "assistant"), default=len(messages))
        return "\n".join(_content(m) for m in messages[:last])
    return ""


def response_text(row: dict[str, Any]) -> str:
    """The response of a row as text: the completion, chosen, or the last assistant turn."""
    for name in ("completion", "chosen"):
        if name in row:
            value = row[name]
            if isinstance(value, list):
                return "\n".join(_content(m) for m in value if _role(m) == "assistant")
            return _as_text(value)
    messages = row.get("messages")
    if isinstance(messages, list):
        for m in reversed(messages):
            if _role(m) == "assistant":
                return _content(m)
    if "reference" in row:
        return _as_text(row["reference"])
    return ""


def _role(message: Any) -> str:
    return str(message.get("role", "")) if isinstance(message, dict) else ""


def _content(message: Any) -> str:
    if isinstance(message, dict) and isinstance(message.get("content"), str):
        return str(message["content"])
    return ""


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(_content(m) for m in value)
    return "" if value is None else str(value)

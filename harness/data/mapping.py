"""Map the dataset shapes the ecosystem uses onto TRL's formats, and say how each file was mapped.

Accepted on the way in (each detected per file; a file that mixes shapes is an error naming it):

- **Alpaca** ``{"instruction", "input"?, "output", "system"?, "history"?: [[q, a], ...]}`` → ``messages``;
  ranking rows ``{"instruction", "input"?, "chosen", "rejected"}`` → ``prompt``/``chosen``/``rejected``;
  ``kto_tag`` → ``label``.
- **ShareGPT** ``{"conversations": [{"from", "value"}, ...], "system"?}`` → ``messages``, with the usual
  role spellings (human/user, gpt/assistant/chatgpt/bing/bard/model, system, function_call, and
  function/observation/tool as tool results); ShareGPT ranking rows add ``chosen``/``rejected`` turns.
- **OpenAI chat fine-tuning** ``{"messages": [...]}``: per-message ``weight`` (0 = do not learn this turn)
  is kept on assistant turns; ``name`` and ``tool_call_id`` are dropped (templates do not render them);
  ``tool_calls`` / ``function_call`` without ``content`` become the assistant turn's text in the
  widespread Hermes ``<tool_call>`` form, so every chat template can train on them.
- **KTO** ``{"prompt", "completion", "label": bool}`` is TRL's own unpaired format.
- Any file with a **column mapping** (``--columns prompt=question,completion=answer``).

Message lists inside any native TRL row get the same role/key normalisation, so a ``messages`` file
written with ``from``/``value`` reads too.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from harness.data.io import LineProblem, Table, read_table
from posttrain.errors import BadInput

Row = dict[str, Any]

ROLE_NAMES: dict[str, str] = {
    "system": "system",
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "chatgpt": "assistant",
    "bing": "assistant",
    "bard": "assistant",
    "model": "assistant",
    "bot": "assistant",
    "function_call": "assistant",  # LLaMA-Factory's ShareGPT: the model's call, as text
    "function": "tool",
    "observation": "tool",
    "tool": "tool",
    "ipython": "tool",
}
# Families of top-level columns that name a row's shape; two in one file is ambiguous.
_FAMILIES = {"alpaca": ("instruction",), "sharegpt": ("conversations",), "trl": ("messages", "prompt")}
_SHOWN_NOTES = set[str]()


def parse_columns(spec: str | Mapping[str, str] | None) -> dict[str, str]:
    """``prompt=question,completion=answer`` as ``{"prompt": "question", "completion": "answer"}`` (target: source).

    >>> parse_columns("prompt=question, completion=answer")
    {'prompt': 'question', 'completion': 'answer'}
    >>> parse_columns("prompt")
    Traceback (most recent call last):
    ...
    posttrain.errors.BadInput: --columns 'prompt': write TARGET=SOURCE pairs, e.g. prompt=question,completion=answer
    """
    if spec is None:
        return {}
    if isinstance(spec, Mapping):
        return {str(k): str(v) for k, v in spec.items()}
    out: dict[str, str] = {}
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        target, sep, source = (s.strip() for s in part.partition("="))
        if not sep or not target or not source:
            raise BadInput(f"--columns {part!r}: write TARGET=SOURCE pairs, e.g. prompt=question,completion=answer")
        out[target] = source
    return out


def read_rows(
    path: str | Path,
    *,
    collect: bool = False,
    split: str | None = None,
    columns: str | Mapping[str, str] | None = None,
) -> Table:
    """Read ``path`` and map its rows onto a TRL format; ``Table.note`` says how, when anything was mapped."""
    table = read_table(path, collect=collect, split=split)
    map_table(table, parse_columns(columns), collect)
    return table


def announce(table: Table) -> None:
    """Print the one-line mapping note on stderr, once per file and note in this process."""
    if table.note and table.note not in _SHOWN_NOTES:
        _SHOWN_NOTES.add(table.note)
        print(table.note, file=sys.stderr)


def map_table(table: Table, columns: dict[str, str], collect: bool = False) -> None:
    """Rename columns, detect the file's shape, and rewrite its rows in place as TRL rows."""
    notes: list[str] = []
    if columns:
        _rename_columns(table, columns)
        notes.append("columns " + ", ".join(f"{source}→{target}" for target, source in columns.items()))
    family = _family(table)
    mapper = {"alpaca": _alpaca_row, "sharegpt": _sharegpt_row}.get(family, _trl_row)
    seen = _Seen()
    rows: list[Row] = []
    lines: list[int] = []
    originals: list[Row | None] = list(table.rows)
    table.rows = []
    for index, line in enumerate(table.lines):
        row = cast(Row, originals[index])
        originals[index] = None  # each source row is freed as it is mapped
        try:
            rows.append(mapper(row, seen))
            lines.append(line)
        except _RowProblem as problem:
            where = f"{table.source}:{line}" if table.unit == "line" else f"{table.source}:row {line}"
            found = LineProblem(where, str(problem))
            if not collect:
                raise BadInput(str(found)) from None
            table.problems.append(found)
    table.rows, table.lines = rows, lines
    if family == "alpaca":
        notes.insert(0, "Alpaca rows (instruction + input → user turn, output → assistant turn" + seen.extras() + ")")
    elif family == "sharegpt":
        seen.keys = False  # already said by the family's own words
        notes.insert(0, "ShareGPT rows (conversations from/value → messages role/content" + seen.extras() + ")")
    elif seen.any():
        notes.append("messages normalised (" + seen.extras().lstrip("; ") + ")")
    if notes:
        read_as = f"{table.note}; " if table.note else ""  # the reader's own note (e.g. pretty-printed JSON)
        table.note = read_as + f"{table.source}: " + "; ".join(notes)


class _RowProblem(ValueError):
    pass


class _Seen:
    """What the mapping did, for the one-line note."""

    def __init__(self) -> None:
        self.roles: dict[str, str] = {}
        self.weights_zero = 0
        self.tool_calls = 0
        self.keys = False

    def any(self) -> bool:
        return bool(self.roles or self.weights_zero or self.tool_calls or self.keys)

    def extras(self) -> str:
        parts = []
        if self.keys:
            parts.append("from/value → role/content")
        if self.roles:
            parts.append(", ".join(f"{a}→{b}" for a, b in sorted(self.roles.items())))
        if self.tool_calls:
            parts.append(f"{self.tool_calls} tool calls as <tool_call> text")
        if self.weights_zero:
            parts.append(f"{self.weights_zero} assistant turns with weight 0, not trained")
        return "".join(f"; {p}" for p in parts)


def _rename_columns(table: Table, columns: dict[str, str]) -> None:
    present: set[str] = set()
    for row in table.rows[:100]:
        present.update(row)
    missing = [source for source in columns.values() if source not in present]
    if missing:
        raise BadInput(
            f"{table.source}: --columns names {', '.join(repr(m) for m in missing)}, not in the file "
            f"(it has {', '.join(sorted(present)) or 'no columns'})"
        )
    for row in table.rows:
        picked = {target: row.pop(source) for target, source in columns.items() if source in row}
        row.update(picked)


def _family(table: Table) -> str:
    """The file's shape: alpaca, sharegpt or trl; an error naming the file when rows disagree."""
    first: dict[str, int] = {}
    for index, row in enumerate(table.rows):
        found = [name for name, keys in _FAMILIES.items() if any(k in row for k in keys)]
        if len(found) > 1:
            where = table.where(index)
            raise BadInput(
                f"{where}: ambiguous row: it has columns of both {' and '.join(found)} "
                f"({', '.join(sorted(row))}); keep one shape, or pick columns with --columns"
            )
        clash = [k for k in ("prompt", "completion", "chosen", "rejected") if k in row]
        if "messages" in row and clash:
            raise BadInput(
                f"{table.where(index)}: ambiguous row: it has both messages and {', '.join(clash)}; "
                "keep one form (messages, or prompt/completion, or prompt/chosen/rejected)"
            )
        for name in found:
            first.setdefault(name, index)
        if len(first) > 1:
            a, b = sorted(first, key=first.__getitem__)
            raise BadInput(
                f"{table.source}: ambiguous file: rows in {a} form ({table.where(first[a])}) and in {b} form "
                f"({table.where(first[b])}); split it into one file per shape"
            )
    return next(iter(first), "trl")


# ---------------------------------------------------------------- rows


def _text(value: Any, name: str) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, list) and all(isinstance(p, dict) and p.get("type") == "text" for p in value):
        return "".join(str(p.get("text", "")) for p in value)  # OpenAI content parts, text only
    raise _RowProblem(f"{name}: expected text, got {type(value).__name__}")


def _alpaca_row(row: Row, seen: _Seen) -> Row:
    instruction = _text(row.get("instruction"), "instruction")
    extra = _text(row.get("input"), "input")
    user = instruction + ("\n" + extra if extra.strip() else "")
    prompt: list[Row] = []
    if row.get("system"):
        prompt.append({"role": "system", "content": _text(row["system"], "system")})
    history = row.get("history") or []
    if not isinstance(history, list):
        raise _RowProblem(f"history: expected a list of [question, answer] pairs, got {type(history).__name__}")
    for i, pair in enumerate(history):
        if not (isinstance(pair, list | tuple) and len(pair) == 2):
            raise _RowProblem(f"history[{i}]: expected a [question, answer] pair")
        prompt += [
            {"role": "user", "content": _text(pair[0], f"history[{i}][0]")},
            {"role": "assistant", "content": _text(pair[1], f"history[{i}][1]")},
        ]
    prompt.append({"role": "user", "content": user})
    rest = {k: v for k, v in row.items() if k not in ("instruction", "input", "output", "system", "history", "kto_tag")}
    if "chosen" in row or "rejected" in row:  # Alpaca ranking rows
        return {
            **rest,
            "prompt": prompt,
            "chosen": _answer(row.get("chosen")),
            "rejected": _answer(row.get("rejected")),
        }
    if "output" not in row:
        raise _RowProblem('missing field "output" (Alpaca rows need instruction and output)')
    out = {**rest, "messages": [*prompt, {"role": "assistant", "content": _text(row["output"], "output")}]}
    if "kto_tag" in row:
        return _kto(out, row["kto_tag"])
    return out


def _answer(value: Any) -> list[Row]:
    if isinstance(value, dict):  # a ShareGPT ranking turn {"from": "gpt", "value": ...}
        return [_message(value, "chosen", 0, _Seen())]
    return [{"role": "assistant", "content": _text(value, "chosen/rejected")}]


def _kto(row: Row, tag: Any) -> Row:
    messages = row.pop("messages")
    return {**row, "prompt": messages[:-1], "completion": messages[-1:], "label": tag}


def _sharegpt_row(row: Row, seen: _Seen) -> Row:
    turns = row.get("conversations")
    if not isinstance(turns, list):
        raise _RowProblem(f"conversations: expected a list of turns, got {type(turns).__name__}")
    messages = [_message(t, "conversations", i, seen) for i, t in enumerate(turns)]
    if row.get("system") and not (messages and messages[0]["role"] == "system"):
        messages.insert(0, {"role": "system", "content": _text(row["system"], "system")})
    rest = {k: v for k, v in row.items() if k not in ("conversations", "system", "tools", "kto_tag")}
    if "chosen" in row or "rejected" in row:
        return {
            **rest,
            "prompt": messages,
            "chosen": _answer(row.get("chosen")),
            "rejected": _answer(row.get("rejected")),
        }
    out = {**rest, "messages": messages}
    if "kto_tag" in row:
        return _kto(out, row["kto_tag"])
    return out


def _trl_row(row: Row, seen: _Seen) -> Row:
    out = dict(row)
    for key in ("messages", "prompt", "completion", "chosen", "rejected"):
        value = row.get(key)
        if isinstance(value, list) and all(isinstance(m, dict) for m in value):
            out[key] = [_message(m, key, i, seen) for i, m in enumerate(value)]
    return out


_PLAIN_KEYS = ({"from", "value"}, {"role", "content"})


def _message(turn: Any, key: str, index: int, seen: _Seen) -> Row:
    """One turn as ``{"role", "content"[, "weight"]}``; unknown shapes are left for the format check."""
    if isinstance(turn, dict) and turn.keys() in _PLAIN_KEYS:
        # The common case (100,000 conversations are ~1M turns): a plain text turn, no tools, no weight.
        raw, content = (turn["from"], turn["value"]) if "from" in turn else (turn["role"], turn["content"])
        if isinstance(raw, str) and isinstance(content, str):
            role = ROLE_NAMES.get(raw) or ROLE_NAMES.get(raw.strip().lower(), raw)
            if role != raw:
                seen.roles[raw] = role
            if "from" in turn:
                seen.keys = True
            return {"role": role, "content": content}
    where = f"{key}[{index}]"
    if not isinstance(turn, dict):
        raise _RowProblem(f"{where}: expected an object with role and content, got {type(turn).__name__}")
    if "role" in turn:
        raw_role = turn["role"]
    elif "from" in turn:
        raw_role = turn["from"]
        seen.keys = True
    else:
        return dict(turn)  # the format check says 'missing field "role"'
    role = ROLE_NAMES.get(str(raw_role).strip().lower(), raw_role) if isinstance(raw_role, str) else raw_role
    if isinstance(raw_role, str) and role != raw_role:
        seen.roles[raw_role] = str(role)
    if "content" in turn:
        content = turn["content"]
    elif "value" in turn:
        content = turn["value"]
        seen.keys = True
    else:
        content = None
    calls = turn.get("tool_calls") or ([turn["function_call"]] if isinstance(turn.get("function_call"), dict) else [])
    if calls and role == "assistant":
        seen.tool_calls += len(calls)
        rendered = "\n".join(_tool_call_text(call) for call in calls)
        content = (_text(content, f"{where}.content") + "\n" if content else "") + rendered
    elif isinstance(content, list) and role != "tool":
        content = _text(content, f"{where}.content")
    elif isinstance(content, dict | list):  # a tool's structured result: the model reads it as JSON text
        content = json.dumps(content, ensure_ascii=False)
    message: Row = {"role": role, "content": content}
    if "content" not in turn and "value" not in turn and not calls:
        del message["content"]  # the format check reports the missing field
    if "weight" in turn and role == "assistant":
        weight = turn["weight"]
        if isinstance(weight, bool) or weight not in (0, 1):
            raise _RowProblem(f"{where}.weight: expected 0 or 1, got {weight!r}")
        message["weight"] = int(weight)
        seen.weights_zero += weight == 0
    return message


def _tool_call_text(call: Any) -> str:
    """A tool call as Hermes-style text: ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``.

    >>> _tool_call_text({"type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}})
    '<tool_call>\\n{"name": "f", "arguments": {"x": 1}}\\n</tool_call>'
    """
    if not isinstance(call, dict):
        raise _RowProblem(f"tool_calls: expected objects, got {type(call).__name__}")
    function = call.get("function", call)
    name = function.get("name") if isinstance(function, dict) else None
    if not isinstance(name, str) or not name:
        raise _RowProblem("tool_calls: a call without a function name")
    arguments = function.get("arguments", {})
    if isinstance(arguments, str):
        with contextlib.suppress(ValueError):  # not JSON: keep the text as written
            arguments = json.loads(arguments)
    body = json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False)
    return f"<tool_call>\n{body}\n</tool_call>"

"""Training rows for each method: read, check the format fits the method, convert to TRL's chat forms, mix.

Every row becomes conversational, because the eval applies the chat template too:

- SFT: one ``{"prompt": [the conversation so far], "completion": [assistant turn]}`` row per *trained*
  assistant turn (weight 1 or unset; ``"weight": 0`` turns stay in later prompts but are never a
  completion). TRL's ``completion_only_loss`` then puts the loss on each answer and nothing else.
- DPO / reward: ``{"prompt": [...], "chosen": [assistant turn], "rejected": [assistant turn]}``.
- KTO: ``{"prompt": [...], "completion": [assistant turn], "label": bool}``.
- GRPO: ``{"prompt": [...], <reference columns>}``.

Why one row per turn and not an assistant-token mask over the whole conversation: TRL's
``assistant_only_loss`` needs ``{% generation %}`` markers in the chat template, which SmolLM2's (and
most) templates lack; a hand-made mask would need its own tokenisation path that ``data convert``
could not show as rows. The price is re-reading the earlier turns: measured with SmolLM2's tokenizer
on 200 five-turn conversations (``python bench/data_convert.py --tokens``), per-turn rows process
268,477 tokens against 88,174 for one masked sequence each: 3.0x (turns of similar length give
(1+2+3+4+5)/5 = 3x). For the 1-3 turn conversations typical of SFT sets it is 1-2x, the rows are
exactly what ``posttrain data convert`` prints, and truncation at ``max_length`` costs the same late
turns either way (a masked sequence is cut from the end too).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.training.mixing import BUILTIN_GENERAL, mix
from harness.training.request import TrainRequest
from posttrain.errors import BadInput

Row = dict[str, Any]
KIND_OF_METHOD = {"sft": "sft", "dpo": "dpo", "reward": "dpo", "kto": "kto", "grpo": "rl", "rloo": "rl"}
# `posttrain data convert --kind K` converts as this method trains.
METHOD_OF_KIND = {"sft": "sft", "dpo": "dpo", "kto": "kto", "rl": "grpo"}
_WRONG_DATA = {
    ("sft", "preference"): "preference rows (prompt/chosen/rejected) given to --method sft; "
    "use --method dpo or reward, or give messages or prompt+completion rows",
    ("dpo", "messages"): "SFT rows (messages) given to --method dpo; DPO needs prompt/chosen/rejected rows",
    ("dpo", "prompt_completion"): "SFT rows (prompt/completion) given to --method dpo; "
    "DPO needs prompt/chosen/rejected rows",
    ("grpo", "preference"): "preference rows given to --method grpo; GRPO needs prompt rows with the "
    "reference columns the rewards read (e.g. answer)",
    ("grpo", "messages"): "SFT rows (messages) given to --method grpo; GRPO needs prompt rows "
    "(plus the reference columns the rewards read)",
    ("kto", "preference"): "preference rows given to KTO; KTO needs unpaired prompt/completion/label rows "
    "(or use DPO for pairs)",
}
for _fmt in ("preference", "messages"):  # RLOO reads the same prompt rows as GRPO
    _WRONG_DATA[("rloo", _fmt)] = _WRONG_DATA[("grpo", _fmt)].replace("grpo", "rloo").replace("GRPO", "RLOO")
_WRONG_DATA[("reward", "messages")] = _WRONG_DATA[("dpo", "messages")].replace("dpo", "reward")
_WRONG_DATA[("reward", "prompt_completion")] = _WRONG_DATA[("dpo", "prompt_completion")].replace("dpo", "reward")


def as_messages(value: Any, role: str) -> list[dict[str, str]]:
    """Text or a message list as a message list (text becomes one ``role`` turn); only role and content kept.

    >>> as_messages("hi", "user")
    [{'role': 'user', 'content': 'hi'}]
    """
    if isinstance(value, str):
        return [{"role": role, "content": value}]
    return [{"role": str(m["role"]), "content": str(m.get("content") or "")} for m in value]


def with_system(prompt: list[dict[str, str]], system_prompt: str | None) -> list[dict[str, str]]:
    if system_prompt and not any(m["role"] == "system" for m in prompt):
        return [{"role": "system", "content": system_prompt}, *prompt]
    return prompt


def sft_rows(row: Row, system_prompt: str | None = None) -> list[Row]:
    """A messages or prompt/completion row as conversational prompt/completion pairs, one per trained turn.

    >>> conv = [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"},
    ...         {"role": "user", "content": "3+3?"}, {"role": "assistant", "content": "5", "weight": 0},
    ...         {"role": "user", "content": "Sure?"}, {"role": "assistant", "content": "6, sorry."}]
    >>> [(len(r["prompt"]), r["completion"][0]["content"]) for r in sft_rows({"messages": conv})]
    [(1, '4'), (5, '6, sorry.')]
    >>> sft_rows({"prompt": "Hi", "completion": "Hello!"}, system_prompt="Be kind.")[0]["prompt"][0]["role"]
    'system'
    """
    if "messages" not in row:
        prompt = as_messages(row["prompt"], "user")
        completion = as_messages(row["completion"], "assistant")
        return [{"prompt": with_system(prompt, system_prompt), "completion": completion}]
    turns = row["messages"]
    messages = as_messages(turns, "user")
    return [
        {"prompt": with_system(messages[:i], system_prompt), "completion": messages[i : i + 1]}
        for i, turn in enumerate(turns)
        if turn["role"] == "assistant" and turn.get("weight", 1) != 0
    ]


def preference_rows(row: Row, system_prompt: str | None = None) -> list[Row]:
    """A preference row in conversational form (implicit prompts are split off the shared prefix).

    >>> preference_rows({"prompt": "Hi", "chosen": "Hello!", "rejected": "Go away."})[0]["chosen"]
    [{'role': 'assistant', 'content': 'Hello!'}]
    """
    chosen = as_messages(row["chosen"], "assistant")
    rejected = as_messages(row["rejected"], "assistant")
    if "prompt" in row and row["prompt"] is not None:
        prompt = as_messages(row["prompt"], "user")
    else:  # implicit prompt: the turns both answers share
        shared = 0
        while shared < min(len(chosen), len(rejected)) - 1 and chosen[shared] == rejected[shared]:
            shared += 1
        prompt, chosen, rejected = chosen[:shared], chosen[shared:], rejected[shared:]
    return [{"prompt": with_system(prompt, system_prompt), "chosen": chosen, "rejected": rejected}]


def kto_rows(row: Row, system_prompt: str | None = None) -> list[Row]:
    """An unpaired KTO row: prompt and completion as messages, the label as given.

    >>> kto_rows({"prompt": "Hi", "completion": "Go away.", "label": False})[0]["label"]
    False
    """
    prompt = as_messages(row["prompt"], "user")
    completion = as_messages(row["completion"], "assistant")
    return [{"prompt": with_system(prompt, system_prompt), "completion": completion, "label": bool(row["label"])}]


def prompt_rows(row: Row, system_prompt: str | None = None) -> list[Row]:
    """A GRPO prompt row: the prompt as messages, other columns kept for the rewards.

    >>> prompt_rows({"prompt": "1+1?", "answer": 2})
    [{'prompt': [{'role': 'user', 'content': '1+1?'}], 'answer': 2}]
    """
    source = row.get("prompt", row.get("messages"))
    prompt = as_messages(source, "user")
    while prompt and prompt[-1]["role"] == "assistant":
        prompt.pop()
    rest = {k: v for k, v in row.items() if k not in ("prompt", "messages", "completion", "id", "source")}
    return [{"prompt": with_system(prompt, system_prompt), **rest}]


CONVERT: dict[str, Callable[[Row, str | None], list[Row]]] = {
    "sft": sft_rows,
    "dpo": preference_rows,
    "reward": preference_rows,
    "kto": kto_rows,
    "grpo": prompt_rows,
    "rloo": prompt_rows,
}


def converted(rows: list[Row], method: str, system_prompt: str | None = None) -> list[Row]:
    """Validated rows of one source as the trainer of ``method`` sees them."""
    convert = CONVERT[method]
    return [out for row in rows for out in convert(row, system_prompt)]


def convert_file(
    path: str, kind: str, columns: Any = None, split: str | None = None, system_prompt: str | None = None
) -> list[Row]:
    """What ``posttrain data convert`` writes: ``path`` read, checked and converted as training does it."""
    return convert_rows_counted(path, kind, columns, split, system_prompt)[0]


def convert_rows_counted(
    path: str, kind: str, columns: Any = None, split: str | None = None, system_prompt: str | None = None
) -> tuple[list[Row], int]:
    """:func:`convert_file` and how many input rows it read."""
    if kind not in METHOD_OF_KIND:
        raise BadInput(f"--kind {kind}: use one of {', '.join(METHOD_OF_KIND)}")
    method = METHOD_OF_KIND[kind]
    rows = read_for_method(path, method, columns, split)
    return converted(rows, method, system_prompt), len(rows)


def read_for_method(path: str, method: str, columns: Any = None, split: str | None = None) -> list[Row]:
    """Rows of ``path`` mapped and validated for ``method``; a clear BadInput when it holds another method's data."""
    from harness.data.formats import detect_format, validated_rows
    from harness.data.mapping import announce, read_rows

    table = read_rows(path, columns=columns, split=split)
    announce(table)
    rows = table.rows
    if not rows:
        raise BadInput(f"{path}: no rows")
    fmt = detect_format(rows)
    if (method, fmt) in _WRONG_DATA:
        raise BadInput(f"{path}: {_WRONG_DATA[(method, fmt)]}")
    if method == "sft" and fmt == "eval":
        raise BadInput(
            f"{path}: eval rows (prompt/reference) given to --method sft; SFT needs messages or "
            "prompt+completion rows (pass eval files with --eval)"
        )
    return validated_rows(table, KIND_OF_METHOD[method], path)


def training_rows(request: TrainRequest) -> list[Row]:
    """Read, convert, mix (by weight) and add replay rows; every row in TRL's conversational form."""
    return training_split(request)[0]


def training_split(request: TrainRequest) -> tuple[list[Row], list[Row] | None]:
    """The training rows and the validation rows held out of them (None: no split; see
    :mod:`harness.training.validation`). Replay rows are never held out: the split validates the task."""
    import sys

    from harness.training.validation import SPLIT_METHODS, split_sources

    method, system = request.method, request.system_prompt
    raw = [
        read_for_method(s.path, method, getattr(s, "columns", None), getattr(s, "split", None)) for s in request.data
    ]
    fraction = request.training.validation_fraction if method in SPLIT_METHODS and request.eval is None else 0.0
    # KTO: desirable and undesirable rows are split apart, so both parts keep the label balance it weighs by.
    stratum = (lambda row: bool(row["label"])) if method == "kto" else (lambda row: None)
    raw, held_out, notice = split_sources(raw, fraction, request.training.seed, stratum)
    if notice:
        print(notice, file=sys.stderr)
    validation = converted(held_out, method, system) or None
    sources = [converted(rows, method, system) for rows in raw]
    replay_rows: list[Row] = []
    if request.replay is not None and request.replay.fraction > 0:
        replay_path = str(BUILTIN_GENERAL) if request.replay.path == "builtin:general" else request.replay.path
        replay_rows = converted(read_for_method(replay_path, "sft"), "sft", system)
    if len(sources) == 1 and not replay_rows:
        return sources[0], validation
    weights = [s.weight for s in request.data]
    rows = mix(sources, weights, replay_rows, request.replay.fraction if request.replay else 0.0, request.training.seed)
    for row in rows:
        row.pop("source", None)  # the trainers would try to collate it
    return rows, validation


def eval_rows(request: TrainRequest) -> list[Row] | None:
    """Rows for an eval loss during training; eval-format rows (prompt/reference) count as SFT pairs."""
    if request.eval is None:
        return None
    from harness.data.formats import detect_format
    from harness.data.io import read_records

    rows = read_records(request.eval)
    if request.method == "sft" and rows and detect_format(rows) == "eval":
        pairs = [{"prompt": _eval_prompt(r), "completion": str(r["reference"])} for r in rows]
        return converted(pairs, "sft", request.system_prompt)
    return converted(read_for_method(request.eval, request.method), request.method, request.system_prompt)


def _eval_prompt(row: Row) -> Any:
    from harness.data.formats import eval_messages

    return eval_messages(row)


def data_hashes(request: TrainRequest) -> dict[str, str]:
    """SHA-256 of every data file the request reads (dataset names are recorded as given)."""
    paths = [s.path for s in request.data]
    if request.eval:
        paths.append(request.eval)
    if request.replay is not None:
        paths.append(str(BUILTIN_GENERAL) if request.replay.path == "builtin:general" else request.replay.path)
    hashes = {}
    for p in paths:
        file = Path(p)
        hashes[p] = "sha256:" + hashlib.sha256(file.read_bytes()).hexdigest() if file.is_file() else "name:" + p
    return hashes

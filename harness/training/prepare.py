"""Training rows for each method: read, check the format fits the method, convert to TRL's chat forms, mix.

Every row becomes conversational, because the eval applies the chat template too:

- SFT: ``{"prompt": [messages before the last assistant turn], "completion": [that turn]}``, so the loss
  falls on the answer only (SmolLM2's template has no ``{% generation %}`` markers for ``assistant_only_loss``).
- DPO / reward: ``{"prompt": [...], "chosen": [assistant turn], "rejected": [assistant turn]}``.
- GRPO: ``{"prompt": [...], <reference columns>}``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from harness.training.mixing import BUILTIN_GENERAL, mix
from harness.training.request import TrainRequest
from posttrain.errors import BadInput

Row = dict[str, Any]
KIND_OF_METHOD = {"sft": "sft", "dpo": "dpo", "reward": "dpo", "grpo": "rl"}
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
}
_WRONG_DATA[("reward", "messages")] = _WRONG_DATA[("dpo", "messages")].replace("dpo", "reward")
_WRONG_DATA[("reward", "prompt_completion")] = _WRONG_DATA[("dpo", "prompt_completion")].replace("dpo", "reward")


def as_messages(value: Any, role: str) -> list[dict[str, str]]:
    """Text or a message list as a message list (text becomes one ``role`` turn).

    >>> as_messages("hi", "user")
    [{'role': 'user', 'content': 'hi'}]
    """
    if isinstance(value, str):
        return [{"role": role, "content": value}]
    return [{"role": str(m["role"]), "content": str(m["content"])} for m in value]


def with_system(prompt: list[dict[str, str]], system_prompt: str | None) -> list[dict[str, str]]:
    if system_prompt and not any(m["role"] == "system" for m in prompt):
        return [{"role": "system", "content": system_prompt}, *prompt]
    return prompt


def sft_row(row: Row, system_prompt: str | None = None) -> Row:
    """A messages or prompt/completion row as a conversational prompt/completion pair.

    >>> sft_row({"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]})
    {'prompt': [{'role': 'user', 'content': '2+2?'}], 'completion': [{'role': 'assistant', 'content': '4'}]}
    >>> sft_row({"prompt": "Hi", "completion": "Hello!"}, system_prompt="Be kind.")["prompt"][0]["role"]
    'system'
    """
    if "messages" in row:
        messages = as_messages(row["messages"], "user")
        last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
        prompt, completion = messages[:last], messages[last : last + 1]
    else:
        prompt = as_messages(row["prompt"], "user")
        completion = as_messages(row["completion"], "assistant")
    return {"prompt": with_system(prompt, system_prompt), "completion": completion}


def preference_row(row: Row, system_prompt: str | None = None) -> Row:
    """A preference row in conversational form (implicit prompts are split off the shared prefix).

    >>> preference_row({"prompt": "Hi", "chosen": "Hello!", "rejected": "Go away."})["chosen"]
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
    return {"prompt": with_system(prompt, system_prompt), "chosen": chosen, "rejected": rejected}


def prompt_row(row: Row, system_prompt: str | None = None) -> Row:
    """A GRPO prompt row: the prompt as messages, other columns kept for the rewards.

    >>> prompt_row({"prompt": "1+1?", "answer": 2})
    {'prompt': [{'role': 'user', 'content': '1+1?'}], 'answer': 2}
    """
    source = row.get("prompt", row.get("messages"))
    prompt = as_messages(source, "user")
    while prompt and prompt[-1]["role"] == "assistant":
        prompt.pop()
    rest = {k: v for k, v in row.items() if k not in ("prompt", "messages", "completion", "id", "source")}
    return {"prompt": with_system(prompt, system_prompt), **rest}


CONVERT = {"sft": sft_row, "dpo": preference_row, "reward": preference_row, "grpo": prompt_row}


def read_for_method(path: str, method: str) -> list[Row]:
    """Rows of ``path`` validated for ``method``; a clear BadInput when the file holds another method's data."""
    from harness.data.formats import detect_format, load_dataset
    from harness.data.io import read_records

    rows = read_records(path)
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
    return load_dataset(path, KIND_OF_METHOD[method])


def training_rows(request: TrainRequest) -> list[Row]:
    """Read, convert, mix (by weight) and add replay rows; every row in TRL's conversational form."""
    convert = CONVERT[request.method]
    system = request.system_prompt
    sources = [[convert(r, system) for r in read_for_method(s.path, request.method)] for s in request.data]
    replay_rows: list[Row] = []
    if request.replay is not None and request.replay.fraction > 0:
        replay_path = str(BUILTIN_GENERAL) if request.replay.path == "builtin:general" else request.replay.path
        replay_rows = [sft_row(r, request.system_prompt) for r in read_for_method(replay_path, "sft")]
    if len(sources) == 1 and not replay_rows:
        return sources[0]
    weights = [s.weight for s in request.data]
    rows = mix(sources, weights, replay_rows, request.replay.fraction if request.replay else 0.0, request.training.seed)
    for row in rows:
        row.pop("source", None)  # the trainers would try to collate it
    return rows


def eval_rows(request: TrainRequest) -> list[Row] | None:
    """Rows for an eval loss during training; eval-format rows (prompt/reference) count as SFT pairs."""
    if request.eval is None:
        return None
    from harness.data.formats import detect_format
    from harness.data.io import read_records

    rows = read_records(request.eval)
    if request.method == "sft" and rows and detect_format(rows) == "eval":
        pairs = [{"prompt": _eval_prompt(r), "completion": str(r["reference"])} for r in rows]
        return [sft_row(pair, request.system_prompt) for pair in pairs]
    convert = CONVERT[request.method]
    return [convert(r, request.system_prompt) for r in read_for_method(request.eval, request.method)]


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

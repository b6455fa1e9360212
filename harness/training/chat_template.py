"""Chat templates for training: give a base model one, and make sure the tuned model learns to stop.

Every training row is conversational (see :mod:`harness.training.prepare`), so the tokenizer must have
a chat template. A base model has none: posttrain then uses ChatML with the tokenizer's *own* EOS ending
each turn (``training.chat_template: chatml``), or the experiment's choice (a ``.jinja`` file, or a
model whose template is copied, as TRL's ``clone_chat_template`` does). No token is ever added: a LoRA
adapter cannot train new embedding rows, and an adapter over a resized vocabulary would no longer load
on the base model for evaluation, the forgetting check or export.

The model stops where it learnt to emit the end-of-turn token, and generation stops on
``tokenizer.eos_token``. So the template's end-of-turn token becomes the EOS (TRL's ``eos_token``
handling: the model's generation config gets it too), and after the trainer has tokenised the data,
:func:`check_stop_trained` verifies that this token is in the labels, unmasked. The tokenizer saved
with the adapter carries the template and the EOS, and evaluation loads it from there.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from posttrain.errors import BadInput, CheckFailed

# ChatML's shape (what TRL and most chat models use), the turn closed by whatever EOS the tokenizer has:
# no new tokens, and the model already knows EOS as "text ends here". With SmolLM2's tokenizer
# (EOS = <|im_end|>) this is exactly ChatML.
CHATML = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + eos_token + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
_MARK = "posttrain-answer-3f9c"
_SAMPLE = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": _MARK}]
_FIELD = "training.chat_template"


def end_of_turn(tokenizer: Any, template: str) -> str | None:
    """The first special token ``template`` writes after an assistant message (None: it writes none)."""
    text = tokenizer.apply_chat_template(_SAMPLE, chat_template=template, tokenize=False)
    if _MARK not in text:
        raise BadInput(f"{_FIELD}: the template does not write the assistant's message; check it")
    after = text.split(_MARK, 1)[1]
    special = set(tokenizer.all_special_ids) | set(tokenizer.added_tokens_decoder)
    for token_id in tokenizer(after, add_special_tokens=False)["input_ids"]:
        if token_id in special:
            return str(tokenizer.convert_ids_to_tokens(token_id))
    return None


def _chosen_template(tokenizer: Any, choice: str | None, base_dir: str | None) -> tuple[str | None, str | None, str]:
    """(template, end-of-turn token or None when it must be found in ``tokenizer``, where it came from)."""
    if choice is None and getattr(tokenizer, "chat_template", None):
        return None, None, "the model's own"
    if choice is None or choice == "chatml":
        return CHATML, tokenizer.eos_token, "posttrain's ChatML"
    path = Path(choice).expanduser()
    if not path.is_absolute() and base_dir:
        path = Path(base_dir) / path
    if choice.endswith((".jinja", ".j2")):
        if not path.is_file():
            raise BadInput(f"{_FIELD}: {choice}: no such file")
        from posttrain.safe_files import read_text

        return read_text(path, f"{_FIELD} file"), None, str(path)
    from transformers import AutoTokenizer

    from harness.models.loading import resolve_model

    try:
        source = AutoTokenizer.from_pretrained(resolve_model(str(path) if path.exists() else choice))
    except (OSError, ValueError) as error:  # not a model here, unreachable offline, or no tokenizer in it
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise BadInput(f"{_FIELD}: {choice}: no tokenizer to copy the template from ({first})") from None
    template = source.get_chat_template() if getattr(source, "chat_template", None) else None
    if not template:
        raise BadInput(f"{_FIELD}: {choice} has no chat template to copy; use chatml or a .jinja file")
    stop = end_of_turn(source, template)
    if stop is not None and stop not in tokenizer.get_vocab():
        raise BadInput(
            f"{_FIELD}: {choice}'s template ends a turn with {stop!r}, which this model's tokenizer lacks; "
            "posttrain adds no tokens (LoRA cannot train new embeddings); use chatml or a .jinja template "
            "written with this model's tokens"
        )
    return template, stop, choice


def prepare_chat_template(
    tokenizer: Any, model: Any, choice: str | None, base_dir: str | None = None, announce: bool = True
) -> str:
    """Give ``tokenizer`` the chosen chat template and make its end-of-turn token the EOS; returns its token.
    ``model`` (None: a check on the tokenizer alone) gets the EOS among the ids its generation stops at.

    Raises :class:`BadInput` when the template ends an assistant turn with no special token: the tuned
    model would then never learn where to stop.
    """
    template, stop, origin = _chosen_template(tokenizer, choice, base_dir)
    if template is not None:
        if choice is None and announce:
            print(
                f"chat template: the model has none (a base model); training with posttrain's ChatML, each turn "
                f"ended by its EOS {tokenizer.eos_token!r} (set {_FIELD} to choose); it is saved with the adapter",
                file=sys.stderr,
            )
        tokenizer.chat_template = template
    stop = stop or end_of_turn(tokenizer, tokenizer.chat_template)
    if stop is None:
        raise BadInput(
            f"{_FIELD}: {origin} template ends an assistant turn with no special token, so the tuned model would "
            "never learn where to stop; use a template that closes each turn with one (e.g. chatml: the EOS)"
        )
    if stop != tokenizer.eos_token:
        # e.g. a template closing turns with <|eot_id|> while EOS is <|end_of_text|>: generation would run on.
        if announce:
            print(f"chat template: its turns end with {stop!r}, not EOS {tokenizer.eos_token!r}; EOS is now {stop!r}",
                  file=sys.stderr)  # fmt: skip
        tokenizer.eos_token = stop
        _stop_generation_at(model, tokenizer.eos_token_id)
    return stop


def _stop_generation_at(model: Any, token_id: int) -> None:
    """Add ``token_id`` to the ids generation stops at (any of them halts it), as TRL's ``eos_token`` does."""
    config = getattr(model, "generation_config", None)
    if config is None:
        return
    current = config.eos_token_id
    ids = [] if current is None else [current] if isinstance(current, int) else list(current)
    if token_id not in ids:
        config.eos_token_id = [token_id, *ids]


def check_stop_trained(trainer: Any, tokenizer: Any, max_length: int, rows: int = 16) -> int:
    """Collate the first ``rows`` tokenised training rows as the trainer will, and count those whose
    labels hold the EOS (end-of-turn) token unmasked; none of them means a model that never stops."""
    dataset = trainer.train_dataset
    examples = [dataset[i] for i in range(min(rows, len(dataset)))]
    if not examples:
        return 0
    keys = [k for k in ("input_ids", "labels", "completion_mask", "seq_lengths") if k in examples[0]]
    batch = trainer.data_collator([{k: example[k] for k in keys} for example in examples])
    stop = tokenizer.eos_token_id
    trained = int((batch["labels"] == stop).any(dim=-1).sum())
    if trained:
        return trained
    if all(len(example["input_ids"]) >= max_length for example in examples):
        print(
            f"end-of-turn {tokenizer.eos_token!r}: the first {len(examples)} examples are all cut at "
            "training.max_length before it; the tuned model may not learn to stop; raise max_length",
            file=sys.stderr,
        )
        return 0
    raise CheckFailed(
        f"end-of-turn {tokenizer.eos_token!r} (id {stop}) is masked out of the labels of every one of the first "
        f"{len(examples)} training rows, so the tuned model would not learn to stop; set {_FIELD} to a template "
        "whose assistant turn ends with that token inside the completion (e.g. chatml)"
    )

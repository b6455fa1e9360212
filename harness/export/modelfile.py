"""The chat template as Ollama's Go template, and the Modelfile around it.

A Jinja chat template cannot be translated to Go in general, but the text it writes around each
role can be measured: render a conversation of marker strings, cut at the markers, and the pieces
are each role's opener and closer, the generation prompt and whatever the template writes first
(a BOS token, or a default system turn when the conversation has none). The Go template is built
from those pieces, and :func:`render_like_ollama` renders it the way Ollama would so a test can
hold it against ``apply_chat_template``. A template whose pieces do not recombine into its own
output (one that treats the first or last turn specially) is reported, not guessed at.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

Message = dict[str, str]
_SYSTEM, _USER, _ASSISTANT, _USER_2 = "SYSTEMQ7X1", "USERQ7X2", "ASSISTANTQ7X3", "USERQ7X4"


@dataclass(frozen=True)
class ChatFormat:
    """The text a chat template writes around each turn."""

    system_open: str
    system_close: str
    user_open: str
    user_close: str
    assistant_open: str
    assistant_close: str
    generation_prompt: str
    default_head: str  # written first when the conversation has no system turn

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


class TemplateNotConvertible(ValueError):
    """The chat template's pieces do not recombine into its own output; no Go template is written."""


def _render(tokenizer: Any, messages: list[Message], generation_prompt: bool = False) -> str:
    return str(tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt))


def _split(text: str, marker: str, what: str) -> tuple[str, str]:
    if text.count(marker) != 1:
        raise TemplateNotConvertible(f"the chat template does not write the {what} turn's text verbatim once")
    head, tail = text.split(marker)
    return head, tail


def _after(longer: str, prefix: str, what: str) -> str:
    if not longer.startswith(prefix):
        raise TemplateNotConvertible(f"adding a {what} turn rewrites the turns before it")
    return longer[len(prefix) :]


def chat_format(tokenizer: Any) -> ChatFormat:
    """Measure the pieces of ``tokenizer``'s chat template; :class:`TemplateNotConvertible` when they do not fit."""
    if not getattr(tokenizer, "chat_template", None):
        raise TemplateNotConvertible("the tokenizer has no chat template")
    system = {"role": "system", "content": _SYSTEM}
    user = {"role": "user", "content": _USER}
    assistant = {"role": "assistant", "content": _ASSISTANT}
    try:
        with_system = _render(tokenizer, [system])
        with_user = _render(tokenizer, [system, user])
        with_assistant = _render(tokenizer, [system, user, assistant])
        prompted = _render(tokenizer, [system, user], generation_prompt=True)
        no_system = _render(tokenizer, [user])
    except Exception as error:  # a template that raises on some role (e.g. "system not supported")
        raise TemplateNotConvertible(f"the chat template fails on a plain conversation: {error}") from None
    system_open, system_close = _split(with_system, _SYSTEM, "system")
    user_open, user_close = _split(_after(with_user, with_system, "user"), _USER, "user")
    assistant_open, assistant_close = _split(_after(with_assistant, with_user, "assistant"), _ASSISTANT, "assistant")
    generation_prompt = _after(prompted, with_user, "generation prompt")
    user_block = user_open + _USER + user_close
    if not no_system.endswith(user_block):
        raise TemplateNotConvertible("without a system turn the template writes the user turn differently")
    found = ChatFormat(
        system_open=system_open,
        system_close=system_close,
        user_open=user_open,
        user_close=user_close,
        assistant_open=assistant_open,
        assistant_close=assistant_close,
        generation_prompt=generation_prompt,
        default_head=no_system[: -len(user_block)],
    )
    # The pieces must rebuild a longer conversation exactly, or the template has turn-dependent parts.
    longer = [system, user, assistant, {"role": "user", "content": _USER_2}]
    if render_like_ollama(found, longer) != _render(tokenizer, longer, generation_prompt=True):
        raise TemplateNotConvertible("the template writes later turns differently from the first ones")
    return found


def render_like_ollama(fmt: ChatFormat, messages: list[Message], default_system: str | None = None) -> str:
    """What :func:`go_template` renders to in Ollama for these turns.

    Ollama joins the system turns into ``.System`` (the Modelfile's SYSTEM when there are none) and
    keeps every turn in ``.Messages``; the template skips the system ones in its loop.

    >>> fmt = ChatFormat("<s>", "</s>", "<u>", "</u>", "<a>", "</a>", "<a>", "")
    >>> render_like_ollama(fmt, [{"role": "user", "content": "hi"}], default_system="S")
    '<s>S</s><u>hi</u><a>'
    """
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system") or default_system
    text = f"{fmt.system_open}{system}{fmt.system_close}" if system else fmt.default_head
    for i, message in enumerate(messages):
        last = i == len(messages) - 1
        if message["role"] == "user":
            text += f"{fmt.user_open}{message['content']}{fmt.user_close}"
        elif message["role"] == "assistant":
            text += f"{fmt.assistant_open}{message['content']}" + ("" if last else fmt.assistant_close)
        if message["role"] != "assistant" and last:
            text += fmt.generation_prompt
    return text


def _literal(text: str) -> str:
    """Text for a Go template: ``{{`` would open an action, so it is written as an action printing it."""
    return text.replace("{{", '{{ "{{" }}')


def go_template(fmt: ChatFormat) -> str:
    """Ollama's TEMPLATE for this format.

    Written without ``{{-`` trimming: a trim marker would also eat the newlines that belong to the
    template's own text. Ollama passes the system prompt as ``.System`` (the Modelfile's SYSTEM when a
    request has none) and keeps system turns in ``.Messages``, so the loop skips them.
    """
    q = _literal
    return (
        f"{{{{ if .System }}}}{q(fmt.system_open)}{{{{ .System }}}}{q(fmt.system_close)}"
        f"{{{{ else }}}}{q(fmt.default_head)}{{{{ end }}}}"
        "{{ range $i, $_ := .Messages }}{{ $last := eq (len (slice $.Messages $i)) 1 }}"
        f'{{{{ if eq .Role "user" }}}}{q(fmt.user_open)}{{{{ .Content }}}}{q(fmt.user_close)}'
        f'{{{{ else if eq .Role "assistant" }}}}{q(fmt.assistant_open)}{{{{ .Content }}}}'
        f"{{{{ if not $last }}}}{q(fmt.assistant_close)}{{{{ end }}}}{{{{ end }}}}"
        f'{{{{ if and (ne .Role "assistant") $last }}}}{q(fmt.generation_prompt)}{{{{ end }}}}'
        "{{ end }}"
    )


def stop_strings(fmt: ChatFormat | None, eos_token: str | None, run_stops: list[str] | None = None) -> list[str]:
    """Where a served answer must end: the assistant's closer, the end token and the run's own stops.

    >>> fmt = ChatFormat("", "", "", "", "", "<|im_end|>\\n", "", "")
    >>> stop_strings(fmt, "<|im_end|>", ["###"])
    ['<|im_end|>', '###']
    """
    stops = []
    if fmt is not None and fmt.assistant_close.strip():
        stops.append(fmt.assistant_close.strip())
    if eos_token:
        stops.append(eos_token)
    stops += run_stops or []
    return list(dict.fromkeys(stops))


def quoted(value: str) -> str:
    r"""A Modelfile string: plain quotes for plain text, triple quotes for text with quotes or newlines.

    Triple quotes hold anything verbatim except three quotes in a row, or a quote right before the
    closing ones; only then are JSON escapes used (Ollama's parser reads backslash-quote in plain quotes).

    >>> print(quoted("Be brief."))
    "Be brief."
    >>> quoted('Say "hi" first.').startswith(chr(34) * 3)
    True
    """
    if '"' not in value and "\n" not in value:
        return f'"{value}"'
    if '"""' not in value and not value.endswith('"'):
        return f'"""{value}"""'
    return json.dumps(value, ensure_ascii=False)

"""The interactive questionnaire: one flow, two faces.

``run_questionnaire(prompter)`` walks the question bank (skipping questions whose condition does not
hold, going back, showing help, quitting). A prompter asks one question and returns a value or one of
``HELP``, ``BACK``, ``QUIT``:

- ``PlainPrompter`` reads lines (pipes, scripts, dumb terminals): Enter keeps the default, ``?`` shows
  why the question matters, ``<`` goes back, ``q`` quits.
- ``ArrowPrompter`` uses questionary (arrow keys, space to tick, Enter): ``?`` help, ``←``/``b`` back,
  ``q`` quit. Its input and output can be injected (prompt_toolkit pipes), which is how it is tested.

Questions and help go to stderr, so ``--json`` output on stdout stays clean.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, Protocol, TextIO

from advisor.questions import Question, load_questions
from advisor.schema import Answers
from posttrain.errors import BadInput


class _Signal:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


HELP, BACK, QUIT = _Signal("HELP"), _Signal("BACK"), _Signal("QUIT")


class Quit(Exception):
    """The user chose to quit; nothing is recommended or saved."""


class Prompter(Protocol):
    def ask(self, question: Question, default: Any, position: str) -> Any: ...
    def say(self, text: str) -> None: ...


def run_questionnaire(prompter: Prompter, questions: tuple[Question, ...] | None = None) -> Answers:
    """Ask every question that applies; return the answers (skipped questions keep their defaults)."""
    bank = questions or load_questions()
    answers: dict[str, Any] = {}
    asked: list[int] = []  # indexes of the questions answered so far, for going back
    index = 0
    while index < len(bank):
        question = bank[index]
        if not question.applies(answers):
            answers.pop(question.id, None)  # an earlier answer changed; this one no longer counts
            index += 1
            continue
        visible = sum(q.applies(answers) for q in bank)
        default = answers.get(question.id, question.default)
        result = prompter.ask(question, default, f"{len(asked) + 1}/{visible}")
        if result is HELP:
            prompter.say(f"  why: {question.help}")
        elif result is BACK:
            if asked:
                index = asked.pop()
            else:
                prompter.say("  (this is the first question)")
        elif result is QUIT:
            raise Quit
        else:
            answers[question.id] = result
            asked.append(index)
            index += 1
    return Answers.model_validate(answers)


# --- plain prompts -----------------------------------------------------------------------------------


def _shown(question: Question, value: Any) -> str:
    if question.type == "bool":
        return "y" if value else "n"
    if question.type == "multi":
        return ",".join(str(question.options.index(o) + 1) for o in question.options if o.value in value)
    if question.type == "single":
        return str(next(i for i, o in enumerate(question.options, 1) if o.value == value))
    return str(value)


def parse_reply(question: Question, reply: str) -> Any:
    """Turn a typed reply into a value; raise ``ValueError`` with what was expected.

    >>> from advisor.questions import load_questions
    >>> goals = load_questions()[0]
    >>> parse_reply(goals, "1, style")
    ['knowledge', 'style']
    """
    reply = reply.strip()
    if question.type == "int":
        if not reply.isdigit():
            raise ValueError("a whole number ≥ 0")
        return int(reply)
    if question.type == "bool":
        if reply.lower() in ("y", "yes", "true"):
            return True
        if reply.lower() in ("n", "no", "false"):
            return False
        raise ValueError("y or n")
    values = [o.value for o in question.options]

    def one(token: str) -> str:
        token = token.strip()
        if token.isdigit() and 1 <= int(token) <= len(values):
            return values[int(token) - 1]
        if token in values:
            return token
        raise ValueError(f"a number 1–{len(values)} or one of {', '.join(values)}")

    if question.type == "single":
        return one(reply)
    picked = [one(token) for token in reply.replace(" ", ",").split(",") if token.strip()]
    if not picked:
        raise ValueError("at least one choice")
    return list(dict.fromkeys(picked))


def _wrapped(text: str) -> str:
    """Wrap at the terminal width with a hanging indent, so long help lines do not break mid-word."""
    import shutil
    import textwrap

    width = max(40, shutil.get_terminal_size((100, 24)).columns - 1)
    indent = " " * (len(text) - len(text.lstrip()) + 2)
    return "\n".join(textwrap.fill(line, width, subsequent_indent=indent) for line in text.splitlines()) or text


class PlainPrompter:
    """Line-by-line prompts on any stream; ``read`` returns one line or raises ``EOFError``."""

    def __init__(self, read: Callable[[], str] | None = None, out: TextIO | None = None, echo: bool = True) -> None:
        self._read = read or self._stdin_line
        self._out = out or sys.stderr
        # Input from a pipe is not echoed by a terminal; echoing it keeps the transcript readable.
        self._echo = echo

    @staticmethod
    def _stdin_line() -> str:
        line = sys.stdin.readline()
        if not line:
            raise EOFError
        return line

    def say(self, text: str) -> None:
        print(_wrapped(text), file=self._out, flush=True)

    def ask(self, question: Question, default: Any, position: str) -> Any:
        self.say(f"\n({position}) {question.text}")
        for number, option in enumerate(question.options, 1):
            self.say(f"   {number}) {option.label}")
        hint = {"multi": "numbers, comma-separated", "single": "number", "int": "number", "bool": "y/n"}[question.type]
        while True:
            print(f"  {hint} [{_shown(question, default)}] (? why, < back, q quit): ", end="", file=self._out)
            self._out.flush()
            try:
                reply = self._read().strip()
                if self._echo:
                    print(reply, file=self._out, flush=True)
            except EOFError:
                if self._echo:
                    print(file=self._out)
                raise BadInput(
                    f"input ended at question '{question.id}'; answer every question, or pass --answers FILE"
                ) from None
            if reply == "":
                return default
            if reply == "?":
                return HELP
            if reply in ("<", "b", "back"):
                return BACK
            if reply in ("q", "quit"):
                return QUIT
            try:
                return parse_reply(question, reply)
            except ValueError as error:
                self.say(f"  not understood: {reply!r}; expected {error}")


# --- arrow keys (questionary) ------------------------------------------------------------------------


class ArrowPrompter:
    """Arrow-key prompts; pass prompt_toolkit ``input``/``output`` objects to drive it from a test."""

    KEYS = "Keys: ↑↓ move · Space ticks · Enter accepts · ? why this matters · ← back · q quit"

    def __init__(self, input: Any = None, output: Any = None) -> None:
        self._io: dict[str, Any] = {}
        if input is not None:
            self._io["input"] = input
        if output is None:
            from prompt_toolkit.output import create_output

            output = create_output(stdout=sys.stderr)
        self._io["output"] = output
        self._out = sys.stderr

    def say(self, text: str) -> None:
        print(_wrapped(text), file=self._out, flush=True)

    @staticmethod
    def _leave(app: Any, signal: _Signal) -> None:
        # Erase the unanswered prompt, so help or going back does not leave a dangling question line.
        app.erase_when_done = True
        app.exit(result=signal)

    def _with_signals(self, prompt: Any, back_keys: tuple[str, ...] = ("left", "b")) -> Any:
        from prompt_toolkit.key_binding import KeyBindings, merge_key_bindings

        extra = KeyBindings()
        for key, signal in (("?", HELP), ("q", QUIT), *((k, BACK) for k in back_keys)):
            extra.add(key, eager=True)(lambda event, signal=signal: self._leave(event.app, signal))
        app = prompt.application
        app.key_bindings = merge_key_bindings([app.key_bindings, extra])
        return prompt.unsafe_ask()

    def ask(self, question: Question, default: Any, position: str) -> Any:
        import questionary

        qmark = f"[{position}]"
        if question.type == "single":
            choices = [questionary.Choice(o.label, value=o.value) for o in question.options]
            prompt = questionary.select(
                question.text,
                choices=choices,
                default=next(c for c in choices if c.value == default),
                qmark=qmark,
                instruction=" ",  # the keys are listed once, at the start
                **self._io,
            )
            return self._with_signals(prompt)
        if question.type == "multi":
            prompt = questionary.checkbox(
                question.text,
                choices=[
                    questionary.Choice(o.label, value=o.value, checked=o.value in default) for o in question.options
                ],
                qmark=qmark,
                instruction="(Space ticks)",
                validate=lambda picked: bool(picked) or "pick at least one (Space ticks)",
                **self._io,
            )
            # questionary would leave "done (3 selections)" behind; show what was picked instead.
            prompt.application.erase_when_done = True
            picked = self._with_signals(prompt)
            if not isinstance(picked, _Signal):
                labels = [o.label.split(" — ")[0] for o in question.options if o.value in picked]
                self.say(f"{qmark} {question.text} {', '.join(labels)}")
            return picked
        if question.type == "bool":
            prompt = questionary.confirm(
                question.text,
                default=bool(default),
                qmark=qmark,
                **self._io,
            )
            return self._with_signals(prompt)
        # A count is typed: only digits are content, so '?', 'q' and '<' can act as keys (the left arrow
        # moves the cursor here).
        prompt = questionary.text(
            question.text,
            default=str(default),
            qmark=qmark,
            validate=lambda text: text.strip().isdigit() or "a whole number ≥ 0",
            **self._io,
        )
        reply = self._with_signals(prompt, back_keys=("<",))
        return reply if isinstance(reply, _Signal) else int(reply.strip())


def interactive_answers(stdin_is_tty: bool | None = None) -> Answers:
    """Ask the questions with arrow keys on a terminal, with plain prompts otherwise."""
    tty = sys.stdin.isatty() and sys.stderr.isatty() if stdin_is_tty is None else stdin_is_tty
    prompter: Prompter = ArrowPrompter() if tty else PlainPrompter(echo=not sys.stdin.isatty())
    if tty:
        prompter.say(ArrowPrompter.KEYS + " (in a number: <)")
    else:
        prompter.say("Answer each question; Enter keeps the [default]. Scripts can pass --answers FILE instead.")
    answers = run_questionnaire(prompter)
    prompter.say("")  # end the last prompt's line before the summary
    return answers

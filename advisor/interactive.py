"""The interactive questionnaire: one flow, two faces.

``run_questionnaire(prompter)`` walks the question bank (skipping questions whose condition does not
hold, going back, showing help, quitting). A prompter asks one question and returns a value or one of
``HELP``, ``BACK``, ``QUIT``:

- ``PlainPrompter`` reads lines (pipes, scripts, dumb terminals): Enter keeps the default, ``?`` shows
  why the question matters, ``<`` goes back, ``q`` (or Ctrl-C) quits.
- ``ArrowPrompter`` uses questionary (arrow keys, space to tick, Enter): ``?`` help, ``<`` back on every
  question (``←``/``b`` too where no text is typed), ``q`` or Ctrl-C quit. A count starts empty, so typed
  digits never append to a default ("0" + "25" must not read 025); Enter keeps the default. Enter on the
  multi-select takes the highlighted choice when none is ticked. Its input and output can be injected
  (prompt_toolkit pipes), which is how it is tested.

Counts accept thousands separators (``1,200``, ``1 200``, ``1_200``) and ``k`` (``5k``). The counter is
fixed: the main questions are numbered ``1..N`` once, and a follow-up asked only for some answers takes its
main question's number and a letter (``[1a/13]``), so the total never jumps.

Questions and help go to stderr, so ``--json`` output on stdout stays clean.
"""

from __future__ import annotations

import re
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


def positions(bank: tuple[Question, ...]) -> list[str]:
    """The fixed counter of each question: main questions ``n/N``, follow-ups ``na/N``.

    >>> from advisor.questions import load_questions
    >>> shown = positions(load_questions())
    >>> shown[:4], shown[-1]
    (['1/13', '1a/13', '1b/13', '2/13'], '13/13')
    """
    total = sum(not q.when for q in bank)
    out, number, letter = [], 0, 0
    for question in bank:
        if question.when:
            out.append(f"{max(number, 1)}{'abcdefghij'[letter]}/{total}")
            letter += 1
        else:
            number, letter = number + 1, 0
            out.append(f"{number}/{total}")
    return out


def run_questionnaire(
    prompter: Prompter, questions: tuple[Question, ...] | None = None, given: dict[str, Any] | None = None
) -> Answers:
    """Ask every question that applies; return the answers (skipped questions keep their defaults).

    ``given`` pre-fills answers (e.g. counts found by ``advise --data``): they are offered as the defaults.
    """
    bank = questions or load_questions()
    shown = positions(bank)
    prefilled = dict(given or {})
    answers: dict[str, Any] = {}
    asked: list[int] = []  # indexes of the questions answered so far, for going back
    index = 0
    while index < len(bank):
        question = bank[index]
        if not question.applies(answers):
            answers.pop(question.id, None)  # an earlier answer changed; this one no longer counts
            index += 1
            continue
        default = answers.get(question.id, prefilled.get(question.id, question.default))
        result = prompter.ask(question, default, shown[index])
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
    return f"{value:,}"  # a count, as it may be typed back


def parse_reply(question: Question, reply: str) -> Any:
    """Turn a typed reply into a value; raise ``ValueError`` with what was expected.

    >>> from advisor.questions import load_questions
    >>> goals = load_questions()[0]
    >>> parse_reply(goals, "1, style")
    ['knowledge', 'style']
    """
    reply = reply.strip()
    if question.type == "int":
        return parse_count(reply)
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


_GROUPED = re.compile(r"\d{1,3}(?:([,_ '’])\d{3})(?:\1\d{3})*")
COUNT_HINT = "a whole number ≥ 0, e.g. 1200, 1,200 or 5k"


def parse_count(reply: str) -> int:
    """A typed count: digits, with thousands separators or a ``k``; ``ValueError`` says what was expected.

    >>> [parse_count(r) for r in ("25", "1,200", "1 200 000", "12_000", "5k", "2.5k")]
    [25, 1200, 1200000, 12000, 5000, 2500]
    >>> parse_count("1,20")
    Traceback (most recent call last):
    ValueError: a whole number ≥ 0, e.g. 1200, 1,200 or 5k
    """
    text = reply.strip().lower()
    if text.isdigit():
        return int(text)
    if _GROUPED.fullmatch(text):
        return int(re.sub(r"\D", "", text))
    thousands = re.fullmatch(r"(\d+(?:\.\d{1,3})?)\s*k", text)
    if thousands:
        return round(float(thousands.group(1)) * 1000)
    raise ValueError(COUNT_HINT)


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
            except KeyboardInterrupt:
                print(file=self._out)
                return QUIT  # Ctrl-C is q: the same quit message, nothing saved
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
                # Right under the reply, before the prompt is asked again.
                self.say(f"  ✗ not understood: {reply!r}; expected {error}")


# --- arrow keys (questionary) ------------------------------------------------------------------------


class ArrowPrompter:
    """Arrow-key prompts; pass prompt_toolkit ``input``/``output`` objects to drive it from a test."""

    KEYS = "Keys: ↑↓ move · Space ticks · Enter accepts · ? why this matters · < back · q or Ctrl-C quit"

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

    def _with_signals(self, prompt: Any, back_keys: tuple[str, ...] = ("<", "left", "b"), extra: Any = None) -> Any:
        from prompt_toolkit.key_binding import KeyBindings, merge_key_bindings

        signals = extra or KeyBindings()
        for key, signal in (("?", HELP), ("q", QUIT), ("c-c", QUIT), *((k, BACK) for k in back_keys)):
            signals.add(key, eager=True)(lambda event, signal=signal: self._leave(event.app, signal))
        app = prompt.application
        # The last binding for a key wins in prompt_toolkit, so these replace questionary's own.
        app.key_bindings = merge_key_bindings([app.key_bindings, signals])
        try:
            return prompt.unsafe_ask()
        except KeyboardInterrupt:  # a Ctrl-C that reached questionary anyway
            return QUIT

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
            return self._ask_multi(question, default, qmark)
        if question.type == "bool":
            prompt = questionary.confirm(
                question.text,
                default=bool(default),
                qmark=qmark,
                **self._io,
            )
            return self._with_signals(prompt)
        return self._ask_count(question, default, qmark)

    def _ask_multi(self, question: Question, default: Any, qmark: str) -> Any:
        import questionary
        from prompt_toolkit.key_binding import KeyBindings
        from questionary.prompts.common import InquirerControl

        # Only an answer given earlier is pre-ticked; the schema default is merely highlighted, so Enter
        # with nothing ticked takes whatever the cursor is on (never a hidden pre-ticked default).
        ticked = [] if default == question.default else list(default)
        prompt = questionary.checkbox(
            question.text,
            choices=[questionary.Choice(o.label, value=o.value, checked=o.value in ticked) for o in question.options],
            initial_choice=(ticked or default)[0],
            qmark=qmark,
            instruction="(Space ticks; Enter alone takes the highlighted one)",
            **self._io,
        )
        enter = KeyBindings()

        @enter.add("enter", eager=True)
        def _accept(event: Any) -> None:
            control = next(c for c in event.app.layout.find_all_controls() if isinstance(c, InquirerControl))
            if not control.selected_options:
                control.selected_options.append(control.get_pointed_at().value)
            control.is_answered = True
            event.app.exit(result=[c.value for c in control.get_selected_values()])

        # questionary would leave "done (3 selections)" behind; show what was picked instead.
        prompt.application.erase_when_done = True
        picked = self._with_signals(prompt, extra=enter)
        if not isinstance(picked, _Signal):
            labels = [o.label.split(" — ")[0] for o in question.options if o.value in picked]
            self.say(f"{qmark} {question.text} {', '.join(labels)}")
        return picked

    def _ask_count(self, question: Question, default: Any, qmark: str) -> Any:
        import questionary

        # The field starts empty and the default is shown beside the question: typed digits replace it,
        # Enter keeps it. A bad reply is asked again with the reason on the question's own line.
        problem = ""
        while True:
            prompt = questionary.text(
                f"{question.text} (Enter keeps {default:,}){problem}",
                default="",
                qmark=qmark,
                **self._io,
            )
            prompt.application.erase_when_done = True
            # '<' goes back; the left arrow moves the cursor in typed text.
            reply = self._with_signals(prompt, back_keys=("<",))
            if isinstance(reply, _Signal):
                return reply
            try:
                value = parse_count(reply) if reply.strip() else int(default)
            except ValueError as error:
                problem = f"  ✗ {reply.strip()!r}: {error}"
                continue
            self.say(f"{qmark} {question.text} {value:,}")
            return value


def interactive_answers(stdin_is_tty: bool | None = None, given: dict[str, Any] | None = None) -> Answers:
    """Ask the questions with arrow keys on a terminal, with plain prompts otherwise."""
    tty = sys.stdin.isatty() and sys.stderr.isatty() if stdin_is_tty is None else stdin_is_tty
    prompter: Prompter = ArrowPrompter() if tty else PlainPrompter(echo=not sys.stdin.isatty())
    if tty:
        prompter.say(ArrowPrompter.KEYS)
    else:
        prompter.say("Answer each question; Enter keeps the [default]. Scripts can pass --answers FILE instead.")
    try:
        answers = run_questionnaire(prompter, given=given)
    except KeyboardInterrupt:
        raise Quit from None  # Ctrl-C between prompts: like q
    prompter.say("")  # end the last prompt's line before the summary
    return answers

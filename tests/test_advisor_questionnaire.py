"""The questionnaire cannot corrupt answers: counts, the multi-select's Enter, `<` everywhere, Ctrl-C, one counter.

(Also tried by hand in tmux: `tmux new -d -s adv -x 120 -y 40 'posttrain advise'`, send-keys, capture-pane.)
"""

from __future__ import annotations

import io
import sys
from typing import Any

import pytest

from advisor.interactive import ArrowPrompter, PlainPrompter, Quit, parse_count, positions, run_questionnaire
from advisor.questions import load_questions

DOWN, UP = "\x1b[B", "\x1b[A"


def by_id(*ids: str) -> tuple[Any, ...]:
    bank = {q.id: q for q in load_questions()}
    return tuple(bank[i] for i in ids)


def arrow(keys: str, questions: tuple[Any, ...]) -> Any:
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    with create_pipe_input() as pipe:
        pipe.send_text(keys)
        return run_questionnaire(ArrowPrompter(input=pipe, output=DummyOutput()), questions)


@pytest.mark.parametrize(("typed", "value"), [("25", 25), ("1,200", 1200), ("12 000", 12000), ("5k", 5000)])
def test_counts_accept_separators(typed: str, value: int) -> None:
    assert parse_count(typed) == value


@pytest.mark.parametrize("typed", ["1,20", "-3", "12x", "1.5", ""])
def test_bad_counts_say_what_is_expected(typed: str) -> None:
    with pytest.raises(ValueError, match=r"e\.g\. 1200, 1,200 or 5k"):
        parse_count(typed)


def test_typed_digits_replace_the_default_and_going_back_retypes(capsys: pytest.CaptureFixture[str]) -> None:
    # 200, then back from the next question and 300: the answer is 300, never "200300" or "0200".
    answers = arrow("200\r" + "<" + "300\r" + "\r", by_id("sft_examples", "preference_pairs"))
    assert (answers.sft_examples, answers.preference_pairs) == (300, 0)
    assert "How many (prompt, ideal response) examples do you have or can write? 300" in capsys.readouterr().err


def test_enter_on_the_multi_select_takes_the_highlighted_choice() -> None:
    assert arrow(DOWN + "\r", by_id("goals")).goals == ["identity"]  # the cursor starts on the default
    assert arrow("\r", by_id("goals")).goals == ["capability"]
    assert arrow(UP * 3 + " " + DOWN + " \r", by_id("goals")).goals == ["knowledge", "style"]  # ticks win


def test_back_works_on_every_kind_of_question() -> None:
    questions = by_id("goals", "instruction_complexity", "repeated_instructions", "sft_examples")
    # multi, single, yes/no and count: each goes back with '<' and the earlier answer is asked again.
    keys = "\r" + "\r" + "<" + DOWN + "\r" + "y" + "<" + "<" + "\r" + "n" + "<" + "y" + "7\r"
    answers = arrow(keys, questions)
    assert answers.instruction_complexity == "comprehensive"  # changed after going back, then kept with Enter
    assert (answers.repeated_instructions, answers.sft_examples) == (True, 7)


def test_ctrl_c_quits_like_q() -> None:
    with pytest.raises(Quit):
        arrow("\r\x03", by_id("goals", "sft_examples"))
    with pytest.raises(Quit):
        arrow("\x03", by_id("goals"))

    def interrupted() -> str:
        raise KeyboardInterrupt

    with pytest.raises(Quit):
        run_questionnaire(PlainPrompter(read=interrupted, out=io.StringIO()), by_id("goals"))


def test_ctrl_c_in_the_cli_prints_the_quit_message(cli, capsys, monkeypatch) -> None:
    class Interrupting(io.StringIO):
        def readline(self, *args: Any) -> str:
            raise KeyboardInterrupt

    monkeypatch.setattr(sys, "stdin", Interrupting())
    code, out, err = cli("advise", capsys=capsys)
    assert code == 130 and "quit: nothing recommended or saved" in err and out == ""


def test_one_counter_never_changes_its_total() -> None:
    shown = positions(load_questions())
    totals = {p.split("/")[1] for p in shown}
    assert totals == {"13"}
    assert shown[load_questions().index(by_id("rl_prompts")[0])] == "8b/13"


def test_plain_errors_are_printed_right_under_the_reply() -> None:
    out = io.StringIO()
    replies = iter(["1,2x", "1 200"])
    answers = run_questionnaire(PlainPrompter(read=lambda: next(replies), out=out), by_id("sft_examples"))
    lines = out.getvalue().splitlines()
    bad = next(i for i, line in enumerate(lines) if line.endswith("1,2x"))
    assert "✗ not understood: '1,2x'" in lines[bad + 1] and answers.sft_examples == 1200

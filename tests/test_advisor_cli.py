"""``posttrain advise``: answers files, bad input, advice.json, import weight, and the interactive flows."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from advisor.advice import load_advice, load_answers
from advisor.engine import recommend
from advisor.interactive import ArrowPrompter, PlainPrompter, run_questionnaire
from advisor.schema import Answers

REPO = Path(__file__).resolve().parent.parent
SUPPORT = REPO / "examples" / "support-assistant" / "answers.yaml"
HEAVY = ("torch", "transformers", "trl", "peft", "chromadb", "lm_eval")


def test_bad_answers_file_lists_every_problem(tmp_path: Path, cli, capsys) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "goals: [knowledge, speed]\n"
        "instruction_complexity: many\n"
        "sft_exmples: 100\n"
        "preference_pairs: -3\n"
        "teacher_model: maybe\n"
        "compute: tpu\n"
    )
    code, out, err = cli("advise", "--answers", str(bad), capsys=capsys)
    assert code == 2 and out == ""
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    expected = [
        f"{bad}:3: sft_exmples: unknown key; did you mean 'sft_examples'?",
        f"{bad}:1: goals: 'speed' is not allowed; expected a list of one or more of knowledge, style,",
        f"{bad}:2: instruction_complexity: 'many' is not allowed; expected one of few_simple, comprehensive",
        f"{bad}:4: preference_pairs: -3 is not allowed; expected a whole number ≥ 0",
        f"{bad}:5: teacher_model: 'maybe' is not allowed; expected true or false",
        f"{bad}:6: compute: 'tpu' is not allowed; expected one of cpu, gpu_24gb, gpu_80gb, multi_gpu",
    ]
    assert len(lines) == len(expected), err
    for line, start in zip(lines, expected, strict=True):
        assert line.startswith("error: " + start), (line, start)


def test_json_answers_file_and_unreadable_files(tmp_path: Path, cli, capsys) -> None:
    good = tmp_path / "a.json"
    good.write_text(json.dumps({"goals": ["capability"], "success_check": "exact_answer"}))
    assert load_answers(good).model_fields_set == {"goals", "success_check"}
    broken = tmp_path / "b.json"
    broken.write_text('{"goals": ["style"],\n "compute": }')
    code, _, err = cli("advise", "--answers", str(broken), capsys=capsys)
    assert code == 2 and f"{broken}:2: not valid JSON" in err
    code, _, err = cli("advise", "--answers", str(tmp_path / "missing.yaml"), capsys=capsys)
    assert code == 2 and "cannot read the answers file" in err
    listing = tmp_path / "list.yaml"
    listing.write_text("- knowledge\n")
    code, _, err = cli("advise", "--answers", str(listing), capsys=capsys)
    assert code == 2 and "expected a mapping of answers" in err


def test_json_output_and_saved_advice_round_trip(tmp_path: Path, cli, capsys) -> None:
    out_file = tmp_path / "sub" / "advice.json"
    code, out, _ = cli("advise", "--answers", str(SUPPORT), "--json", "--out", str(out_file), capsys=capsys)
    assert code == 0
    printed = json.loads(out)
    assert printed["recommendation"]["plan"] == ["rag", "sft"]
    assert printed["answers"]["knowledge_changes"] == "monthly"
    advice = load_advice(out_file)
    assert advice.recommendation == recommend(load_answers(SUPPORT))
    assert advice.answers == load_answers(SUPPORT)
    assert json.loads(out_file.read_text()) == printed
    assert load_answers(out_file) == advice.answers  # a saved advice.json can be re-advised


def test_terminal_summary_is_short(cli, capsys) -> None:
    code, out, _ = cli("advise", "--answers", str(REPO / "examples" / "arithmetic" / "answers.yaml"), capsys=capsys)
    assert code == 0
    assert "Plan: RL (GRPO) ★" in out and "★ RL (GRPO) leads" in out and "verifiable reward" in out
    assert "What would change it" in out
    assert len(out.splitlines()) < 60


def test_broken_advice_json_is_bad_input(tmp_path: Path) -> None:
    from posttrain.errors import BadInput

    path = tmp_path / "advice.json"
    path.write_text(json.dumps({"posttrain_version": "0.1.0", "answers": {}, "recommendation": {"primary": "x"}}))
    with pytest.raises(BadInput, match=r"advice.json: recommendation.primary"):
        load_advice(path)


def _run_cli(args: list[str]) -> subprocess.CompletedProcess[str]:
    code = (
        "import sys, json; from harness.cli import main; code = main(sys.argv[1:]); "
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]; "
        "print('HEAVY', json.dumps(heavy), file=sys.stderr); sys.exit(code)"
    )
    env = {**os.environ, "COLUMNS": "100"}
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=REPO, env=env, check=False
    )


@pytest.mark.parametrize("args", [["--help"], ["advise", "--answers", str(SUPPORT), "--json"]], ids=["help", "json"])
def test_cli_imports_nothing_heavy(args: list[str]) -> None:
    proc = _run_cli(args)
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY []" in proc.stderr
    if "--json" in args:
        assert json.loads(proc.stdout)["recommendation"]["primary"] == "sft"


def test_plain_prompts_from_a_pipe(tmp_path: Path, cli, capsys, monkeypatch) -> None:
    out_file = tmp_path / "advice.json"
    script = "\n".join(
        [
            "1,3",  # goals: knowledge + format
            "weekly_or_faster",  # knowledge_changes (asked: the goals include knowledge)
            "1,500",  # knowledge_docs, with a thousands separator
            "?",  # help on instruction_complexity
            "7",  # out of range: asked again
            "2",  # comprehensive
            "y",  # repeated_instructions
            "<",  # back: repeated_instructions again
            "yes",  # repeated_instructions
            "n",  # repeated_corrections
            "1000",  # sft_examples
            "",  # preference_pairs: default
            "",  # feedback_labels: default
            "",  # success_check
            "",  # teacher_model
            "",  # model_stage
            "",  # compute
            "250",  # eval_examples
            "",  # forgetting_tolerance
        ]
    )
    monkeypatch.setattr(sys, "stdin", io.StringIO(script + "\n"))  # not a terminal: plain prompts
    code, out, err = cli("advise", "--json", "--out", str(out_file), capsys=capsys)
    assert code == 0, err
    assert "why: A few simple rules belong in the prompt" in err
    assert "not understood: '7'" in err
    # One fixed counter: follow-ups take their main question's number and a letter.
    assert "(1/13)" in err and "(1a/13)" in err and "(1b/13)" in err and "(2/13)" in err and "(13/13)" in err
    advice = json.loads(out)
    assert advice["answers"]["goals"] == ["knowledge", "format"]
    assert advice["answers"]["knowledge_changes"] == "weekly_or_faster"
    assert advice["answers"]["eval_examples"] == 250
    assert advice["answers"]["knowledge_docs"] == 1500
    assert advice["recommendation"]["plan"][0] == "rag"
    assert load_advice(out_file).answers.sft_examples == 1000


def test_plain_prompts_quit_and_end_of_input(tmp_path: Path, cli, capsys, monkeypatch) -> None:
    out_file = tmp_path / "advice.json"
    monkeypatch.setattr(sys, "stdin", io.StringIO("1\nq\n"))
    code, out, err = cli("advise", "--out", str(out_file), capsys=capsys)
    assert code == 130 and not out_file.exists()
    assert "quit: nothing recommended or saved" in err and "Recommendation" not in out
    monkeypatch.setattr(sys, "stdin", io.StringIO("2\n"))
    code, out, err = cli("advise", capsys=capsys)
    assert code == 2 and out == ""
    assert "input ended at question 'instruction_complexity'" in err
    assert "Traceback" not in err


def test_plain_prompter_skips_knowledge_questions_and_back_restores_previous_answer(capsys) -> None:
    replies = iter(["2", "1", "<", "", "n", "n", "", "", "", "", "", "", "", "", ""])
    asked: list[str] = []

    class Recording(PlainPrompter):
        def ask(self, question, default, position):  # type: ignore[no-untyped-def]
            asked.append(f"{question.id}={default}")
            return super().ask(question, default, position)

    answers = run_questionnaire(Recording(read=lambda: next(replies)))
    assert "knowledge_changes" not in "".join(asked)  # goals = style only: no knowledge questions
    # After going back, instruction_complexity offers the answer just given as its default.
    assert asked[1:4] == [
        "instruction_complexity=few_simple",
        "repeated_instructions=False",
        "instruction_complexity=few_simple",
    ]
    assert answers.goals == ["style"]
    follow_ups = {"knowledge_changes", "knowledge_docs", "answer_type", "rl_prompts"}  # not asked for these answers
    assert answers.model_fields_set == set(Answers.model_fields) - follow_ups


def test_arrow_key_prompts_through_prompt_toolkit(capsys) -> None:
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    down, up, left = "\x1b[B", "\x1b[A", "\x1b[D"
    keys = [
        " " + up + " \r",  # goals: the cursor starts on "capability" (nothing ticked): tick it, then "format"
        "?",  # why does instruction_complexity matter?
        down + "\r",  # comprehensive
        "y",  # repeated_instructions
        left,  # back, from repeated_corrections
        "n",  # repeated_instructions, answered again
        "n",  # repeated_corrections
        "?" + "12x\r",  # sft_examples: why? then a bad count, asked again beside the question
        "2000\r",  # sft_examples: the field starts empty, so no "0" is left in front
        "\r",  # preference_pairs: default
        "\r",  # feedback_labels: default
        up * 3 + "\r",  # success_check: from the default "none", three up to unit_tests
        "1,200\r",  # rl_prompts (asked for unit tests), with a thousands separator
        "\r",  # teacher_model
        "\r",  # model_stage
        down + "\r",  # compute: gpu_24gb
        "300\r",  # eval_examples
        "<",  # back from forgetting_tolerance
        "25\r",  # eval_examples again: typed digits replace the 300 (not 30025)
        "\r",  # forgetting_tolerance
    ]
    with create_pipe_input() as pipe:
        pipe.send_text("".join(keys))
        answers = run_questionnaire(ArrowPrompter(input=pipe, output=DummyOutput()))
    assert answers.goals == ["format", "capability"]
    assert answers.instruction_complexity == "comprehensive"
    assert answers.repeated_instructions is False
    assert (answers.sft_examples, answers.success_check, answers.compute) == (2000, "unit_tests", "gpu_24gb")
    assert (answers.rl_prompts, answers.eval_examples) == (1200, 25)
    err = capsys.readouterr().err
    assert "why: A few simple rules" in err
    assert "What should change in the model's behaviour? format, capability" in err
    assert recommend(answers).primary == "sft"

"""`posttrain advise --data DIR`: counts from the data itself pre-fill the answers, say which file gave which
count, and never override an answer the user gave."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

from harness.scaffold.data_survey import survey_data
from harness.scaffold.plan import plan_from_flags
from harness.scaffold.render import new_experiment


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def folder(tmp_path: Path) -> Path:
    root = tmp_path / "mine"
    chat = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
    write_jsonl(root / "sft" / "demos.jsonl", [chat] * 7)
    write_jsonl(root / "alpaca.json", [])  # replaced below by a JSON array in Alpaca's columns
    (root / "alpaca.json").write_text(json.dumps([{"instruction": "Add 2 and 2", "input": "", "output": "4"}] * 3))
    write_jsonl(root / "pairs.jsonl", [{"prompt": "p", "chosen": "a", "rejected": "b"}] * 5)
    write_jsonl(root / "thumbs.jsonl", [{"prompt": "p", "completion": "c", "label": i % 2 == 0} for i in range(6)])
    write_jsonl(root / "tasks.jsonl", [{"prompt": "f?", "tests": "assert f() == 1"}] * 4 + [{"prompt": "no check"}])
    write_jsonl(root / "eval.jsonl", [{"prompt": "q", "reference": "a"}] * 9)
    for name in ("a.md", "b.txt", "c.pdf"):
        (root / "knowledge" / "sub").mkdir(parents=True, exist_ok=True)
        (root / "knowledge" / "sub" / name).write_text("text")
    (root / "notes.csv").write_text("")  # unreadable: skipped with the reason
    (root / "runs" / "r1").mkdir(parents=True)
    write_jsonl(root / "runs" / "r1" / "results.jsonl", [{"prompt": "q", "reference": "a"}] * 50)  # outputs: ignored
    return root


def test_survey_counts_each_kind_and_names_the_file(tmp_path: Path) -> None:
    survey = survey_data(folder(tmp_path))
    assert survey.answers == {
        "sft_examples": 10,  # 7 conversations + 3 Alpaca rows, mapped by the data layer
        "preference_pairs": 5,
        "feedback_labels": 6,
        "rl_prompts": 4,  # the prompt without tests or an answer is not an RL prompt
        "eval_examples": 9,
        "knowledge_docs": 3,
        "success_check": "unit_tests",  # a tests column
    }
    by_path = {s.path: s for s in survey.sources}
    assert by_path["sft/demos.jsonl"].answer == "sft_examples" and by_path["alpaca.json"].rows == 3
    assert "1 prompts without an answer or tests" in by_path["tasks.jsonl"].note
    assert by_path["notes.csv"].kind == "skipped" and by_path["notes.csv"].note
    assert not [p for p in by_path if p.startswith("runs/")]
    assert "tasks.jsonl: 4 rl rows → rl_prompts (1 prompts without an answer or tests)" in survey.lines()


def test_explicit_answers_win_and_the_sources_are_said_and_saved(tmp_path: Path, cli, capsys) -> None:
    root = folder(tmp_path)
    answers = tmp_path / "answers.yaml"
    answers.write_text("goals: [capability]\nsft_examples: 2000\n")
    out = tmp_path / "advice.json"
    code, printed, err = cli(
        "advise", "--answers", str(answers), "--data", str(root), "--json", "--out", str(out), capsys=capsys
    )
    assert code == 0, err
    advice = json.loads(printed)
    assert advice["answers"]["sft_examples"] == 2000  # given explicitly: kept
    assert advice["answers"]["eval_examples"] == 9 and advice["answers"]["success_check"] == "unit_tests"
    assert "sft/demos.jsonl: 7 sft rows → sft_examples (your answer kept)" in err
    assert "eval.jsonl: 9 eval rows → eval_examples" in err
    assert {s["path"] for s in json.loads(out.read_text())["data_sources"]} >= {"pairs.jsonl", "knowledge"}


def test_an_experiment_is_read_through_its_config_and_prefills_the_questions(
    tmp_path: Path, cli, capsys, monkeypatch
) -> None:
    exp = tmp_path / "exp"
    new_experiment(exp, plan_from_flags("exp", "rag+sft+dpo"))
    survey = survey_data(exp)
    assert survey.answers == {
        "sft_examples": 32,
        "preference_pairs": 24,
        "eval_examples": 24 + 20,  # the task and the knowledge eval sets
        "knowledge_docs": 4,
    }
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n" * 20))  # Enter everywhere: the data's counts stand
    code, printed, err = cli("advise", "--data", str(exp), "--json", capsys=capsys)
    assert code == 0, err
    answers = json.loads(printed)["answers"]
    assert (answers["sft_examples"], answers["preference_pairs"], answers["eval_examples"]) == (32, 24, 44)


def test_data_that_is_not_a_folder_is_one_clear_line(tmp_path: Path, cli, capsys) -> None:
    code, _, err = cli("advise", "--data", str(tmp_path / "missing"), capsys=capsys)
    assert code == 2 and "--data" in err and "not a directory" in err and "Traceback" not in err


def test_known_answers_tell_their_type_so_json_is_not_scored_as_numbers(tmp_path: Path, cli, capsys) -> None:
    root = tmp_path / "contracts"
    clause = {"party": "Acme", "term_months": 12}
    write_jsonl(root / "train_prompts.jsonl", [{"prompt": f"Extract clause {i}", "answer": clause} for i in range(30)])
    write_jsonl(root / "eval.jsonl", [{"prompt": f"Clause {i}", "reference": json.dumps(clause)} for i in range(12)])
    survey = survey_data(root)
    assert survey.answers["success_check"] == "exact_answer" and survey.answers["answer_type"] == "json"
    out = tmp_path / "advice.json"
    code, _, err = cli(
        "advise", "--data", str(root), "--answers", str(_goals(tmp_path)), "--out", str(out), capsys=capsys
    )
    assert code == 0, err
    exp = tmp_path / "exp"
    code, _, err = cli("new", str(exp), "--from", str(out), capsys=capsys)
    assert code == 0, err
    assert 'metrics: ["exact_match"]' in (exp / "experiment.yaml").read_text()


def _goals(tmp_path: Path) -> Path:
    answers = tmp_path / "answers.yaml"
    answers.write_text("goals: [capability]\n")  # no format goal: only the data says the answers are JSON
    return answers

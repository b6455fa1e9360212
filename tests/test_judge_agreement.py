"""Judge–human agreement: the run's judge grades labelled answers, the report shows n, agreement and kappa.

The judge is the stand-in OpenAI-compatible server with queued grades, so the expected figures are known
by hand; the run folder is the report fixture plus the judge_agreement output.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fixtures.report_run import build_run

from harness.config import load_config
from harness.datagen.standin_server import StandinServer, queued_responder
from harness.evaluation.judge_agreement import WEAK_WARNING, cohen_kappa, read_labels
from harness.report.collect import collect_run
from harness.report.render import render_html, render_markdown
from harness.runner.context import RunContext
from harness.runner.stages import _judge_agreement
from posttrain.errors import BadInput

HUMAN = [1, 1, 1, 1, 1, 0, 0, 0, 0, 0]
# Judge calls (grade >= 5 is good): [1, 1, 1, 0, 1, 0, 0, 1, 0, 0] -> 8 of 10 agree;
# both raters say "good" half the time, so chance agreement is 0.5 and kappa = (0.8 - 0.5) / 0.5 = 0.6.
GRADES = ["Score: 8", "Score: 9", "Score: 7", "Score: 3", "Score: 10", "Score: 2", "Score: 1", "Score: 6", "0", "4"]


def _experiment(root: Path) -> Path:
    """A help-desk experiment whose eval set is judged, with the scaffold's labelling file format."""
    (root / "data").mkdir(parents=True)
    rows = [
        {"id": f"task-{i + 1:03d}", "prompt": f"Question {i}?", "reference": f"Answer {i}.", "output": f"Reply {i}."}
        | {"human_score": float(label)}
        for i, label in enumerate(HUMAN)
    ]
    (root / "data" / "judge_labels.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (root / "data" / "eval.jsonl").write_text(json.dumps({"prompt": "Hi?", "reference": "Hello."}) + "\n")
    return root


def _config(root: Path, url: str) -> Path:
    file = root / "experiment.yaml"
    file.write_text(
        "name: support-bot\nmodel: smollm2-135m\nmethods: [sft]\n"
        "data:\n  train: [{path: data/eval.jsonl}]\n"
        "evals:\n  - name: support\n    path: data/eval.jsonl\n    metrics: [judge]\n"
        f"    judge: {{url: '{url}', model: judge-7b, rubric: Polite and correct., labels: data/judge_labels.jsonl}}\n",
        encoding="utf-8",
    )
    return file


def _grade_labels(root: Path, run: Path, grades: list[str]) -> int:
    """Run the stage's judge-agreement step against a stand-in judge; return the requests it got."""
    with StandinServer(queued_responder(grades), model="judge-7b") as server:
        config = load_config(_config(root, server.url))
        ctx = RunContext(exp_dir=root, config=config, run_dir=run, manifest=None, say=lambda _: None)  # type: ignore[arg-type]
        ctx.stage = "baselines"
        _judge_agreement(ctx)
        return server.requests


def test_report_shows_judge_human_agreement(tmp_path: Path) -> None:
    root = _experiment(tmp_path / "exp")
    run = build_run(tmp_path)
    assert _grade_labels(root, run, GRADES) == len(HUMAN)  # every labelled answer went to the judge
    graded = [json.loads(x) for x in (run / "judge_agreement" / "support" / "labels.jsonl").read_text().splitlines()]
    assert [g["judge"] for g in graded] == [1, 1, 1, 0, 1, 0, 0, 1, 0, 0]
    assert graded[0]["id"] == "task-001" and graded[0]["human"] == 1.0

    data = collect_run(run)
    (row,) = data.judge_agreement
    assert (row.eval_set, row.n, row.agreement) == ("support", 10, 0.8)
    assert row.kappa == pytest.approx(0.6)
    assert row.ci95[0] < 0.6 < row.ci95[1] and row.ci95[0] >= -1.0 and row.ci95[1] <= 1.0
    assert not row.weak and data.verdict.warnings == []
    markdown = render_markdown(data)
    assert "## Judge–human agreement" in markdown
    assert "| support | 10 | 80% | 0.60 [" in markdown
    assert WEAK_WARNING not in markdown


def test_weak_judge_warns_in_verdict_and_decision(tmp_path: Path) -> None:
    root = _experiment(tmp_path / "exp")
    run = build_run(tmp_path)
    # A judge that calls everything good agrees on half the labels, no better than chance: kappa 0.
    _grade_labels(root, run, ["Score: 9"])
    data = collect_run(run)
    (row,) = data.judge_agreement
    assert (row.n, row.agreement, row.kappa, row.weak) == (10, 0.5, 0.0, True)
    (warning,) = data.verdict.warnings
    assert "support" in warning and WEAK_WARNING in warning
    markdown, html = render_markdown(data), render_html(data)
    assert markdown.count(WEAK_WARNING) == (2 if data.decision else 1)  # verdict, and the decision block
    assert WEAK_WARNING in html


def test_kappa_against_a_textbook_table() -> None:
    # Fleiss, Levin & Paik's style 2x2 example: 45 yes/yes, 15 yes/no, 25 no/yes, 15 no/no (n = 100):
    # p_o = 0.60, p_e = 0.6 * 0.7 + 0.4 * 0.3 = 0.54, kappa = 0.06 / 0.46.
    a = [1] * 60 + [0] * 40
    b = [1] * 45 + [0] * 15 + [1] * 25 + [0] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.06 / 0.46)


def test_bad_label_names_file_line_and_field(tmp_path: Path) -> None:
    file = tmp_path / "labels.jsonl"
    file.write_text(
        json.dumps({"id": "a", "prompt": "Q?", "output": "A.", "human_score": 1})
        + "\n"
        + json.dumps({"id": "b", "prompt": "Q?", "output": "A.", "human_score": 0.5})
        + "\n"
    )
    with pytest.raises(BadInput, match=r"labels\.jsonl:2: field human_score must be 1 \(good\) or 0 \(bad\)"):
        read_labels(file)


def test_hostile_labels_files_are_one_clear_line(tmp_path) -> None:
    import os

    import pytest

    from harness.evaluation.judge_agreement import read_labels
    from posttrain.errors import BadInput

    fifo = tmp_path / "labels.fifo"
    os.mkfifo(fifo)
    with pytest.raises(BadInput, match=r"labels\.fifo"):
        read_labels(fifo)  # refused by name: opening a FIFO would block forever
    deep = tmp_path / "deep.jsonl"
    deep.write_text("[" * 100_000 + "\n")
    with pytest.raises(BadInput, match=r"deep.jsonl:1: .*nesting too deep"):
        read_labels(deep)

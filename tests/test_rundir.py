"""The typed run directory: paths, loaders with the writers' models, damaged outputs as one line each,
and the spread across training seeds in the report (a synthetic run folder, no model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fixtures.report_run import build_run

from harness.report.collect import collect_run
from harness.report.render import render_html, render_markdown
from harness.runner.rundir import RunDir, SeedResults, StageOutputError


@pytest.fixture
def run(tmp_path: Path) -> RunDir:
    return RunDir(build_run(tmp_path / "exp"))


def test_loaders_read_each_stage_with_its_writers_model(run: RunDir) -> None:
    from harness.evaluation.runner import EvalSummary
    from harness.forgetting.schema import ForgettingResult
    from harness.training.callbacks import TrainSummary

    assert RunDir.find(run.root.parent.parent) == run  # an experiment folder resolves to runs/latest
    (run.train_root / "seed-1" / "sft").mkdir(parents=True)  # an extra seed is not a method
    assert [p.name for p in run.train_folders()] == ["sft"]
    assert run.train_dir("sft", seed=1) == run.train_root / "seed-1" / "sft"
    assert {(v, e) for v, e, _ in run.eval_folders()} == {
        (v, "support") for v in ("prompt", "kshot", "rag", "tuned", "tuned_rag")
    }
    summary = run.load_eval_summary(run.eval_dir("tuned", "support"))
    assert isinstance(summary, EvalSummary) and summary.n == 120
    rows = run.load_eval_rows(run.eval_dir("tuned", "support"))
    assert len(rows) == 120 and set(rows[0]["scores"]) == {"exact_match", "rouge_l"}
    forgetting = run.load_forgetting()
    assert isinstance(forgetting, ForgettingResult) and forgetting.overall is not None
    train = run.load_train_summary(run.train_dir("sft"))
    assert isinstance(train, TrainSummary) and train.tokens == 245760
    assert len(run.load_train_curve(run.train_dir("sft"))) == 60
    assert run.load_seeds() is None  # no extra seeds in this run


def test_each_damaged_output_is_one_line_naming_it_and_the_rest_is_reported(run: RunDir) -> None:
    forgetting = json.loads(run.forgetting_file.read_text())
    del forgetting["overall"]["delta"]
    run.forgetting_file.write_text(json.dumps(forgetting))
    summary = run.train_dir("sft") / "train_summary.json"
    summary.write_text(summary.read_text()[:40])  # truncated by a kill
    log = run.train_dir("sft") / "metrics.jsonl"
    log.write_text(log.read_text() + '{"step": "ten", "loss": 1}\n')
    run.seeds_file.parent.mkdir()
    run.seeds_file.write_text(json.dumps({"seeds": [0, 1], "evals": {"support": {"exact_match": [0.7]}}}))
    tuned = run.eval_dir("tuned", "support") / "summary.json"
    tuned.write_text(json.dumps({**json.loads(tuned.read_text()), "n": "many"}))

    data = collect_run(run.root)

    assert sorted(data.problems) == [  # one line each, naming the file (and line) and what is wrong
        f"{tuned}: n: Input should be a valid integer, unable to parse string as an integer (got 'many')",
        f"{run.forgetting_file}: overall.delta: Field required",
        f"{log}:61: training log: step must be an integer (got 'ten')",
        f"{summary}:4: training summary: not valid JSON: Unterminated string starting at (truncated or damaged?)",
        f"{run.seeds_file}: evals.support.exact_match: 1 scores for 2 seeds [0, 1]",
    ]
    # everything else is still there: the tuned variant re-summarised from its rows, training without cost
    tuned_row = next(v for v in data.variants if v.variant == "tuned")
    assert tuned_row.metrics["exact_match"].n == 120
    assert data.training[0].method == "sft" and data.training[0].wall_s is None and data.training[0].curve == []
    assert data.forgetting == [] and data.seeds == [] and data.decision is not None
    assert f"**Could not read:** {log}:61" in render_markdown(data)


def test_seed_results_are_checked_against_their_seeds(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="repeat a seed"):
        SeedResults(seeds=[3, 3], evals={})
    run = RunDir(tmp_path)
    run.seeds_file.parent.mkdir()
    run.seeds_file.write_text('{"seeds": [0, 1], "evals": {"qa": {"em": [0.5, 0.6]}}, "extra": 1}')
    with pytest.raises(StageOutputError, match=r"seeds\.json: extra: Extra inputs are not permitted"):
        run.load_seeds()


def test_the_spread_across_seeds_is_shown_beside_the_tuned_interval(run: RunDir) -> None:
    run.seeds_file.parent.mkdir()
    seeds = {
        "seeds": [0, 11, 12],
        "evals": {"support": {"exact_match": [0.70, 0.62, 0.66], "rouge_l": [0.8, 0.8, 0.8]}},
    }
    run.seeds_file.write_text(json.dumps(seeds))
    data = collect_run(run.root)
    spread = {s.metric: s for s in data.seeds}
    em = spread["exact_match"]
    assert (em.variant, em.seeds, em.n, em.low, em.high) == ("tuned", [0, 11, 12], 3, 0.62, 0.70)
    assert em.mean == pytest.approx(0.66) and em.sd == pytest.approx(0.04)
    assert spread["rouge_l"].sd == pytest.approx(0.0)
    markdown = render_markdown(data)
    tuned_line = next(line for line in markdown.splitlines() if line.startswith("| fine-tuning |"))
    assert "· 3 seeds: mean 0.660, 0.620–0.700, sd 0.040" in tuned_line
    assert "Training variance is part of the uncertainty" in markdown
    prompt_line = next(line for line in markdown.splitlines() if line.startswith("| prompting |"))
    assert "seeds" not in prompt_line
    html = render_html(data, plots={})
    assert "3 seeds: mean 0.660, 0.620–0.700, sd 0.040" in html and 'title="the variant retrained with 3 seeds' in html
    assert html.count("Training variance is part of the uncertainty") == 1

"""A run holds one experiment, and its report shows only what the current settings produced.

Stage outputs carry a stamp of the inputs that made them; the report and compare leave out any
whose stamp no longer matches the manifest and say so. A changed experiment starts a new run. A
damaged manifest or summary is one line naming the file, and the earlier run and report survive.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml

from harness.report.collect import collect_run
from harness.report.render import render_markdown, write_report
from harness.runner.manifest import hash_json, write_stamp

QUESTIONS = [("What colour is the sky?", "blue"), ("How many legs has a spider?", "8"), ("2 + 3?", "5")]
SUMS = [("Add 10 and 20.", "30"), ("Add 7 and 8.", "15"), ("Add 1 and 1.", "2")]
TRAIN = [("Which planet do we live on?", "Earth"), ("Opposite of hot?", "cold"), ("Days in a week?", "7")]


def _jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def write_experiment(root: Path, model: Path, name: str, train: bool, eval_set: str, few_shot: int = 1) -> None:
    """The cheapest real experiment: a tiny model, 3 eval rows, 4-token answers, baselines only.

    (Training and the stages after it are stamped the same way; tests/test_runner.py runs them.)
    """
    questions = QUESTIONS if eval_set == "qa" else SUMS
    _jsonl(
        root / "data" / f"{eval_set}.jsonl",
        [{"id": f"{eval_set}{i}", "prompt": q, "reference": a} for i, (q, a) in enumerate(questions)],
    )
    config: dict = {
        "name": name,
        "model": str(model),
        "methods": [],
        "baselines": {"few_shot": few_shot},
        "evals": [{"name": eval_set, "path": f"data/{eval_set}.jsonl", "metrics": ["contains"], "max_new_tokens": 4}],
        "forgetting": {"tasks": []},
    }
    if train:
        rows = [{"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]} for q, a in TRAIN]
        _jsonl(root / "data" / "train.jsonl", rows * 3)
        config["data"] = {"train": ["data/train.jsonl"]}
    (root / "experiment.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def test_a_changed_experiment_starts_a_new_run_and_each_report_holds_only_its_own(tmp_path, tiny_model_dir):
    from harness.runner.pipeline import run_experiment

    exp = tmp_path / "exp"
    write_experiment(exp, tiny_model_dir, "questions", train=True, eval_set="qa")
    first = run_experiment(exp, say=lambda _line: None)
    data = collect_run(first.run_dir)
    assert {v.variant for v in data.variants} == {"prompt", "kshot"} and data.stale == []

    # A setting within the same experiment: the same run; the k-shot results it no longer makes are left out.
    config = yaml.safe_load((exp / "experiment.yaml").read_text())
    config["baselines"]["few_shot"] = 0
    (exp / "experiment.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    again = run_experiment(exp, say=lambda _line: None)
    assert again.run_dir == first.run_dir
    assert {o.name: o.status for o in again.outcomes}["check"] == "skipped"
    data = collect_run(first.run_dir)
    assert {v.variant for v in data.variants} == {"prompt"}
    assert [s.split(":")[0] for s in data.stale] == ["eval/kshot/qa"]
    report_a = (first.run_dir / "report.md").read_text()
    assert "| few-shot prompting |" not in report_a and "| prompting |" in report_a
    assert "Left out as stale" in report_a and "eval/kshot/qa" in report_a

    # Another experiment in the same folder (name and data): a new run, the first left as it was.
    (exp / "data" / "train.jsonl").unlink()
    write_experiment(exp, tiny_model_dir, "sums", train=False, eval_set="sums", few_shot=3)
    lines: list[str] = []
    second = run_experiment(exp, say=lines.append)
    assert second.run_dir != first.run_dir
    assert (exp / "runs" / "latest").resolve() == second.run_dir
    assert any("new run" in line and first.run_dir.name in line for line in lines)
    assert (first.run_dir / "report.md").read_text() == report_a
    report_b = (second.run_dir / "report.md").read_text()
    assert "### sums" in report_b and "### qa" not in report_b and "| prompting |" in report_b
    assert "k-shot prompting: not run — no training data to draw examples from" in report_b
    assert any("k-shot prompting: not run" in line for line in lines)
    assert not (second.run_dir / "train").exists()
    assert "### sums" not in report_a


# ---- stale outputs, by hand: no model needed -------------------------------------------------------


def _results(folder: Path, scores: list[float]) -> None:
    rows = [
        {"id": f"q{i}", "prompt": f"q{i}?", "output": "x", "reference": "x", "scores": {"contains": s}}
        for i, s in enumerate(scores)
    ]
    _jsonl(folder / "results.jsonl", rows)


def build_stamped_run(root: Path) -> Path:
    """A run as `posttrain run` leaves it after a setting changed: one k-shot result from earlier settings."""
    run = root / "runs" / "r1"
    run.mkdir(parents=True)
    (root / "runs" / "latest").symlink_to("r1")
    (run / "config.yaml").write_text("name: stamped\nmethods: []\nevals:\n  - name: qa\n    metrics: [contains]\n")
    baselines = hash_json("baselines now")
    manifest = {
        "identity": {"name": "stamped", "hash": "x"},
        "stages": {"baselines": {"hash": baselines, "status": "done", "finished": 2.0}},
    }
    (run / "manifest.json").write_text(json.dumps(manifest))
    for variant, scores in (("prompt", [0, 1, 0, 1]), ("rag", [1, 1, 0, 1])):
        _results(run / "eval" / variant / "qa", scores)
        write_stamp(run / "eval" / variant / "qa", "baselines", baselines)
    _results(run / "eval" / "kshot" / "qa", [1, 1, 1, 1])  # earlier settings: would lead if it counted
    write_stamp(run / "eval" / "kshot" / "qa", "baselines", hash_json("baselines before"))
    _results(run / "eval" / "prompt" / "renamed", [1, 1, 1, 1])  # an eval set since renamed: no stamp at all
    return run


def test_report_and_compare_leave_out_stale_outputs_and_list_them(tmp_path, cli, capsys):
    run = build_stamped_run(tmp_path / "exp")
    data = collect_run(run)
    assert {(v.eval_set, v.variant) for v in data.variants} == {("qa", "prompt"), ("qa", "rag")}
    assert sorted(s.split(":")[0] for s in data.stale) == ["eval/kshot/qa", "eval/prompt/renamed"]
    assert any("earlier baselines stage" in s for s in data.stale)
    assert "Left out as stale" in render_markdown(data) and "few-shot" not in data.verdict.sentence
    code, out, _ = cli("compare", str(run), str(run), capsys=capsys)
    assert code == 0 and "left out as stale" in out and "eval/kshot/qa" in out
    code, out, _ = cli("compare", str(run), str(run), "--json", capsys=capsys)
    assert {r["variant"] for r in json.loads(out)["rows"]} == {"prompt", "rag"}

    # A stage that has not finished (killed mid-way) makes none of its outputs current.
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["stages"]["baselines"]["status"] = "running"
    (run / "manifest.json").write_text(json.dumps(manifest))
    code, _, err = cli("report", str(run), capsys=capsys)
    assert code == 2 and "stale" in err and len(err.strip().splitlines()) == 1


def test_damaged_manifest_is_one_line_naming_it_and_nothing_is_touched(tmp_path, cli, capsys):
    exp = tmp_path / "exp"
    run = build_stamped_run(exp)
    (exp / "data").mkdir()
    (exp / "data" / "qa.jsonl").write_text('{"prompt": "q", "reference": "a"}\n')
    (exp / "experiment.yaml").write_text(
        "name: stamped\nmethods: []\nevals:\n  - name: qa\n    path: data/qa.jsonl\n    metrics: [contains]\n"
    )
    write_report(run)
    report = (run / "report.html").read_bytes()
    manifest = run / "manifest.json"
    manifest.write_text(manifest.read_text()[:25])  # truncated by a full disk or a kill
    for args in (("run", str(exp)), ("report", str(run))):
        code, _, err = cli(*args, capsys=capsys)
        assert code == 2, args
        assert str(manifest) in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in (exp / "runs").iterdir()) == ["latest", "r1"]  # no run started
    assert (run / "report.html").read_bytes() == report


def test_nan_in_a_summary_is_skipped_and_a_truncated_summary_is_one_line(tmp_path, cli, capsys):
    from harness.report.plots import all_plots

    run = build_stamped_run(tmp_path / "exp")
    summary = {  # an EvalSummary as evaluation.runner writes it, with a metric that had no finite value
        "variant": "rag", "model": "m", "adapter": None, "eval_set": "qa", "latency_s_mean": None, "n": 4,
        "cache_key": "k", "wall_s": 1.0,
        "metrics": {"contains": {"mean": math.nan, "ci95": [math.nan, math.inf], "n": 4}},
    }  # fmt: skip
    (run / "eval" / "rag" / "qa" / "summary.json").write_text(json.dumps(summary))  # NaN is what json writes
    rows = (run / "eval" / "prompt" / "qa" / "results.jsonl").read_text().replace('"contains": 0', '"contains": NaN', 1)
    (run / "eval" / "prompt" / "qa" / "results.jsonl").write_text(rows)
    data = collect_run(run)
    cells = {v.variant: v.metrics["contains"] for v in data.variants}
    assert cells["rag"].mean == pytest.approx(0.75)  # the NaN summary is re-summarised from its rows
    assert cells["prompt"].n == 3  # the NaN row counts as not scored
    assert all(math.isfinite(c.mean) for c in cells.values())
    data.variants[0].metrics["contains"].mean = math.nan  # and a NaN that reaches the figures is left out
    assert "variants:qa" in all_plots(data)
    code, _, err = cli("report", str(run), capsys=capsys)
    assert code == 0, err
    before = (run / "report.html").read_bytes()
    broken = run / "eval" / "rag" / "qa" / "summary.json"
    broken.write_text('{"metrics": {"contains": {"mean": 0.')
    code, _, err = cli("report", str(run), capsys=capsys)
    # named in one line, exit 2; the good report is kept, the partial one (rows re-summarised) goes beside it
    assert code == 2 and f"{broken}:1: eval summary: not valid JSON" in err and len(err.strip().splitlines()) == 1
    rag = next(v for v in collect_run(run).variants if v.variant == "rag")
    assert (run / "report.html").read_bytes() == before and rag.metrics["contains"].n == 4
    assert (run / "report.partial.html").is_file()


def test_a_stage_left_out_by_only_whose_inputs_changed_stops_counting_as_done(tmp_path):
    from harness.runner.manifest import Manifest
    from harness.runner.pipeline import run_experiment
    from posttrain.errors import BadInput

    exp = tmp_path / "exp"
    write_experiment(exp, tmp_path / "no-model-is-loaded", "questions", train=False, eval_set="qa")
    with pytest.raises(BadInput, match="needs baselines first"):
        run_experiment(exp, only=["report"], say=lambda _line: None)
    run = (exp / "runs" / "latest").resolve()
    manifest = Manifest(run)
    manifest.mark("baselines", "settings-of-before", "done")  # as if the eval settings changed since
    lines: list[str] = []
    with pytest.raises(BadInput, match="needs baselines first"):
        run_experiment(exp, only=["report"], say=lines.append)
    assert Manifest(run).stages["baselines"]["status"] == "outdated"
    assert any("baselines" in line and "left out until it reruns" in line for line in lines)

"""The whole loop on the real default model: a shortened `posttrain demo` (few steps, few rows)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from harness.runner.demo import default_demo_dir, example_names, prepare_demo
from posttrain.errors import BadInput


def test_every_shipped_example_has_answers_and_a_valid_experiment(tmp_path):
    from harness.config import load_config

    assert {"support-assistant", "arithmetic", "persona"} <= set(example_names())
    for name in example_names():
        advice, exp = prepare_demo(name, tmp_path / name, quick=True)
        config = load_config(exp)
        assert config.advised is not None and config.advised.primary == advice.recommendation.primary
        assert config.training.max_steps == 4 and all(e.limit == 8 for e in config.evals)
        assert (exp / "README.md").is_file() and (exp / "Makefile").is_file()  # the real scaffold


def test_unknown_example_is_one_clear_line(cli, capsys):
    code, _, err = cli("demo", "--example", "nope", capsys=capsys)
    assert code == 2
    assert "no such example" in err and "support-assistant" in err


@pytest.mark.slow
def test_quick_demo_runs_every_stage_and_reruns_for_free(tmp_path, default_model_dir, cli, capsys, monkeypatch):
    """Every stage on the real model, shrunk below --quick (the loop is checked here, not the numbers):
    2 steps, 4 rows of ≤ 16 new tokens per eval set, 6 forgetting items; the slowest test of the suite."""
    from harness.runner import demo

    quick = demo.quick_overrides

    def cheaper(config):
        config = quick(config)
        config["training"]["max_steps"] = config["training"]["save_steps"] = 2
        for spec in config["evals"]:
            spec["limit"], spec["max_new_tokens"] = 4, 16
        config["forgetting"]["limit"] = 6
        return config

    monkeypatch.setattr(demo, "quick_overrides", cheaper)
    target = tmp_path / "demo"
    code, out, err = cli("demo", "--quick", "--dir", str(target), capsys=capsys)
    assert code == 0, err
    assert "Plan: RAG → SFT ★" in out and "verdict" in out  # the advice's headline: the plan, SFT leading
    run_dir = (target / "runs" / "latest").resolve()
    manifest = json.loads((run_dir / "manifest.json").read_text())["stages"]
    assert {name: entry["status"] for name, entry in manifest.items()} == dict.fromkeys(
        ["check", "baselines", "train", "tuned", "forgetting", "report"], "done"
    )
    assert all(entry["cpu_s"] > 0 for entry in manifest.values())  # the demo prints what each stage cost
    assert "stages: check " in out and "s CPU)" in out
    assert "\r" not in out + err and "it/s]" not in err  # captured output is not a terminal: no bars
    for variant in ("prompt", "kshot", "rag", "tuned", "tuned_rag"):
        summary = json.loads((run_dir / "eval" / variant / "format" / "summary.json").read_text())
        assert summary["n"] == 4
    html = (run_dir / "report.html").read_text()
    assert "fine-tuning + RAG" in html and "General skills" in html
    assert (run_dir / "verdict.txt").read_text().strip()
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["advised"]["primary"] == "sft"

    code, out, _ = cli("run", str(target), "--json", capsys=capsys)
    assert code == 0
    assert {s["status"] for s in json.loads(out)["stages"]} == {"skipped"}


def test_a_demo_never_writes_over_another_examples_folder(tmp_path, cli, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert default_demo_dir("support-assistant") == Path("posttrain-demo")  # the README's path stays
    assert default_demo_dir("arithmetic") != default_demo_dir("persona") != Path("posttrain-demo")
    prepare_demo("support-assistant", Path("posttrain-demo"), quick=True)
    before = snapshot(tmp_path / "posttrain-demo")
    code, _, err = cli("demo", "--example", "arithmetic", "--dir", "posttrain-demo", capsys=capsys)
    assert code == 2 and "holds the support-assistant demo" in err and "posttrain-demo-arithmetic" in err
    assert snapshot(tmp_path / "posttrain-demo") == before
    # A folder with someone's own experiment is refused the same way.
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "experiment.yaml").write_text("name: mine\n")
    with pytest.raises(BadInput, match="experiment 'mine'"):
        prepare_demo("persona", tmp_path / "mine")
    assert (tmp_path / "mine" / "experiment.yaml").read_text() == "name: mine\n"
    # The same example again reuses its folder; an edited config is backed up, an edited data file kept.
    config = tmp_path / "posttrain-demo" / "experiment.yaml"
    config.write_text(config.read_text() + "# mine\n")
    (tmp_path / "posttrain-demo" / "eval.jsonl").write_text('{"prompt": "my own", "reference": "row"}\n')
    lines: list[str] = []
    prepare_demo("support-assistant", Path("posttrain-demo"), quick=True, say=lines.append)
    assert any("moved your edited experiment.yaml to .posttrain/backup-" in line for line in lines)
    assert any("kept your eval.jsonl" in line for line in lines)
    assert (tmp_path / "posttrain-demo" / "eval.jsonl").read_text().startswith('{"prompt": "my own"')


def test_two_demos_from_one_folder_never_mix_their_reports(tmp_path, tiny_model_dir, cli, capsys, monkeypatch):
    """The issue's case: a second example run where the first ran, through `posttrain demo` itself.

    Cheapest settings: the tiny model, baselines only, 2 rows of 4 tokens (the stamps of training and
    the stages after it are checked by the full demo test above and tests/test_runner.py).
    """
    from harness.runner import demo

    quick = demo.quick_overrides

    def cheapest(config):
        config = quick(config)
        config["methods"] = []
        config["data"].pop("knowledge", None)
        for spec in config["evals"]:
            spec["limit"], spec["max_new_tokens"] = 2, 4
        config["forgetting"]["tasks"] = []
        return config

    monkeypatch.setattr(demo, "quick_overrides", cheapest)
    monkeypatch.chdir(tmp_path)
    model = str(tiny_model_dir)
    code, _, err = cli("demo", "--quick", "--model", model, capsys=capsys)
    assert code == 0, err
    support_report = tmp_path / "posttrain-demo" / "runs" / "latest" / "report.md"
    support = support_report.read_text()
    before = snapshot(tmp_path / "posttrain-demo")
    code, _, err = cli(
        "demo", "--example", "persona", "--quick", "--model", model, "--dir", "posttrain-demo", capsys=capsys
    )
    assert code == 2 and "holds the support-assistant demo" in err
    assert snapshot(tmp_path / "posttrain-demo") == before
    code, _, err = cli("demo", "--example", "persona", "--quick", "--model", model, capsys=capsys)
    assert code == 0, err
    persona = (tmp_path / "posttrain-demo-persona" / "runs" / "latest" / "report.md").read_text()
    assert "# Report: support-assistant" in support and "# Report: persona" in persona
    assert "### format" in support and "### facts" in support and "### persona" not in support
    assert "### persona" in persona and "### format" not in persona and "### facts" not in persona
    assert support_report.read_text() == support


def snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}

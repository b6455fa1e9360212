"""The whole loop on the real default model: a shortened `posttrain demo` (few steps, few rows)."""

from __future__ import annotations

import json

import pytest
import yaml

from harness.runner.demo import example_names, prepare_demo


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
def test_quick_demo_runs_every_stage_and_reruns_for_free(tmp_path, default_model_dir, cli, capsys):
    target = tmp_path / "demo"
    code, out, err = cli("demo", "--quick", "--dir", str(target), capsys=capsys)
    assert code == 0, err
    assert "Recommendation: SFT" in out and "verdict" in out
    run_dir = (target / "runs" / "latest").resolve()
    manifest = json.loads((run_dir / "manifest.json").read_text())["stages"]
    assert {name: entry["status"] for name, entry in manifest.items()} == dict.fromkeys(
        ["check", "baselines", "train", "tuned", "forgetting", "report"], "done"
    )
    for variant in ("prompt", "kshot", "rag", "tuned", "tuned_rag"):
        summary = json.loads((run_dir / "eval" / variant / "format" / "summary.json").read_text())
        assert summary["n"] == 8
    html = (run_dir / "report.html").read_text()
    assert "fine-tuning + RAG" in html and "General skills" in html
    assert (run_dir / "verdict.txt").read_text().strip()
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["advised"]["primary"] == "sft"

    code, out, _ = cli("run", str(target), "--json", capsys=capsys)
    assert code == 0
    assert {s["status"] for s in json.loads(out)["stages"]} == {"skipped"}

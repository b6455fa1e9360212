"""One resolver: `posttrain run`, `posttrain train --config` and `run --dry-run` make the same train requests.

Training itself is replaced by a recorder (nothing is trained); the tiny random model stands in for the
check stage and the dry run's estimates.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
PERSONA, ARITH = REPO / "examples" / "persona", REPO / "examples" / "arithmetic"


def _experiment(root: Path, model: Path, methods: list[str], **extra: Any) -> Path:
    root.mkdir(parents=True)
    for source in (
        PERSONA / "sft.jsonl",
        PERSONA / "preference.jsonl",
        ARITH / "prompts.jsonl",
        PERSONA / "eval.jsonl",
    ):
        shutil.copy(source, root / source.name)
    config = {
        "name": "resolver",
        "model": str(model),
        "methods": methods,
        "training": {"max_steps": 2, "batch_size": 4, "max_length": 64, "seeds": [7], "readiness_min_pass": 0},
        "data": {"train": ["sft.jsonl"], "preference": "preference.jsonl", "prompts": "prompts.jsonl"},
        "evals": [{"name": "persona", "path": "eval.jsonl", "metrics": ["contains"], "max_new_tokens": 4}],
        "baselines": {"few_shot": 0},
        **extra,
    }
    (root / "experiment.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return root


class Recorder:
    """Stands in for harness.training.stage.train: records each request, writes an adapter marker."""

    def __init__(self) -> None:
        self.requests: list[Any] = []

    def __call__(self, request: Any) -> Any:
        self.requests.append(request)
        out = Path(request.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "adapter_config.json").write_text("{}")
        return SimpleNamespace(line=lambda: f"{request.method}: recorded", model_dump_json=lambda indent=2: "{}")

    def plan(self) -> list[tuple[str, str, str | None, str]]:
        return [(r.method, r.out, r.adapter, r.fingerprint()) for r in self.requests]


def _three_ways(exp: Path, monkeypatch, cli, capsys) -> tuple[list, list, list, Path]:
    from harness.runner.pipeline import run_experiment

    recorder = Recorder()
    monkeypatch.setattr("harness.training.stage.train", recorder)
    run_experiment(exp, only=["check", "train"], say=lambda line: None)
    by_run = recorder.plan()
    run_dir = (exp / "runs" / "latest").resolve()
    recorder.requests.clear()
    code, _, err = cli("train", "--config", str(exp), "--out", str(run_dir / "train"), capsys=capsys)
    assert code == 0, err
    by_train = recorder.plan()
    code, out, err = cli("run", str(exp), "--dry-run", "--json", capsys=capsys)
    assert code == 0, err
    by_dry_run = [(p["method"], p["out"], p["adapter"], p["fingerprint"]) for p in json.loads(out)["plan"]]
    return by_run, by_train, by_dry_run, run_dir / "train"


def test_sft_then_dpo_with_a_seed_is_the_same_plan_three_ways(tiny_model_dir, tmp_path, monkeypatch, cli, capsys):
    exp = _experiment(tmp_path / "exp", tiny_model_dir, ["sft", "dpo"], dpo={"beta": 0.2, "learning_rate": 5e-5})
    by_run, by_train, by_dry_run, train = _three_ways(exp, monkeypatch, cli, capsys)
    assert by_run == by_train == by_dry_run
    assert [(m, o, a) for m, o, a, _ in by_run] == [
        ("sft", str(train / "sft"), None),
        ("dpo", str(train / "dpo"), str(train / "sft")),  # DPO starts from the SFT adapter
        ("sft", str(train / "seed-7" / "sft"), None),
        ("dpo", str(train / "seed-7" / "dpo"), str(train / "seed-7" / "sft")),  # chained within the seed
    ]
    assert len({f for *_, f in by_run}) == 4  # another seed is another run


def test_reward_then_grpo_scores_with_the_plans_reward_model(tiny_model_dir, tmp_path, monkeypatch, cli, capsys):
    exp = _experiment(
        tmp_path / "exp", tiny_model_dir, ["reward", "grpo"], rewards=[{"name": "reward_model"}],
        grpo={"num_generations": 2, "temperature": 0.9},
    )  # fmt: skip
    by_run, by_train, by_dry_run, train = _three_ways(exp, monkeypatch, cli, capsys)
    assert by_run == by_train == by_dry_run
    from harness.config import load_config
    from harness.training.resolve import resolve_requests

    grpo = [r for r in resolve_requests(load_config(exp), exp.resolve(), train) if r.method == "grpo"]
    assert [r.rewards[0].name for r in grpo] == [
        f"learned:{train / 'reward'}",
        f"learned:{train / 'seed-7' / 'reward'}",
    ]
    assert grpo[0].adapter is None  # a reward model is no policy: GRPO starts from the base model
    assert (grpo[0].grpo.num_generations, grpo[0].grpo.temperature, grpo[1].training.seed) == (2, 0.9, 7)


def test_train_flags_come_from_the_schema_and_reach_the_request(tmp_path, cli, capsys, monkeypatch) -> None:
    from harness.training.resolve import build_request

    base = build_request(method="dpo", out="o", data=["p.jsonl"])
    beta = build_request(method="dpo", out="o", data=["p.jsonl"], dpo_beta=0.3)
    assert (base.dpo.beta, beta.dpo.beta) == (0.1, 0.3) and base.fingerprint() != beta.fingerprint()
    grpo = build_request(method="grpo", out="o", data=["p.jsonl"], temperature=1.1, num_generations=8)
    assert (grpo.grpo.temperature, grpo.grpo.num_generations) == (1.1, 8)
    monkeypatch.setenv("COLUMNS", "240")  # rich shortens long flag names to fit the terminal
    code, shown, _ = cli("train", "--help", capsys=capsys)
    for flag in ("--dpo-beta", "--num-generations", "--temperature", "--kto-beta", "--normalize-advantages"):
        assert flag in shown, flag
    assert "Sampling temperature of the completions. (experiment.yaml: grpo.temperature, rloo.temperature)" in shown
    data = tmp_path / "d.jsonl"
    shutil.copy(PERSONA / "sft.jsonl", data)
    code, _, err = cli("train", "--method", "sft", "--data", str(data), "--out", str(tmp_path / "o"),
                       "--num-generations", "4", capsys=capsys)  # fmt: skip
    assert code == 2 and "--num-generations: sets grpo.num_generations, rloo.num_generations; --method sft" in err
    code, _, err = cli("train", "--method", "grpo", "--data", str(data), "--out", str(tmp_path / "o"),
                       "--temperature", "0", capsys=capsys)  # fmt: skip
    assert code == 2 and "--temperature: Input should be greater than 0 (got 0.0)" in err


def test_dpo_alone_from_a_config_needs_the_sft_adapter_first(tiny_model_dir, tmp_path, cli, capsys) -> None:
    exp = _experiment(tmp_path / "exp", tiny_model_dir, ["sft", "dpo"])
    out = tmp_path / "out"
    code, _, err = cli("train", "--config", str(exp), "--method", "dpo", "--out", str(out), capsys=capsys)
    assert code == 2 and f"--method dpo starts from {out / 'sft'}, which holds no adapter yet" in " ".join(err.split())
    assert not out.exists()


def test_seeds_are_distinct_and_only_for_plans_trained_here(tmp_path) -> None:
    from harness.config import parse_config
    from posttrain.errors import BadInput

    base = "name: x\nevals: [{path: e}]\n"
    with pytest.raises(BadInput, match=r"x.yaml:4: training.seeds.0: seed 42 is the main run's training.seed"):
        parse_config(base + "training:\n  seeds: [42, 1]\n", "x.yaml")
    with pytest.raises(BadInput, match=r"training.seeds: seeds repeat training here; external is trained elsewhere"):
        parse_config(base + "methods: [external]\nexternal: {path: m}\ntraining: {seeds: [1]}\n", "x.yaml")


def test_tuned_stage_scores_every_seeds_adapter_into_seeds_json(tiny_model_dir, tmp_path, monkeypatch) -> None:
    from harness.config import load_config
    from harness.evaluation.runner import MetricSummary
    from harness.runner import stages
    from harness.runner.context import RunContext
    from harness.runner.manifest import Manifest

    exp = _experiment(tmp_path / "exp", tiny_model_dir, ["sft", "dpo"], training={"seed": 3, "seeds": [7, 9]})
    run_dir = exp / "runs" / "r1"
    run_dir.mkdir(parents=True)
    asked: list[Any] = []
    scores = iter([0.5, 0.25, 0.75])  # main, seed 7, seed 9

    def evaluate(request: Any) -> Any:
        asked.append(request)
        return SimpleNamespace(metrics={"contains": MetricSummary(mean=next(scores), ci95=(0.0, 1.0), n=4)})

    monkeypatch.setattr("harness.evaluation.runner.evaluate", evaluate)
    ctx = RunContext(exp.resolve(), load_config(exp), run_dir, Manifest(run_dir), say=lambda line: None)
    stages.run_tuned(ctx)
    assert [r.adapter for r in asked] == [str(run_dir / "train" / "dpo")] + [
        str(run_dir / "train" / f"seed-{s}" / "dpo") for s in (7, 9)
    ]
    assert {r.variant for r in asked} == {"tuned"} and all("rag" not in str(r.out) for r in asked)
    assert asked[1].out == str(run_dir / "tuned" / "seed-7" / "tuned" / "persona")
    record = json.loads((run_dir / "tuned" / "seeds.json").read_text())
    assert record == {"seeds": [3, 7, 9], "evals": {"persona": {"contains": [0.5, 0.25, 0.75]}}}
    # the stage hashes cover the seeds: one more seed reruns train and tuned
    more = ctx.config.model_copy(update={"training": ctx.config.training.model_copy(update={"seeds": [7, 9, 11]})})
    other = RunContext(exp.resolve(), more, run_dir, Manifest(run_dir))
    for stage in ("train", "tuned"):
        inputs = stages.stage_named(stage).inputs
        assert inputs(ctx) != inputs(other), stage

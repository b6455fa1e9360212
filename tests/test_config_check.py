"""``posttrain config check`` finds what ``posttrain run`` would refuse, in seconds, as file:line messages."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.scaffold.plan import plan_from_flags
from harness.scaffold.render import new_experiment


@pytest.fixture
def experiment(tmp_path: Path) -> Path:
    target = tmp_path / "exp"
    new_experiment(target, plan_from_flags("exp", "rag+sft"))
    return target


def _edit(exp: Path, change: Any) -> Path:
    file = exp / "experiment.yaml"
    config = yaml.safe_load(file.read_text())
    change(config)
    file.write_text(yaml.safe_dump(config, sort_keys=False))
    return file


def _jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path.name


def _check(cli, capsys, exp: Path, *flags: str) -> tuple[int, str, str]:
    start = time.perf_counter()
    code, out, err = cli("config", "check", str(exp / "experiment.yaml"), *flags, capsys=capsys)
    assert time.perf_counter() - start < 10  # seconds, not a run
    assert "Traceback" not in err
    return code, out, " ".join(err.split())


def test_a_fresh_scaffold_passes_and_lists_each_file_checked(experiment, cli, capsys):
    code, out, err = _check(cli, capsys, experiment)
    assert code == 0 and out.startswith("ok:"), err
    assert "checked train.jsonl (sft)" in err and "checked eval.jsonl (eval)" in err


def test_eval_rows_without_the_fields_their_metrics_need(experiment, cli, capsys):
    name = _jsonl(experiment / "data" / "noref.jsonl", [{"prompt": "2+2?"}, {"prompt": "3+3?", "reference": "6"}])

    def point(config: dict) -> None:
        config["evals"] = [{"name": "e", "path": f"data/{name}", "metrics": ["exact_match", "unit_tests"]}]

    file = _edit(experiment, point)
    code, _, err = _check(cli, capsys, experiment)
    assert code == 2
    assert 'data/noref.jsonl:1: missing field "reference"' in err
    assert "metric 'unit_tests' needs field 'tests', missing in 2 of 2 rows" in err
    assert f"{file}:" in err and "evals.0.metrics" in err


def test_training_file_in_the_wrong_format_for_its_stage(experiment, cli, capsys):
    name = _jsonl(experiment / "data" / "pairs.jsonl", [{"prompt": "q", "chosen": "a", "rejected": "b"}])
    _edit(experiment, lambda c: c["data"].update(train=[f"data/{name}"]))
    code, _, err = _check(cli, capsys, experiment)
    assert code == 2 and "data.train.0.path" in err and "--kind sft expects messages or prompt_completion" in err


def test_the_makefile_checks_the_paths_experiment_yaml_names(experiment, cli, capsys):
    makefile = (experiment / "Makefile").read_text()
    check_target = makefile.split("\ncheck:\n", 1)[1].split("\n\n", 1)[0]
    assert "config check experiment.yaml" in check_target and "data/train.jsonl" not in check_target
    broken = _jsonl(experiment / "data" / "mine.jsonl", [{"messages": [{"role": "user", "content": "hi"}]}])
    _edit(experiment, lambda c: c["data"].update(train=[f"data/{broken}"]))
    code, _, err = _check(cli, capsys, experiment)  # the user's new file is what gets checked
    assert code == 2 and "data/mine.jsonl:1: messages: an SFT conversation must end with an assistant turn" in err


def test_model_availability_without_downloading(experiment, cli, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _edit(experiment, lambda c: c.update(model="nobody-org/no-such-model-xyz"))
    code, _, err = _check(cli, capsys, experiment)
    assert code == 2 and "model: nobody-org/no-such-model-xyz: not in the local Hugging Face cache" in err
    empty = tmp_path / "not-a-model"
    empty.mkdir()
    _edit(experiment, lambda c: c.update(model=str(empty)))
    code, _, err = _check(cli, capsys, experiment)
    assert code == 2 and "has no config.json" in err


def test_knowledge_folder_missing_or_empty(experiment, cli, capsys):
    _edit(experiment, lambda c: c["data"].update(knowledge="docs-gone"))
    code, _, err = _check(cli, capsys, experiment)
    assert code == 2 and "data.knowledge: no such file or folder of knowledge documents" in err
    (experiment / "empty-docs").mkdir()
    _edit(experiment, lambda c: c["data"].update(knowledge="empty-docs"))
    code, _, err = _check(cli, capsys, experiment)
    assert code == 2 and "data.knowledge" in err and "holds no documents" in err


def test_hostile_paths_fifo_device_and_outside_the_folder(experiment, cli, capsys, tmp_path):
    os.mkfifo(experiment / "data" / "pipe.jsonl")
    (experiment / "data" / "zero.jsonl").symlink_to("/dev/zero")
    outside = tmp_path / "elsewhere.jsonl"
    _jsonl(outside, [{"prompt": "q", "completion": "a"}])
    (experiment / "data" / "linked.jsonl").symlink_to(outside)  # a link placed inside is the user's choice
    paths = ["data/pipe.jsonl", "data/zero.jsonl", "../elsewhere.jsonl", "/etc/hostname", "data/linked.jsonl"]
    os.mkfifo(experiment / "launch.yaml")

    def point(config: dict) -> None:
        config["data"]["train"] = paths
        config["compute"].update(launcher="accelerate", accelerate_config="launch.yaml")

    _edit(experiment, point)
    code, _, err = _check(cli, capsys, experiment)
    assert code == 2
    assert "data.train.0.path: data/pipe.jsonl: is a FIFO" in err
    assert "data.train.1.path: data/zero.jsonl: is a device" in err
    assert "data.train.2.path: ../elsewhere.jsonl lies outside the experiment folder" in err
    assert "data.train.3.path: /etc/hostname lies outside the experiment folder" in err
    assert "data.train.4.path" not in err
    assert "compute.accelerate_config: launch.yaml: is a FIFO" in err


def test_warnings_fail_only_with_strict_and_eval_references_are_not_short(experiment, cli, capsys):
    rows = [{"prompt": f"What is {i}+{i}?", "reference": str(2 * i)} for i in range(6)]
    name = _jsonl(experiment / "data" / "short_refs.jsonl", rows)
    _edit(experiment, lambda c: c["evals"][0].update(path=f"data/{name}"))
    code, _, err = _check(cli, capsys, experiment)
    assert code == 0 and "response_length" not in err  # "4" is what an eval reference looks like
    train = experiment / "data" / "train.jsonl"
    train.write_text(train.read_text() + train.read_text().splitlines()[0] + "\n")  # an exact duplicate
    code, _, err = _check(cli, capsys, experiment, "--strict")
    assert code == 1 and "duplicate 1" in err

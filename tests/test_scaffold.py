"""`posttrain new`: every method's scaffold parses and validates; user text stays data; no secrets; DIR rules."""

from __future__ import annotations

import ast
import doctest
import importlib.util
import io
import json
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.config import load_config, missing_files
from harness.scaffold.advice import AdviceFile
from harness.scaffold.plan import plan_from_advice, plan_from_flags
from harness.scaffold.render import new_experiment, render_scaffold

METHODS = ["prompting", "rag", "sft", "dpo", "kto", "sft+dpo", "rag+sft", "grpo", "rloo", "reward+grpo", "reward+ppo"]
ACCELERATE = ["single_gpu", "ddp", "fsdp", "deepspeed_zero2", "deepspeed_zero3"]


def make_advice(primary: str, plan: list[str], **extra: Any) -> dict[str, Any]:
    """An advice.json in the shape interfaces.md fixes (what `posttrain advise --out` writes)."""
    reasons = [{"rule": "r1", "text": f"{primary} fits: the same corrections recur.", "answers": ["goals"]}]
    recommendation = {
        "primary": primary,
        "plan": plan,
        "ranking": [{"approach": primary, "score": 7.5, "reasons": reasons}],
        "cautions": [{"kind": "forgetting", "text": "Watch general skills; replay general data."}],
        "next_steps": ["Collect 200 eval examples."],
        "counterfactuals": [],
        "rl": {"algorithm": "grpo", "reward": "verifiable"} if "rl" in plan else None,
        "sft_data_strategy": "expert_writing" if "sft" in plan else None,
    }
    recommendation.update(extra)
    answers = {"goals": ["format"], "compute": "cpu", "forgetting_tolerance": "low", "sft_examples": 500}
    return {"posttrain_version": "0.1.0", "answers": answers, "recommendation": recommendation}


def check_every_file(root: Path) -> dict[str, Any]:
    """Parse each generated file by its type; return parsed YAML files by relative path."""
    parsed: dict[str, Any] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = path.relative_to(root).as_posix()
        text = path.read_text(encoding="utf-8")
        if path.suffix in (".yaml", ".yml"):
            parsed[relative] = yaml.safe_load(text)
        elif path.suffix == ".toml":
            tomllib.loads(text)
        elif path.suffix == ".py":
            compile(ast.parse(text, filename=relative), relative, "exec")
        elif path.suffix == ".json":
            json.loads(text)
        elif path.suffix == ".jsonl":
            rows = [json.loads(line) for line in text.splitlines()]
            assert 20 <= len(rows) <= 40, relative
    return parsed


@pytest.mark.parametrize("method", METHODS)
def test_every_method_scaffold_parses_and_validates(method: str, tmp_path: Path) -> None:
    target = tmp_path / "exp"
    files = new_experiment(target, plan_from_flags("exp", method))
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()) == sorted(files)
    parsed = check_every_file(target)
    config = load_config(target)
    assert missing_files(config, target / "experiment.yaml") == []
    planned = [m for m in method.split("+") if m not in ("rag", "prompting")]
    assert config.methods == planned
    assert (config.data.knowledge is not None) == ("rag" in method)
    assert ("rewards.py" in files) == ("grpo" in method or "rloo" in method)
    assert {f"accelerate/{name}.yaml" for name in ACCELERATE} <= set(parsed)
    makefile = (target / "Makefile").read_text()
    for target_name in ("check:", "baseline:", "train:", "report:", "all:"):
        assert f"\n{target_name}\n\t" in makefile
    assert "$(POSTTRAIN) run --only baselines" in makefile and "$(POSTTRAIN) report runs/latest" in makefile
    yaml_text = (target / "experiment.yaml").read_text()
    assert "× 256 = 2,048 tokens per step" in yaml_text  # the CPU defaults' arithmetic: 4 × 2 × 256


@pytest.mark.parametrize("method", ["rag+sft+dpo", "reward+grpo"])
def test_starter_data_passes_the_data_layer(method: str, tmp_path: Path) -> None:
    from harness.data.formats import load_dataset

    new_experiment(tmp_path / "exp", plan_from_flags("exp", method))
    config = load_config(tmp_path / "exp")
    checked = {
        config.data.train[0].path: "sft",
        config.data.preference: "dpo",
        config.data.prompts: "rl",
        **{e.path: "eval" for e in config.evals},
    }
    for path, kind in checked.items():
        if path is not None:
            assert len(load_dataset(tmp_path / "exp" / path, kind)) >= 20, path


def test_gpu_defaults_quote_their_arithmetic() -> None:
    files = render_scaffold(plan_from_flags("exp", "sft", compute="gpu_80gb"))
    assert "8 × 4 × 512 = 16,384 tokens per step" in files["experiment.yaml"]


def test_accelerate_configs_load_with_accelerate(tmp_path: Path) -> None:
    from accelerate.commands.config.config_args import ClusterConfig

    new_experiment(tmp_path / "exp", plan_from_flags("exp", "sft"))
    kinds = {}
    for name in ACCELERATE:
        config = ClusterConfig.from_yaml_file(str(tmp_path / "exp" / "accelerate" / f"{name}.yaml"))
        kinds[name] = str(config.distributed_type.value)
    assert kinds == {
        "single_gpu": "NO",
        "ddp": "MULTI_GPU",
        "fsdp": "FSDP",
        "deepspeed_zero2": "DEEPSPEED",
        "deepspeed_zero3": "DEEPSPEED",
    }


def test_rewards_py_is_standalone_and_its_doctests_pass(tmp_path: Path) -> None:
    new_experiment(tmp_path / "exp", plan_from_flags("exp", "grpo"))
    rewards = tmp_path / "exp" / "rewards.py"
    # Isolated interpreter (-I, -S: no site-packages, so no posttrain): the file needs only the standard library.
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-m", "doctest", "-v", str(rewards)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    assert "0 failed" in done.stdout
    spec = importlib.util.spec_from_file_location("scaffold_rewards", rewards)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    # TRL's call: completions plus every dataset column as keyword lists.
    completions = [
        [{"role": "assistant", "content": "3 × 4 = 12.\nAnswer: 12"}],
        [{"role": "assistant", "content": "13"}],
    ]
    assert module.numeric_answer(completions, answer=["12", "12"], prompts=["p", "p"]) == [1.0, 0.0]
    assert module.answer_line(completions, answer=["12", "12"]) == [1.0, 0.0]
    assert doctest.testmod(module).failed == 0


def test_advice_drives_plan_readme_and_copies(tmp_path: Path) -> None:
    advice = make_advice("rag", ["rag", "sft"])
    target = tmp_path / "exp"
    new_experiment(target, plan_from_advice(AdviceFile.model_validate(advice), "exp"))
    config = load_config(target)
    assert config.methods == ["sft"] and config.data.knowledge == "data/knowledge"
    assert config.advised is not None and config.advised.primary == "rag" and config.advised.plan == ["rag", "sft"]
    assert config.data.replay is not None and config.data.replay.fraction == 0.2  # forgetting_tolerance: low
    readme = (target / "README.md").read_text()
    assert "rag fits: the same corrections recur." in readme
    assert "Watch general skills; replay general data." in readme and "Collect 200 eval examples." in readme
    assert json.loads((target / "advice.json").read_text()) == advice
    assert yaml.safe_load((target / "answers.yaml").read_text()) == advice["answers"]


def test_rl_learned_reward_trains_a_reward_model_first() -> None:
    advice = make_advice("rl", ["rl"], rl={"algorithm": "grpo", "reward": "learned"})
    plan = plan_from_advice(AdviceFile.model_validate(advice), "exp")
    assert plan.methods == ["reward", "grpo"]
    config = yaml.safe_load(render_scaffold(plan)["experiment.yaml"])
    assert config["rewards"][0]["name"] == "reward_model"
    assert config["data"]["preference"] == "data/preference.jsonl"


EVIL = 'x"\'\n{{ 7*191 }}{% raw %}"""__import__(\'os\').system(\'touch PWNED\')"""\n../../escape\r\u2028name: injected'


def test_user_text_stays_data(tmp_path: Path, cli, capsys: pytest.CaptureFixture[str]) -> None:
    advice = make_advice("rl", ["sft", "rl"], sft_data_strategy=EVIL)
    advice["recommendation"]["ranking"][0]["reasons"][0]["text"] = EVIL
    advice["recommendation"]["cautions"][0]["text"] = EVIL
    advice["recommendation"]["next_steps"] = [EVIL]
    advice["answers"]["goals"] = [EVIL]
    advice["answers"][EVIL] = EVIL
    advice_file = tmp_path / "advice.json"
    advice_file.write_text(json.dumps(advice))
    target = tmp_path / "work" / "exp"
    target.parent.mkdir()
    code, _, err = cli(
        "new", str(target), "--from", str(advice_file), "--name", EVIL, "--system-prompt", EVIL, capsys=capsys
    )
    assert code == 0, err
    outside = [p for p in tmp_path.rglob("*") if p.is_file() and not p.is_relative_to(target)]
    assert outside == [advice_file]  # nothing written outside DIR (no ../escape, no PWNED)
    config = load_config(target)
    assert config.name == EVIL and config.baselines.system_prompt == EVIL  # the exact text, as data
    train = [json.loads(line) for line in (target / "data" / "train.jsonl").read_text().splitlines()]
    assert train[0]["messages"][0]["content"] == EVIL
    benign = render_scaffold(plan_from_flags("exp", "sft+grpo"))
    for path in target.rglob("*.py"):
        text = path.read_text()
        tree = ast.parse(text)
        assert "__import__" not in text and "PWNED" not in text and "1337" not in text
        assert not [n for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id == "__import__"]
        assert text == benign[path.relative_to(target).as_posix()]  # user text never changes Python files
    for path in target.rglob("*"):
        if path.is_file() and ".posttrain" not in path.parts:  # the record holds hex hashes, not user text
            assert "1337" not in path.read_text()  # {{ 7*191 }} was never evaluated
    yaml_text = (target / "experiment.yaml").read_text()
    assert "\nname: injected" not in yaml_text
    readme = (target / "README.md").read_text()
    assert not [line for line in readme.splitlines() if line.startswith("name: injected")]
    assert json.loads((target / "advice.json").read_text()) == advice
    assert yaml.safe_load((target / "answers.yaml").read_text()) == advice["answers"]


def test_no_environment_secret_is_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = {"HF_TOKEN": "hf_SECRETabc123", "OPENAI_API_KEY": "sk-SECRETxyz789", "WANDB_API_KEY": "wandbSECRET42"}
    for key, value in secrets.items():
        monkeypatch.setenv(key, value)
    target = tmp_path / "exp"
    new_experiment(target, plan_from_advice(AdviceFile.model_validate(make_advice("rl", ["rag", "sft", "rl"])), "e"))
    for path in target.rglob("*"):
        if path.is_file():
            text = path.read_text()
            assert not [v for v in secrets.values() if v in text], path


def test_refuses_non_empty_dir_force_keeps_runs(tmp_path: Path, cli, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "exp"
    (target / "runs" / "r1").mkdir(parents=True)
    (target / "runs" / "r1" / "report.md").write_text("results")
    code, _, err = cli("new", str(target), "--method", "sft", capsys=capsys)
    assert code == 2 and "not empty" in err and "--force" in err
    assert not (target / "experiment.yaml").exists()
    code, _, _ = cli("new", str(target), "--method", "sft", "--force", capsys=capsys)
    assert code == 0
    assert (target / "experiment.yaml").is_file()
    assert (target / "runs" / "r1" / "report.md").read_text() == "results"


def test_dry_run_lists_and_writes_nothing(tmp_path: Path, cli, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "exp"
    code, out, _ = cli("new", str(target), "--method", "rag+sft", "--dry-run", "--json", capsys=capsys)
    assert code == 0
    listed = json.loads(out)
    assert listed["written"] is False and "data/knowledge/prices.md" in listed["files"]
    assert not target.exists()


def test_without_from_or_method_asks_on_a_tty_and_refuses_otherwise(
    tmp_path: Path, cli, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    code, _, err = cli("new", str(tmp_path / "a"), capsys=capsys)
    assert code == 2 and "--method" in err

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stdin", Tty("sft+dpo\nmy-model-dir\n"))
    code, _, err = cli("new", str(tmp_path / "b"), capsys=capsys)
    assert code == 0, err
    config = load_config(tmp_path / "b")
    assert config.methods == ["sft", "dpo"] and config.model == "my-model-dir"


def test_bad_inputs_exit_2(tmp_path: Path, cli, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli("new", str(tmp_path / "a"), "--method", "sft+magic", capsys=capsys)
    assert code == 2 and "magic" in err
    broken = tmp_path / "advice.json"
    broken.write_text('{"answers": {},\n "recommendation": {"primary": "magic"}}')
    code, _, err = cli("new", str(tmp_path / "b"), "--from", str(broken), capsys=capsys)
    assert code == 2 and "recommendation.primary" in err and "Traceback" not in err
    broken.write_text('{"answers": {},\n oops}')
    code, _, err = cli("new", str(tmp_path / "c"), "--from", str(broken), capsys=capsys)
    assert code == 2 and f"{broken}:2: not valid JSON" in " ".join(err.split())


EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize("example", ["support-assistant", "arithmetic", "persona"])
def test_shipped_example_advice_scaffolds_and_validates(
    example: str, tmp_path: Path, cli, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = EXAMPLES / example
    source = folder / "advice.json"
    if not source.is_file():
        answers = folder / "answers.yaml"
        if not answers.is_file() or importlib.util.find_spec("advisor.engine") is None:
            pytest.skip(f"examples/{example} has no advice.json, and no answers.yaml with the advisor to make one")
        source = answers  # `posttrain new --from answers.yaml` asks the advisor's engine
    target = tmp_path / "demo"
    code, _, err = cli("new", str(target), "--from", str(source), capsys=capsys)
    assert code == 0, err
    config = load_config(target)
    assert missing_files(config, target / "experiment.yaml") == []
    assert config.advised is not None
    assert (target / "advice.json").is_file() and (target / "answers.yaml").is_file()
    code, out, err = cli("config", "check", str(target), capsys=capsys)
    assert code == 0 and out.startswith("ok:"), err


# What the scaffold writes that is the experiment's own content, not a setting with a schema default.
CONTENT = {"name", "model", "methods", "advised", "data.train", "data.preference", "data.feedback", "data.prompts",
           "data.knowledge", "baselines.system_prompt", "evals", "rewards"}  # fmt: skip


def _leaves(mapping: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """(dotted path, value) of every value in nested mappings; lists are values (evals, rewards: content)."""
    out: list[tuple[str, Any]] = []
    for key, value in mapping.items():
        path = f"{prefix}{key}"
        out += _leaves(value, path + ".") if isinstance(value, dict) else [(path, value)]
    return out


@pytest.mark.parametrize("method", ["sft+dpo", "kto", "reward+rloo", "reward+ppo", "rag+grpo"])
@pytest.mark.parametrize("compute", ["cpu", "multi_gpu"])
def test_scaffold_values_are_the_schemas_defaults_except_what_the_plan_sizes(method: str, compute: str) -> None:
    """One source of defaults: a literal in the template that disagrees with harness/config.py fails here."""
    from harness.scaffold.plan import SIZED_BY_PLAN
    from harness.scaffold.render import schema_field

    written = yaml.safe_load(render_scaffold(plan_from_flags("exp", method, compute=compute))["experiment.yaml"])
    compared = 0
    for path, value in _leaves(written):
        if path in SIZED_BY_PLAN or path in CONTENT or path.split(".")[0] in CONTENT:
            continue
        default = schema_field(path).get_default(call_default_factory=True)
        assert value == default, f"experiment.yaml {path}: the template writes {value!r}, the schema says {default!r}"
        compared += 1
    assert compared >= 18  # lora, training, the method sections, baselines, forgetting, compute

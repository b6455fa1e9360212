"""Training requests and bad input: every mistake is one clear message, exit 2, before any model loads."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from harness.training.resolve import build_request

REPO = Path(__file__).resolve().parent.parent
PERSONA = REPO / "examples" / "persona"


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_flags_override_config(tmp_path: Path) -> None:
    _write(tmp_path / "train.jsonl", [{"prompt": "a", "completion": "b"}])
    (tmp_path / "experiment.yaml").write_text(
        "name: t\nmethods: [sft]\ndata:\n  train: [train.jsonl]\n  replay: {fraction: 0.2}\n"
        "training: {learning_rate: 0.0005, max_steps: 9, batch_size: 2}\n"
        "evals: [{path: eval.jsonl}]\nbaselines: {system_prompt: Be brief.}\n"
    )
    request = build_request(method=None, out=tmp_path / "o", config=tmp_path / "experiment.yaml", max_steps=3)
    assert request.method == "sft"
    assert request.training.max_steps == 3  # the flag wins
    assert request.training.learning_rate == 0.0005  # the config fills the rest
    assert request.training.batch_size == 2
    assert Path(request.data[0].path) == tmp_path / "train.jsonl"  # relative to the config's folder
    assert request.replay is not None and request.replay.fraction == 0.2
    assert request.system_prompt == "Be brief."
    assert build_request(method="sft", out="o", data=["x.jsonl"], replay=0).replay is None


def test_fingerprint_ignores_max_steps_but_not_learning_rate() -> None:
    a = build_request(method="sft", out="o", data=["x.jsonl"], max_steps=5)
    assert a.fingerprint() == build_request(method="sft", out="o", data=["x.jsonl"], max_steps=50).fingerprint()
    assert a.fingerprint() != build_request(method="sft", out="o", data=["x.jsonl"], learning_rate=0.1).fingerprint()


def _run(cli, capsys, *args: str) -> tuple[int, str, str]:
    return cli("train", *args, capsys=capsys)


def test_unknown_method(cli, capsys, tmp_path: Path) -> None:
    code, _, err = _run(cli, capsys, "--method", "rlhf", "--data", str(PERSONA / "sft.jsonl"), "--out", str(tmp_path))
    assert code == 2
    assert "--method rlhf: unknown;" in err and "Methods: sft, dpo, kto, grpo, rloo, reward, ppo, external" in err
    assert "Traceback" not in err


def test_learning_rate_zero(cli, capsys, tmp_path: Path) -> None:
    code, _, err = _run(
        cli, capsys, "--method", "sft", "--data", str(PERSONA / "sft.jsonl"), "--out", str(tmp_path / "o"), "--lr", "0"
    )
    assert code == 2
    assert err.count("error:") == 1 and "--learning-rate: Input should be greater than 0" in err
    assert not (tmp_path / "o").exists()


def test_dpo_data_given_to_sft(cli, capsys, tmp_path: Path) -> None:
    data = PERSONA / "preference.jsonl"
    code, _, err = _run(cli, capsys, "--method", "sft", "--data", str(data), "--out", str(tmp_path / "o"))
    assert code == 2
    assert f"{data}: preference rows (prompt/chosen/rejected) given to --method sft" in err
    assert err.count("error:") == 1
    assert not (tmp_path / "o").exists()  # nothing started


def test_sft_data_given_to_dpo(cli, capsys, tmp_path: Path) -> None:
    code, _, err = _run(cli, capsys, "--method", "dpo", "--data", str(PERSONA / "sft.jsonl"), "--out", str(tmp_path))
    assert code == 2 and "SFT rows (messages) given to --method dpo" in err


def test_bad_row_names_file_and_line(cli, capsys, tmp_path: Path) -> None:
    data = _write(tmp_path / "d.jsonl", [{"prompt": "a", "completion": "b"}, {"prompt": "a", "completion": 3}])
    code, _, err = _run(cli, capsys, "--method", "sft", "--data", str(data), "--out", str(tmp_path / "o"))
    assert code == 2 and f"{data}:2" in err


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("def r(completions, **kw):\n    raise ValueError('boom')\n", "reward rewards.py:r: raised ValueError: boom"),
        ("def r(completions, **kw):\n    return [1.0]\n", "reward rewards.py:r: returned 1 scores for 2 completions"),
        ("def r(completions, **kw):\n    return ['x'] * len(completions)\n", "returned str values"),
    ],
)
def test_broken_reward_is_caught_before_training(cli, capsys, tmp_path: Path, body: str, expected: str) -> None:
    (tmp_path / "rewards.py").write_text(body)
    prompts = _write(tmp_path / "p.jsonl", [{"prompt": "1+1?", "answer": "2"}, {"prompt": "2+2?", "answer": "4"}])
    (tmp_path / "experiment.yaml").write_text(
        "name: t\nmethods: [grpo]\ndata: {prompts: p.jsonl}\nrewards: [{name: 'rewards.py:r'}]\n"
        "evals: [{path: p.jsonl}]\n"
    )
    code, _, err = _run(cli, capsys, "--config", str(tmp_path / "experiment.yaml"), "--out", str(tmp_path / "o"))
    assert code == 2, err
    assert expected in err and err.count("error:") == 1
    assert not (tmp_path / "o").exists()
    assert prompts.is_file()


def test_unknown_reward_lists_builtins(cli, capsys, tmp_path: Path) -> None:
    prompts = _write(tmp_path / "p.jsonl", [{"prompt": "1+1?", "answer": "2"}])
    code, _, err = _run(
        cli, capsys, "--method", "grpo", "--data", str(prompts), "--reward", "nope", "--out", str(tmp_path / "o")
    )
    assert code == 2 and "reward 'nope': unknown" in err and "numeric_answer" in err


def test_grpo_batch_must_hold_whole_groups(cli, capsys, tmp_path: Path) -> None:
    prompts = _write(tmp_path / "p.jsonl", [{"prompt": "1+1?", "answer": "2"}])
    code, _, err = _run(
        cli, capsys, "--method", "grpo", "--data", str(prompts), "--reward", "numeric_answer",
        "--batch-size", "6", "--num-generations", "4", "--out", str(tmp_path / "o"),
    )  # fmt: skip
    assert code == 2 and "use --batch-size 8" in err


def test_train_help_is_import_light() -> None:
    import subprocess

    code = (
        "import sys; from harness.cli import main; main(['train', '--help']); "
        "print(sorted(m for m in ('torch', 'transformers', 'trl', 'peft', 'datasets') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert "Example: posttrain train" in result.stdout
    assert result.stdout.strip().endswith("[]")


def test_method_names_come_from_the_registry() -> None:
    """One file per method under harness/training/methods; the schema's names and the trainer's follow it."""
    import typing

    from harness.config import Method as ConfigMethod
    from harness.training.methods import METHOD_NAMES, registry, trainable_here
    from harness.training.request import Method as RequestMethod

    methods_dir = Path(__file__).resolve().parent.parent / "harness" / "training" / "methods"
    assert sorted(p.stem for p in methods_dir.glob("*.py") if p.stem != "__init__") == sorted(METHOD_NAMES)
    assert typing.get_args(ConfigMethod) == METHOD_NAMES == tuple(registry())
    assert typing.get_args(RequestMethod) == trainable_here() == ("sft", "dpo", "kto", "grpo", "rloo", "reward")

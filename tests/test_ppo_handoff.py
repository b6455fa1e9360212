"""PPO as a hand-off to OpenRLHF (not run by posttrain): the rendered command, the run that stops, the
output evaluated as an external model, and the refusal of `posttrain train --method ppo`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fixtures.outside import adapter_made_elsewhere, write_experiment

from harness.config import parse_config
from harness.training.handoff import ppo_inputs
from harness.training.methods.ppo import FLAGS, NOT_RUN, OPENRLHF_VERSION, HandOff, render_command, render_script

# The snapshot: what `train_ppo.sh` runs for a [reward, ppo] plan with the schema's defaults.
EXPECTED = """\
python3 -m openrlhf.cli.train_ppo_ray \\
  --actor.model_name_or_path HuggingFaceTB/SmolLM2-135M-Instruct \\
  --reward.model_name_or_path ppo/reward_model \\
  --data.prompt_dataset prompts.jsonl \\
  --data.input_key prompt \\
  --data.apply_chat_template \\
  --data.max_len 512 \\
  --rollout.max_new_tokens 64 \\
  --rollout.n_samples_per_prompt 1 \\
  --rollout.batch_size 64 \\
  --rollout.temperature 1.0 \\
  --train.batch_size 32 \\
  --train.num_episodes 1 \\
  --train.max_epochs 1 \\
  --train.seed 42 \\
  --actor.adam.lr 1e-05 \\
  --critic.adam.lr 9e-06 \\
  --algo.kl.init_coef 0.01 \\
  --ds.lora.rank 16 \\
  --ds.lora.alpha 32 \\
  --ds.lora.dropout 0.05 \\
  --ds.lora.target_modules all-linear \\
  --ds.zero_stage 2 \\
  --ds.param_dtype bf16 \\
  --actor.num_gpus_per_node 1 \\
  --critic.num_gpus_per_node 1 \\
  --ref.num_gpus_per_node 1 \\
  --reward.num_gpus_per_node 1 \\
  --vllm.num_engines 1 \\
  --vllm.gpu_memory_utilization 0.5 \\
  --train.colocate_all \\
  --actor.gradient_checkpointing_enable \\
  --ckpt.output_dir ppo/output \\
  --ckpt.path ppo/checkpoints \\
  --logger.tensorboard_dir ppo/tensorboard
"""
PLAN = (
    "name: x\nmethods: [reward, ppo]\ndata: {preference: p.jsonl, prompts: prompts.jsonl}\nevals: [{path: e.jsonl}]\n"
)


def test_command_snapshot() -> None:
    inputs = ppo_inputs(parse_config(PLAN), "HuggingFaceTB/SmolLM2-135M-Instruct", "ppo/reward_model")
    assert render_command(inputs) == EXPECTED
    script = render_script(inputs)
    assert f"OpenRLHF {OPENRLHF_VERSION}" in script and NOT_RUN in script
    assert len({flag for flag, _ in FLAGS}) == len(FLAGS)  # one table, each flag once


def test_settings_reach_the_command() -> None:
    plan = PLAN + "ppo: {gpus: 4, vllm_engines: 0, kl_coef: 0.05}\nlora: {r: 8, target_modules: [q_proj, v_proj]}\n"
    command = render_command(ppo_inputs(parse_config(plan), "pol", "rm"))
    assert "--actor.num_gpus_per_node 4" in command and "--algo.kl.init_coef 0.05" in command
    assert "--ds.lora.rank 8" in command and "--ds.lora.target_modules q_proj v_proj" in command
    assert "--vllm.num_engines 0" in command and "gpu_memory_utilization" not in command


def test_ppo_needs_a_reward_model() -> None:
    from posttrain.errors import BadInput

    with pytest.raises(BadInput, match=r"ppo\.reward_model: methods has ppo: plan `reward` before it"):
        parse_config("name: x\nmethods: [ppo]\ndata: {prompts: p.jsonl}\nevals: [{path: e.jsonl}]\n")


def test_run_writes_the_handoff_stops_and_evaluates_the_output(tmp_path: Path, tiny_model_dir: Path) -> None:
    from harness.runner.pipeline import run_experiment

    exp = write_experiment(tmp_path / "exp", tiny_model_dir, ["ppo"], ppo={"reward_model": "org/some-reward-model"})
    lines: list[str] = []
    with pytest.raises(HandOff) as stopped:
        run_experiment(exp, say=lines.append)
    message = str(stopped.value)
    assert NOT_RUN in message and "grpo and rloo run here" in message and "exp/ppo/output/" in message
    assert "posttrain run --from tuned" in message
    readme = (exp / "ppo" / "README.md").read_text()
    script = (exp / "ppo" / "train_ppo.sh").read_text()
    assert NOT_RUN in readme and "ppo/output/" in readme and "org/some-reward-model" in readme
    assert f"--actor.model_name_or_path {tiny_model_dir}" in script  # no SFT before it: the base model
    assert "--data.prompt_dataset data/prompts.jsonl" in script
    assert json.loads((exp / "ppo" / "handoff.json").read_text())["openrlhf_version"] == OPENRLHF_VERSION
    assert not (exp / "runs" / "latest" / "eval" / "tuned").exists()

    with pytest.raises(HandOff):  # nothing placed yet: --from tuned says the same, evaluates nothing
        run_experiment(exp, start="tuned", say=lines.append)

    adapter_made_elsewhere(tiny_model_dir, exp / "ppo" / "output")  # "OpenRLHF's output", placed per the README
    result = run_experiment(exp, start="tuned", say=lines.append)
    assert {o.name: o.status for o in result.outcomes}["tuned"] == "ran"
    summary = json.loads((exp / "runs" / "latest" / "eval" / "tuned" / "qa" / "summary.json").read_text())
    assert summary["adapter"] == str(exp / "ppo" / "output") and summary["n"] == 3


def test_train_refuses_ppo_naming_grpo_and_rloo(cli, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = cli("train", "--method", "ppo", "--data", "p.jsonl", "--out", str(tmp_path / "o"), capsys=capsys)
    assert code == 2
    assert NOT_RUN in err and "--method grpo" in err and "--method rloo" in err and "Traceback" not in err


def test_a_chained_adapter_becomes_the_merged_policy(tmp_path: Path, tiny_model_dir: Path) -> None:
    from harness.config import load_config
    from harness.training.handoff import write_ppo_handoff

    exp = write_experiment(tmp_path / "exp", tiny_model_dir, ["ppo"], ppo={"reward_model": "org/rm"})
    sft = adapter_made_elsewhere(tiny_model_dir, tmp_path / "sft")  # stands in for this run's SFT adapter
    folder = write_ppo_handoff(load_config(exp), exp, tmp_path / "run", chained=sft)
    assert (folder / "policy" / "config.json").is_file() and not (folder / "policy" / "adapter_config.json").exists()
    assert "--actor.model_name_or_path ppo/policy" in (folder / "train_ppo.sh").read_text()
    assert "sft merged in" in (folder / "README.md").read_text()

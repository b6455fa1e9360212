"""PPO: an honest hand-off to OpenRLHF, the maintained LLM PPO engine. Not run by posttrain.

TRL removed its PPO trainer; OpenRLHF (Ray + DeepSpeed + vLLM) needs CUDA and its own pinned library
versions, so it cannot run inside posttrain's environment. ``posttrain run`` with ``ppo`` planned writes
``ppo/`` into the experiment — ``train_ppo.sh`` (the OpenRLHF command line, rendered from :data:`FLAGS`),
``README.md`` and ``handoff.json`` — and stops. Once OpenRLHF's output sits in ``ppo/output/``,
``posttrain run --from tuned`` evaluates it like an ``external`` model. GRPO and RLOO run here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from harness.training.methods import MethodSpec
from posttrain.errors import CheckFailed

# Every flag below was read from openrlhf/cli/train_ppo_ray.py of this version; a newer OpenRLHF may rename them.
OPENRLHF_VERSION = "0.11.0"
OPENRLHF_SOURCE = "github.com/OpenRLHF/OpenRLHF @ 3c3be6234e0c (2026-08-13), openrlhf/cli/train_ppo_ray.py"
OPENRLHF_PINS = "transformers==5.15.0, deepspeed==0.19.5, flash-attn==2.8.3, ray==2.55.0 (its requirements.txt)"
ENTRY = "python3 -m openrlhf.cli.train_ppo_ray"
NOT_RUN = "not run by posttrain"
HANDOFF_DIR = "ppo"
OUTPUT_DIR = "ppo/output"  # where OpenRLHF writes the trained policy (--ckpt.output_dir)
# posttrain's name for the default model, as the hub id OpenRLHF's own environment can download.
HUB_IDS = {"smollm2-135m": "HuggingFaceTB/SmolLM2-135M-Instruct", "default": "HuggingFaceTB/SmolLM2-135M-Instruct"}


class PpoSettings(BaseModel):
    """``ppo:`` in experiment.yaml: what the OpenRLHF job is given (LoRA comes from ``lora:``)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    reward_model: str | None = Field(
        None, description="A reward model dir or hub id; by default the one this plan's `reward` stage trains."
    )
    gpus: int = Field(1, ge=1, description="GPUs on the one node; actor, critic, reference and reward share them.")
    vllm_engines: int = Field(1, ge=0, description="vLLM engines for sampling (0: sample with the actor).")
    actor_learning_rate: float = Field(1e-5, gt=0, description="Policy learning rate (LoRA takes ~10x full-FT).")
    critic_learning_rate: float = Field(9e-6, gt=0, description="Value model learning rate (OpenRLHF's default).")
    kl_coef: float = Field(0.01, ge=0, description="Initial KL penalty toward the reference policy.")
    samples_per_prompt: int = Field(1, ge=1, description="Completions sampled per prompt.")
    rollout_batch_size: int = Field(64, ge=1, description="Prompts sampled per rollout.")
    train_batch_size: int = Field(32, ge=1, description="Global batch of one PPO update.")
    episodes: int = Field(1, ge=1, description="Passes over the prompts.")
    temperature: float = Field(1.0, gt=0, description="Sampling temperature of the rollouts.")
    max_completion_length: int = Field(64, ge=1, description="Longest sampled completion in tokens.")


@dataclass(frozen=True)
class PpoInputs:
    """Everything the command line is rendered from; paths are relative to the experiment folder."""

    policy: str
    reward_model: str
    prompts: str
    settings: PpoSettings
    lora_r: int
    lora_alpha: int
    lora_dropout: float
    target_modules: tuple[str, ...]
    max_length: int
    max_new_tokens: int
    seed: int


Value = Callable[[PpoInputs], Any]  # a value, True for a bare switch, None to leave the flag out
# The one table of OpenRLHF flags (OPENRLHF_VERSION): (flag, value from the inputs).
FLAGS: tuple[tuple[str, Value], ...] = (
    ("--actor.model_name_or_path", lambda i: i.policy),
    ("--reward.model_name_or_path", lambda i: i.reward_model),  # the critic starts from it too (GAE default)
    ("--data.prompt_dataset", lambda i: i.prompts),
    ("--data.input_key", lambda i: "prompt"),
    ("--data.apply_chat_template", lambda i: True),
    ("--data.max_len", lambda i: i.max_length),
    ("--rollout.max_new_tokens", lambda i: i.max_new_tokens),
    ("--rollout.n_samples_per_prompt", lambda i: i.settings.samples_per_prompt),
    ("--rollout.batch_size", lambda i: i.settings.rollout_batch_size),
    ("--rollout.temperature", lambda i: i.settings.temperature),
    ("--train.batch_size", lambda i: i.settings.train_batch_size),
    ("--train.num_episodes", lambda i: i.settings.episodes),
    ("--train.max_epochs", lambda i: 1),
    ("--train.seed", lambda i: i.seed),
    ("--actor.adam.lr", lambda i: i.settings.actor_learning_rate),
    ("--critic.adam.lr", lambda i: i.settings.critic_learning_rate),
    ("--algo.kl.init_coef", lambda i: i.settings.kl_coef),
    ("--ds.lora.rank", lambda i: i.lora_r),
    ("--ds.lora.alpha", lambda i: i.lora_alpha),
    ("--ds.lora.dropout", lambda i: i.lora_dropout),
    ("--ds.lora.target_modules", lambda i: " ".join(i.target_modules)),
    ("--ds.zero_stage", lambda i: 2),
    ("--ds.param_dtype", lambda i: "bf16"),
    ("--actor.num_gpus_per_node", lambda i: i.settings.gpus),
    ("--critic.num_gpus_per_node", lambda i: i.settings.gpus),
    ("--ref.num_gpus_per_node", lambda i: i.settings.gpus),
    ("--reward.num_gpus_per_node", lambda i: i.settings.gpus),
    ("--vllm.num_engines", lambda i: i.settings.vllm_engines),
    ("--vllm.gpu_memory_utilization", lambda i: 0.5 if i.settings.vllm_engines else None),  # shares the GPUs
    ("--train.colocate_all", lambda i: True),
    ("--actor.gradient_checkpointing_enable", lambda i: True),
    ("--ckpt.output_dir", lambda i: OUTPUT_DIR),
    ("--ckpt.path", lambda i: f"{HANDOFF_DIR}/checkpoints"),
    ("--logger.tensorboard_dir", lambda i: f"{HANDOFF_DIR}/tensorboard"),
)


def render_command(inputs: PpoInputs) -> str:
    """The OpenRLHF command line, one flag per line, from :data:`FLAGS`."""
    lines = [ENTRY]
    for flag, value_of in FLAGS:
        value = value_of(inputs)
        if value is None or value is False:
            continue
        lines.append(flag if value is True else f"{flag} {value}")
    return " \\\n  ".join(lines) + "\n"


def render_script(inputs: PpoInputs) -> str:
    return (
        "#!/usr/bin/env bash\n"
        f"# PPO with OpenRLHF {OPENRLHF_VERSION} — {NOT_RUN}. Flags read from {OPENRLHF_SOURCE}.\n"
        "# Run it from the experiment folder, in OpenRLHF's own environment, on a CUDA machine (see README.md).\n"
        "set -euo pipefail\n"
        'cd "$(dirname "$0")/.."\n' + render_command(inputs)
    )


def render_readme(inputs: PpoInputs, reward_note: str, policy_note: str) -> str:
    s = inputs.settings
    return f"""# PPO hand-off — {NOT_RUN}

posttrain does not train PPO: the maintained LLM PPO engine, OpenRLHF, needs CUDA, Ray, DeepSpeed and vLLM
with its own pinned versions ({OPENRLHF_PINS}), which cannot share posttrain's environment. GRPO and RLOO
(`methods: [grpo]` or `[rloo]`) run inside posttrain instead.

`train_ppo.sh` is the OpenRLHF {OPENRLHF_VERSION} command line; its flags were read from {OPENRLHF_SOURCE}.

## 1. Its own environment (a CUDA machine)

    python -m venv ~/openrlhf && . ~/openrlhf/bin/activate
    pip install "openrlhf[vllm]=={OPENRLHF_VERSION}"   # or install OpenRLHF from that commit
    ray start --head

## 2. What it is given (paths relative to the experiment folder)

| input | value |
| --- | --- |
| policy | `{inputs.policy}` — {policy_note} |
| reward model | `{inputs.reward_model}` — {reward_note}; the critic starts from it |
| prompts | `{inputs.prompts}` (`prompt` column, chat template applied) |
| LoRA | rank {inputs.lora_r}, alpha {inputs.lora_alpha}, dropout {inputs.lora_dropout}, \
modules {" ".join(inputs.target_modules)} |
| PPO | actor lr {s.actor_learning_rate:g}, critic lr {s.critic_learning_rate:g}, KL {s.kl_coef:g}, \
{s.samples_per_prompt} sample(s)/prompt, rollout batch {s.rollout_batch_size}, train batch {s.train_batch_size}, \
{s.episodes} episode(s), temperature {s.temperature:g} |
| lengths | {inputs.max_length} tokens in all, {inputs.max_new_tokens} generated |
| GPUs | {s.gpus} on one node, all models colocated, {s.vllm_engines} vLLM engine(s) |

Change these in `experiment.yaml` (`ppo:`, `lora:`, `training:`) and rerun `posttrain run` to rewrite this folder.

## 3. Run it

    bash ppo/train_ppo.sh

## 4. Where to put the output

OpenRLHF writes the trained policy (a PEFT adapter with LoRA, else a full model) to `{OUTPUT_DIR}/`, which is
where posttrain looks. If you trained elsewhere, copy that folder there. Then

    posttrain run --from tuned

evaluates it as an `external` model — same eval sets, baselines, forgetting check and report as posttrain's
own runs. The report names it as trained by OpenRLHF, {NOT_RUN}.
"""


class HandOff(CheckFailed):
    """The run stopped at a step posttrain does not run itself (exit 1: nothing is wrong, but it is not done)."""


def stop_message(exp_name: str) -> str:
    return (
        f"ppo is {NOT_RUN}: the OpenRLHF command and its README are in {exp_name}/{HANDOFF_DIR}/ "
        f"(train_ppo.sh, README.md). Run it on a CUDA machine in OpenRLHF's own environment, put its output "
        f"in {exp_name}/{OUTPUT_DIR}/, then `posttrain run --from tuned` evaluates it as an external model. "
        "grpo and rloo run here instead."
    )


def refusal() -> str:
    """What ``posttrain train --method ppo`` says."""
    return (
        f"--method ppo: {NOT_RUN}; PPO needs OpenRLHF on a CUDA machine. Plan `ppo` in experiment.yaml and "
        "`posttrain run` writes the OpenRLHF command and a README into ppo/; or train here with "
        "--method grpo or --method rloo (online RL with the same rewards)"
    )


SPEC = MethodSpec(
    name="ppo",
    summary=f"PPO through OpenRLHF on a CUDA machine ({NOT_RUN}; its output returns as external)",
    data_kind="prompts",
    after=("sft", "dpo", "kto", "reward"),
    chains_policy=True,
    runs_here=False,
    settings=PpoSettings,
)

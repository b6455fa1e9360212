"""GRPO: ``GRPOTrainer`` with built-in, experiment-defined or learned rewards, summed with weights.

The reward loading and the batch-shape check here serve every online method (GRPO and RLOO).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field

from harness.training.methods import MethodSection, MethodSpec
from posttrain.errors import BadInput

if TYPE_CHECKING:
    from harness.training.request import TrainRequest
    from harness.training.rewards import RewardFn


class OnlineSampling(MethodSection):
    """What every online RL method here samples (GRPO and RLOO share these names and the CLI flags)."""

    num_generations: int = Field(4, ge=2, description="Completions sampled per prompt (the group).")
    max_completion_length: int = Field(64, ge=1, description="Longest sampled completion in tokens.")
    # Sampling at temperature 1.0 from a small model yields mostly rambling and all-zero reward groups
    # (no gradient); 0.7 keeps the group diverse but close enough to the greedy policy to score.
    temperature: float = Field(0.7, gt=0, description="Sampling temperature of the completions.")


class GrpoSettings(OnlineSampling):
    """``grpo:`` in experiment.yaml."""


def reward_functions(request: TrainRequest, rows: list[dict[str, Any]]) -> tuple[list[RewardFn], list[float]]:
    """Load every reward and call it once on a test batch, so a broken one fails before training."""
    from harness.training.rewards import check_reward, load_reward

    if not request.rewards:
        raise BadInput(
            f"--method {request.method}: no rewards; give --reward NAME (e.g. numeric) or rewards: in the config"
        )
    base_dir = Path(request.base_dir) if request.base_dir else Path.cwd()
    funcs, weights = [], []
    for spec in request.rewards:
        func = load_reward(spec.name, base_dir, request.model)
        check_reward(spec.name, func, rows)
        funcs.append(func)
        weights.append(spec.weight)
    return funcs, weights


def check_batch(request: TrainRequest, world_size: int = 1) -> None:
    """Online RL samples ``num_generations`` completions per prompt inside one batch: it must hold whole groups.

    >>> from harness.training.resolve import build_request
    >>> check_batch(build_request(method="grpo", out="o", data=["p.jsonl"], batch_size=6, num_generations=4))
    Traceback (most recent call last):
    ...
    posttrain.errors.BadInput: --batch-size 6 × --gradient-accumulation 1 × 1 processes = 6 completions per step is \
not a multiple of --num-generations 4; use --batch-size 8
    """
    t, group = request.training, (request.rloo if request.method == "rloo" else request.grpo).num_generations
    per_step = t.batch_size * t.gradient_accumulation * world_size
    if per_step % group:
        fix = -(-t.batch_size // group) * group
        raise BadInput(
            f"--batch-size {t.batch_size} × --gradient-accumulation {t.gradient_accumulation} × {world_size} processes "
            f"= {per_step} completions per step is not a multiple of --num-generations {group}; "
            f"use --batch-size {fix}"
        )


def build(
    request: TrainRequest, model: Any, tokenizer: Any, common: dict[str, Any], train: Any, evals: Any, peft: Any,
    rewards: tuple[list[RewardFn], list[float]],
) -> Any:  # fmt: skip
    from trl import GRPOConfig, GRPOTrainer

    funcs, weights = rewards
    own = request.grpo
    args = GRPOConfig(
        **common,
        num_generations=own.num_generations,
        max_completion_length=own.max_completion_length,
        reward_weights=weights,
        beta=0.0,  # no KL term: no reference model to keep, the usual choice for short verifiable-reward runs
        log_completions=False,
        temperature=own.temperature,  # see OnlineSampling: 0.7 keeps a small model's groups scoreable
    )
    return GRPOTrainer(
        model=model, reward_funcs=funcs, args=args, train_dataset=train, eval_dataset=evals,
        processing_class=tokenizer, peft_config=peft,
    )  # fmt: skip


SPEC = MethodSpec(
    name="grpo",
    summary="online RL: group-relative advantages over sampled completions, scored by rewards",
    data_kind="prompts",
    after=("sft", "dpo", "kto", "reward"),
    needs_rewards=True,
    settings=GrpoSettings,
    build=build,
)

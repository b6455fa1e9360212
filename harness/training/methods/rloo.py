"""RLOO: ``RLOOTrainer``, REINFORCE with a leave-one-out baseline over each prompt's sampled group.

Same data and rewards as GRPO (prompt rows, ``rewards:``); each completion's advantage is its reward
minus the mean reward of the *other* completions of its prompt.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field

from harness.training.methods import MethodSpec
from harness.training.methods.grpo import OnlineSampling

if TYPE_CHECKING:
    from harness.training.request import TrainRequest
    from harness.training.rewards import RewardFn


class RlooSettings(OnlineSampling):
    """``rloo:`` in experiment.yaml: GRPO's sampling settings (num_generations, ...) plus RLOO's own."""

    beta: float = Field(
        0.0, ge=0.0, description="KL penalty toward the starting policy; 0 keeps no reference model (cheapest)."
    )
    normalize_advantages: bool = Field(False, description="Divide advantages by their standard deviation.")


def build(
    request: TrainRequest, model: Any, tokenizer: Any, common: dict[str, Any], train: Any, evals: Any, peft: Any,
    rewards: tuple[list[RewardFn], list[float]],
) -> Any:  # fmt: skip
    from trl import RLOOConfig, RLOOTrainer

    funcs, weights = rewards
    own = request.rloo
    args = RLOOConfig(
        **common,
        num_generations=own.num_generations,
        max_completion_length=own.max_completion_length,
        reward_weights=weights,
        beta=own.beta,
        normalize_advantages=own.normalize_advantages,
        temperature=own.temperature,  # see grpo.py: 0.7 keeps a small model's groups scoreable
        log_completions=False,
    )
    return RLOOTrainer(
        model=model, reward_funcs=funcs, args=args, train_dataset=train, eval_dataset=evals,
        processing_class=tokenizer, peft_config=peft,
    )  # fmt: skip


SPEC = MethodSpec(
    name="rloo",
    summary="online RL: REINFORCE with a leave-one-out baseline, scored by rewards",
    data_kind="prompts",
    after=("sft", "dpo", "kto", "reward"),
    needs_rewards=True,
    settings=RlooSettings,
    build=build,
)

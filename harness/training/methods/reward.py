"""Reward model: ``RewardTrainer`` on preference pairs; GRPO/RLOO score with it as ``learned:DIR``
(see :mod:`harness.training.reward_model`) and the PPO hand-off gives it to OpenRLHF."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.training.methods import MethodSection, MethodSpec

if TYPE_CHECKING:
    from harness.training.request import TrainRequest


class RewardSettings(MethodSection):
    """``reward:`` in experiment.yaml: the reward model's own values of the shared training settings."""


def build(
    request: TrainRequest, model: Any, tokenizer: Any, common: dict[str, Any], train: Any, evals: Any, peft: Any,
    rewards: Any = None,
) -> Any:  # fmt: skip
    from trl import RewardConfig, RewardTrainer

    args = RewardConfig(**common, max_length=request.training.max_length)
    return RewardTrainer(
        model=model, args=args, train_dataset=train, eval_dataset=evals, processing_class=tokenizer, peft_config=peft
    )


SPEC = MethodSpec(
    name="reward",
    summary="a reward model on preference pairs, for grpo/rloo/ppo",
    data_kind="preference",
    chains_policy=False,  # a reward model starts from the base model with a fresh score head
    policy=False,
    settings=RewardSettings,
    build=build,
)

"""DPO: ``DPOTrainer`` on prompt/chosen/rejected pairs.

Started from an SFT adapter, TRL copies it into a frozen ``ref`` adapter, so the reference model is
the SFT model, not the base; without one the reference is the base model (the adapter disabled),
which costs no extra memory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field

from harness.training.methods import MethodSection, MethodSpec

if TYPE_CHECKING:
    from harness.training.request import TrainRequest


class DpoSettings(MethodSection):
    """``dpo:`` in experiment.yaml."""

    beta: float = Field(0.1, gt=0, description="Strength of the pull toward the reference model (higher: closer).")


def build(
    request: TrainRequest, model: Any, tokenizer: Any, common: dict[str, Any], train: Any, evals: Any, peft: Any,
    rewards: Any = None,
) -> Any:  # fmt: skip
    from trl import DPOConfig, DPOTrainer

    args = DPOConfig(**common, beta=request.dpo.beta, max_length=request.training.max_length)
    return DPOTrainer(
        model=model, args=args, train_dataset=train, eval_dataset=evals, processing_class=tokenizer, peft_config=peft
    )


SPEC = MethodSpec(
    name="dpo",
    summary="preference pairs (prompt, chosen, rejected); best after SFT",
    data_kind="preference",
    after=("sft",),
    settings=DpoSettings,
    build=build,
)

"""KTO: ``KTOTrainer`` on unpaired feedback, ``{"prompt", "completion", "label": true|false}``.

Thumbs-up/down logs need no pairing: KTO pushes the policy's implied reward above a running KL
reference point for desirable completions and below it for undesirable ones. Like DPO it starts from
the SFT adapter, which TRL then uses as the frozen reference.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field

from harness.training.methods import MethodSection, MethodSpec

if TYPE_CHECKING:
    from harness.training.request import TrainRequest


class KtoSettings(MethodSection):
    """``kto:`` in experiment.yaml."""

    beta: float = Field(0.1, gt=0, description="Strength of the pull toward the reference model.")
    desirable_weight: float = Field(
        1.0, gt=0, description="Weight of the desirable (label true) losses; raise it when they are the minority."
    )
    undesirable_weight: float = Field(1.0, gt=0, description="Weight of the undesirable (label false) losses.")


def build(
    request: TrainRequest, model: Any, tokenizer: Any, common: dict[str, Any], train: Any, evals: Any, peft: Any,
    rewards: Any = None,
) -> Any:  # fmt: skip
    from trl import KTOConfig, KTOTrainer

    own = request.kto
    args = KTOConfig(
        **common,
        beta=own.beta,
        desirable_weight=own.desirable_weight,
        undesirable_weight=own.undesirable_weight,
        max_length=request.training.max_length,
    )
    return KTOTrainer(
        model=model, args=args, train_dataset=train, eval_dataset=evals, processing_class=tokenizer, peft_config=peft
    )


SPEC = MethodSpec(
    name="kto",
    summary="unpaired good/bad feedback (prompt, completion, label); best after SFT",
    data_kind="feedback",
    after=("sft",),
    settings=KtoSettings,
    build=build,
)

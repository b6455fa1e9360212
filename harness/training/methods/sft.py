"""SFT: ``SFTTrainer`` on conversational prompt/completion pairs, loss on the completion only."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.training.methods import MethodSection, MethodSpec

if TYPE_CHECKING:
    from harness.training.request import TrainRequest


class SftSettings(MethodSection):
    """``sft:`` in experiment.yaml: SFT's own values of the shared training settings (e.g. its learning_rate)."""


def build(
    request: TrainRequest, model: Any, tokenizer: Any, common: dict[str, Any], train: Any, evals: Any, peft: Any,
    rewards: Any = None,
) -> Any:  # fmt: skip
    from peft import PeftModel
    from trl import SFTConfig, SFTTrainer

    from harness.training.lm_head import compact_lm_head
    from harness.training.packed_rows import RowPackedCollator, needs_row_packing
    from harness.training.segment_attention import enable as attend_per_example

    args = SFTConfig(
        **common,
        max_length=request.training.max_length,
        completion_only_loss=True,  # prompt/completion rows: no loss on the prompt (see prepare.py)
        packing=request.training.packing,
        # BFD packing is padding-free: several examples share one row with position_ids restarting per example,
        # which transformers turns into a block-diagonal mask, so examples do not attend to each other.
        packing_strategy="bfd",
        dataset_num_proc=None,
    )
    trainer = SFTTrainer(
        model=model, args=args, train_dataset=train, eval_dataset=evals, processing_class=tokenizer, peft_config=peft
    )
    # TRL's fused LM head scores every position on the CPU, at two thirds of a step: score the labelled ones
    compact_lm_head(trainer.model.get_base_model() if isinstance(trainer.model, PeftModel) else trainer.model)

    if args.packing and needs_row_packing(trainer.model):  # SDPA/eager: one flattened row costs 8× the attention
        trainer.data_collator = RowPackedCollator(trainer.processing_class.pad_token_id)
        if next(trainer.model.parameters()).device.type == "cpu":  # SDPA per packed example, not a dense block mask
            attend_per_example(trainer.model)
    return trainer


SPEC = MethodSpec(
    name="sft",
    summary="supervised fine-tuning on (prompt, ideal response) pairs",
    data_kind="sft",
    settings=SftSettings,
    build=build,
)

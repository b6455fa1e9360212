"""SFT: ``SFTTrainer`` on conversational prompt/completion pairs, loss on the completion only."""

from __future__ import annotations

from typing import Any

from harness.training.request import TrainRequest


def build_sft(
    request: TrainRequest, model: Any, tokenizer: Any, common: dict[str, Any], train: Any, evals: Any, peft: Any
) -> Any:
    from trl import SFTConfig, SFTTrainer

    packing = request.training.packing
    args = SFTConfig(
        **common,
        max_length=request.training.max_length,
        completion_only_loss=True,  # prompt/completion rows: no loss on the prompt (see prepare.py)
        packing=packing,
        # BFD packing is padding-free: several examples share one row with position_ids restarting per example,
        # which transformers turns into a block-diagonal mask, so examples do not attend to each other.
        packing_strategy="bfd",
        dataset_num_proc=None,
    )
    return SFTTrainer(
        model=model, args=args, train_dataset=train, eval_dataset=evals, processing_class=tokenizer, peft_config=peft
    )

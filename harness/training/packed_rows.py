"""Packed SFT batches that keep their rows: attention stays within each packed row.

TRL's BFD packing is padding-free: its collator flattens the whole batch into ONE row of batch × max_length
tokens with position_ids restarting per example. A varlen kernel (flash attention 2/3) then attends within
each example only, but SDPA and eager attention get a dense block-diagonal mask over the whole flattened
row: (8 × 256)² = 4.2M scores per head and layer where 8 rows need 8 × 256² = 0.5M, 8× the work. Measured on
the 2-core EPYC (bench/train_overhead.py, SmolLM2-135M, 8 × 256 tokens, bf16): attention was ~45% of a
step's CPU time. This collator keeps the packed rows ([batch, max_length], right-padded) with per-example
position_ids and no attention mask, so transformers builds the block-diagonal mask per row; the labels of
each example's first token (and of the padding) are -100 as in TRL's padding-free collator.
"""

from __future__ import annotations

from typing import Any

VARLEN_ATTENTION = ("flash_attention_2", "flash_attention_3")


def needs_row_packing(model: Any) -> bool:
    """True unless the model runs a varlen attention kernel (where one flattened row costs nothing extra)."""
    implementation = getattr(getattr(model, "config", None), "_attn_implementation", None)
    return implementation not in VARLEN_ATTENTION


class RowPackedCollator:
    """Collate BFD-packed examples (``input_ids``, ``labels``, ``seq_lengths``) into padded rows."""

    def __init__(self, pad_token_id: int) -> None:
        from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

        self.inner = DataCollatorForLanguageModeling(pad_token_id=pad_token_id, return_position_ids=True)

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        batch = self.inner(examples)
        # No attention mask: transformers reads packed sequences from position_ids only when the mask is absent.
        # Padding has position 0, so each pad token is a sequence of its own and no real token attends to it.
        batch.pop("attention_mask", None)
        batch["labels"][batch["position_ids"] == 0] = -100  # a first token is not predicted across examples
        return dict(batch)

"""Packed SFT rows stay rows: per-example positions, no cross-example targets, no attention mask."""

from __future__ import annotations

from types import SimpleNamespace

from harness.training.packed_rows import RowPackedCollator, needs_row_packing


def test_packed_rows_keep_their_shape_and_restart_positions_per_example() -> None:
    collate = RowPackedCollator(pad_token_id=0)
    rows = [
        {"input_ids": [5, 6, 7, 8, 9], "labels": [-100, 6, 7, -100, 9], "seq_lengths": [3, 2]},
        {"input_ids": [4, 3, 2], "labels": [-100, 3, 2], "seq_lengths": [3]},
    ]
    batch = collate(rows)
    assert "attention_mask" not in batch  # transformers reads packed sequences from position_ids alone
    assert batch["input_ids"].tolist() == [[5, 6, 7, 8, 9], [4, 3, 2, 0, 0]]  # two rows, not one flattened row
    assert batch["position_ids"].tolist() == [[0, 1, 2, 0, 1], [0, 1, 2, 0, 0]]
    # An example's first token and the padding are never targets.
    assert batch["labels"].tolist() == [[-100, 6, 7, -100, 9], [-100, 3, 2, -100, -100]]


def test_varlen_attention_keeps_trl_flattened_batches() -> None:
    assert needs_row_packing(SimpleNamespace(config=SimpleNamespace(_attn_implementation="sdpa")))
    assert not needs_row_packing(SimpleNamespace(config=SimpleNamespace(_attn_implementation="flash_attention_2")))

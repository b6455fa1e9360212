"""Every assistant turn is trained unless its weight is 0: checked on the labels TRL's collator makes."""

from __future__ import annotations

import json
from pathlib import Path

from harness.training.prepare import sft_rows, training_rows
from harness.training.request import TrainRequest

CONVERSATION = [
    {"role": "system", "content": "You answer with a codeword."},
    {"role": "user", "content": "First question?"},
    {"role": "assistant", "content": "ALPHA one"},
    {"role": "user", "content": "Second question?"},
    {"role": "assistant", "content": "BRAVO two", "weight": 0},
    {"role": "user", "content": "Third question?"},
    {"role": "assistant", "content": "CHARLIE three", "weight": 1},
]


def test_one_row_per_trained_turn_with_the_conversation_so_far():
    rows = sft_rows({"messages": CONVERSATION})
    assert [r["completion"] for r in rows] == [
        [{"role": "assistant", "content": "ALPHA one"}],
        [{"role": "assistant", "content": "CHARLIE three"}],
    ]
    # the weight-0 answer stays in the later prompt as context, stripped of its weight
    assert rows[1]["prompt"][-2] == {"role": "assistant", "content": "BRAVO two"}
    assert rows[1]["prompt"][-1] == {"role": "user", "content": "Third question?"}
    assert all("weight" not in m for r in rows for m in r["prompt"] + r["completion"])


def test_collator_labels_cover_each_trained_turn_and_never_a_weight_zero_one(tmp_path: Path, tiny_model_dir: Path):
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    data = tmp_path / "openai.jsonl"
    data.write_text(json.dumps({"messages": CONVERSATION}) + "\n")
    rows = training_rows(TrainRequest(method="sft", data=[{"path": str(data)}], out=str(tmp_path / "out")))
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    # The settings harness/training/methods/sft.py trains with: loss on the completion only.
    args = SFTConfig(
        output_dir=str(tmp_path / "trainer"), completion_only_loss=True, max_length=256, report_to=[], use_cpu=True
    )
    trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer)
    examples = [trainer.train_dataset[i] for i in range(len(trainer.train_dataset))]
    batch = trainer.data_collator(examples)
    trained, seen = [], []
    for ids, labels in zip(batch["input_ids"].tolist(), batch["labels"].tolist(), strict=True):
        trained.append(tokenizer.decode([t for t, label in zip(ids, labels, strict=True) if label != -100]))
        seen.append(tokenizer.decode(ids))
    assert "ALPHA one" in trained[0] and "CHARLIE three" in trained[1]
    assert not any("BRAVO" in text for text in trained)  # weight 0: never in the loss
    assert "BRAVO two" in seen[1]  # ... but the model reads it as context
    assert not any("question" in text for text in trained)  # user turns are never trained

"""A base model (no chat template) gets one for SFT, its end-of-turn token is trained, and the tuned
model stops there; templates that would leave it unable to stop are fixed or refused."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.training.chat_template import CHATML, check_stop_trained, end_of_turn, prepare_chat_template
from posttrain.errors import BadInput, CheckFailed

ANSWER = "Hello there"


@pytest.fixture(autouse=True)
def _one_thread_when_oversubscribed() -> Iterator[None]:
    """On a shared, oversubscribed CPU, OpenMP spin-waits make 2 torch threads ~10x slower than 1."""
    import torch

    before = torch.get_num_threads()
    if os.getloadavg()[0] > (os.cpu_count() or 1):
        torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def base_model_dir(tiny_model_dir: Path, tmp_path: Path) -> Path:
    """The tiny random model with its chat template removed: a base model as far as posttrain can tell."""
    target = tmp_path / "base"
    shutil.copytree(tiny_model_dir, target)
    (target / "chat_template.jinja").unlink(missing_ok=True)
    config = json.loads((target / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (target / "tokenizer_config.json").write_text(json.dumps(config))
    return target


def _tokenizer(path: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)


class _Model:
    """Enough of a model for the EOS handling: a generation config."""

    def __init__(self, eos: int) -> None:
        from transformers import GenerationConfig

        self.generation_config = GenerationConfig(eos_token_id=eos)


def test_a_base_model_gets_chatml_closed_by_its_own_eos(base_model_dir: Path, capsys: Any) -> None:
    tokenizer = _tokenizer(base_model_dir)
    assert not tokenizer.chat_template
    stop = prepare_chat_template(tokenizer, _Model(tokenizer.eos_token_id), None)
    assert stop == tokenizer.eos_token == "<|im_end|>" and tokenizer.chat_template == CHATML
    assert "the model has none (a base model)" in capsys.readouterr().err
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True
    )
    assert text == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"


def test_an_end_of_turn_other_than_eos_becomes_eos_and_stops_generation(base_model_dir: Path, tmp_path: Path) -> None:
    tokenizer = _tokenizer(base_model_dir)
    model = _Model(tokenizer.eos_token_id)
    template = tmp_path / "t.jinja"
    template.write_text(CHATML.replace("eos_token", "'<|endoftext|>'"))
    assert prepare_chat_template(tokenizer, model, "t.jinja", base_dir=str(tmp_path)) == "<|endoftext|>"
    assert tokenizer.eos_token == "<|endoftext|>"
    assert model.generation_config.eos_token_id == [
        tokenizer.eos_token_id,
        tokenizer.convert_tokens_to_ids("<|im_end|>"),
    ]


def test_a_template_without_a_turn_end_token_is_refused(base_model_dir: Path, tmp_path: Path) -> None:
    tokenizer = _tokenizer(base_model_dir)
    (tmp_path / "plain.jinja").write_text("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}")
    with pytest.raises(BadInput, match="ends an assistant turn with no special token"):
        prepare_chat_template(tokenizer, _Model(0), "plain.jinja", base_dir=str(tmp_path))
    with pytest.raises(BadInput, match="no such file"):
        prepare_chat_template(tokenizer, _Model(0), "missing.jinja", base_dir=str(tmp_path))
    assert end_of_turn(tokenizer, CHATML) == tokenizer.eos_token
    # Through train(): refused on the tokenizer alone, before any model loads or anything is written.
    from harness.training import build_request, train

    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"prompt": "Hi", "completion": ANSWER}) + "\n")
    request = build_request(method="sft", model=str(base_model_dir), data=[str(data)], out=tmp_path / "o")
    request.training.chat_template = str(tmp_path / "plain.jinja")
    with pytest.raises(BadInput, match=r"training\.chat_template: .*plain\.jinja template ends an assistant turn"):
        train(request)
    assert not (tmp_path / "o").exists()


def test_sft_labels_hold_the_end_of_turn_token_unmasked(base_model_dir: Path, tmp_path: Path) -> None:
    from datasets import Dataset
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    from harness.models import load_model_and_tokenizer
    from harness.training import build_request
    from harness.training.lora import lora_config
    from harness.training.methods.sft import build
    from harness.training.stage import common_args

    model, tokenizer = load_model_and_tokenizer(str(base_model_dir), for_training=True)
    prepare_chat_template(tokenizer, model, None)
    request = build_request(method="sft", model=str(base_model_dir), data=["x.jsonl"], out=tmp_path / "o",
                            max_length=64, progress=False)  # fmt: skip
    rows = [{"prompt": [{"role": "user", "content": "Hi"}], "completion": [{"role": "assistant", "content": ANSWER}]}]
    common = common_args(request, tmp_path / "o", "cpu", "fp32", has_eval=False)
    trainer = build(
        request, model, tokenizer, common, Dataset.from_list(rows * 2), None, lora_config(request.lora, "sft")
    )
    assert check_stop_trained(trainer, tokenizer, 64) == 2
    example = {k: trainer.train_dataset[0][k] for k in ("input_ids", "labels")}
    labels = trainer.data_collator([example])["labels"][0]  # as the trainer batches it
    trained = [int(t) for t in labels if t != -100]
    assert tokenizer.decode(trained[:-2]) == ANSWER  # the answer, then its end of turn, then the newline
    assert trained[-2] == tokenizer.eos_token_id
    # The same rows with the end-of-turn masked out (as a collator masking pad == EOS would): refused.
    masked = [{"input_ids": example["input_ids"], "labels": [-100 if t == tokenizer.eos_token_id else t
                                                             for t in example["input_ids"]]}]  # fmt: skip
    fake = type("T", (), {"train_dataset": masked, "data_collator": DataCollatorForLanguageModeling(pad_token_id=0)})
    with pytest.raises(CheckFailed, match="masked out of the labels"):
        check_stop_trained(fake, tokenizer, 64)


@pytest.mark.slow
def test_a_base_model_tuned_with_sft_stops_at_the_end_of_turn(base_model_dir: Path, tmp_path: Path) -> None:
    import torch

    from harness.models import load_model_and_tokenizer
    from harness.training import build_request, train

    data = tmp_path / "hi.jsonl"
    data.write_text((json.dumps({"prompt": "Hi", "completion": ANSWER}) + "\n") * 8)
    out = tmp_path / "sft"
    # Full fine-tuning: the tiny random model's frozen, tiny embeddings cap what LoRA can move its logits by.
    # 60 steps, not 15: at this learning rate 15 steps learned the answer on AVX-512 hosts but not on an AVX2-only
    # one (fp32 or bf16 alike); 40–80 steps learned it in both precisions there.
    train(build_request(method="sft", model=str(base_model_dir), data=[str(data)], out=out, max_steps=60, batch_size=4,
                        max_length=32, learning_rate=5e-2, full_finetune=True, progress=False))  # fmt: skip
    model, tokenizer = load_model_and_tokenizer(str(base_model_dir), adapter=out, device="cpu")
    assert tokenizer.chat_template == CHATML  # saved with the output, read back from there
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True
    )
    ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        generated = model.generate(**ids, max_new_tokens=20, do_sample=False, eos_token_id=tokenizer.eos_token_id,
                                   pad_token_id=tokenizer.pad_token_id)[0, ids["input_ids"].shape[1]:]  # fmt: skip
    assert len(generated) < 20 and int(generated[-1]) == tokenizer.eos_token_id
    assert tokenizer.decode(generated, skip_special_tokens=True) == ANSWER


def test_a_bad_template_file_or_source_is_one_line(tmp_path: Path) -> None:
    from harness.training.chat_template import _chosen_template
    from posttrain.errors import BadInput

    binary = tmp_path / "t.jinja"
    binary.write_bytes(b"\xff\xfe{{ messages }}")
    with pytest.raises(BadInput, match=r"t\.jinja:1: not UTF-8"):
        _chosen_template(object(), str(binary), None)
    empty = tmp_path / "empty-model"
    empty.mkdir()
    (empty / "config.json").write_text('{"model_type": "llama"}')
    with pytest.raises(BadInput, match="no tokenizer to copy the template from"):  # a folder without one
        _chosen_template(object(), str(empty), None)

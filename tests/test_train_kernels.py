"""CPU training kernels: attention per packed example, the fused LoRA linear, frozen weights in bf16."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch

from harness.training import segment_attention
from harness.training.lora import frozen_to_bf16
from harness.training.lora_kernel import fuse_lora_layers

# Two packed rows: three examples and two pad tokens, then two examples.
POSITIONS = torch.tensor([[0, 1, 2, 3, 0, 1, 2, 0, 0, 0], [0, 1, 2, 3, 4, 5, 6, 7, 0, 1]])


def tiny(heads: int = 4, kv_heads: int = 2) -> Any:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=100, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=heads,
        num_key_value_heads=kv_heads, attn_implementation="sdpa",
    )  # fmt: skip
    return LlamaForCausalLM(config)


def logits_and_grad(model: Any, ids: Any, **kwargs: Any) -> tuple[Any, Any]:
    model.zero_grad()
    out = model(input_ids=ids, use_cache=False, **kwargs).logits
    out.square().mean().backward()
    return out.detach(), model.model.layers[0].self_attn.q_proj.weight.grad.clone()


@pytest.mark.parametrize("kv_heads", [4, 2, 1])
def test_each_packed_example_attends_as_if_alone(kv_heads: int) -> None:
    model = tiny(kv_heads=kv_heads)
    ids = torch.randint(0, 100, POSITIONS.shape)
    dense, dense_grad = logits_and_grad(model, ids, position_ids=POSITIONS)  # transformers' block-diagonal mask
    assert segment_attention.enable(model)
    assert model.config._attn_implementation == segment_attention.NAME
    ours, ours_grad = logits_and_grad(model, ids, position_ids=POSITIONS)
    torch.testing.assert_close(ours, dense, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ours_grad, dense_grad, atol=1e-6, rtol=1e-4)
    with torch.no_grad():  # and as the second example run alone
        alone = model(input_ids=ids[:1, 4:7], use_cache=False).logits
    torch.testing.assert_close(ours[:1, 4:7], alone, atol=1e-5, rtol=1e-5)


def test_a_padding_mask_or_a_cache_goes_to_sdpa_unchanged() -> None:
    model = tiny()
    ids = torch.randint(0, 100, (2, 10))
    mask = torch.ones_like(ids)
    mask[0, :3] = 0
    with torch.no_grad():
        plain = model(input_ids=ids, attention_mask=mask).logits
        generated = model.generate(ids[:1, :5], max_new_tokens=5, do_sample=False)
        segment_attention.enable(model)
        torch.testing.assert_close(model(input_ids=ids, attention_mask=mask).logits, plain)
        assert torch.equal(model.generate(ids[:1, :5], max_new_tokens=5, do_sample=False), generated)


def test_sliding_window_models_keep_their_attention() -> None:
    model = tiny()
    model.config.sliding_window = 4
    assert not segment_attention.enable(model)
    assert model.config._attn_implementation == "sdpa"


def test_buckets_group_similar_lengths_longest_first() -> None:
    groups = segment_attention.buckets([90, 200, 85, 30, 190, 2, 29])
    assert groups == [[1, 4], [0, 2], [3, 6], [5]]


def lora_model() -> Any:
    from peft import LoraConfig, get_peft_model

    model = get_peft_model(tiny(), LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", lora_dropout=0.0))
    for name, param in model.named_parameters():
        if "lora_B" in name:  # PEFT starts B at zero, which would hide a wrong adapter gradient
            torch.nn.init.normal_(param, std=0.1)
    return model


def bf16_step(model: Any, ids: Any) -> tuple[Any, dict[str, Any]]:
    model.zero_grad()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(input_ids=ids, use_cache=False).logits.float()
    out.square().mean().backward()
    return out.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_fused_lora_matches_peft_under_bf16_autocast() -> None:
    reference = lora_model()
    exact = copy.deepcopy(reference)
    ids = torch.randint(0, 100, (2, 12))
    frozen_to_bf16(reference, autocast_only=True)
    fused = copy.deepcopy(reference)
    assert fuse_lora_layers(fused) == 14  # 7 adapted linears × 2 layers
    peft_out, peft_grads = bf16_step(reference, ids)
    ours_out, ours_grads = bf16_step(fused, ids)
    assert ours_grads.keys() == peft_grads.keys() and all(g.dtype == torch.float32 for g in ours_grads.values())
    torch.testing.assert_close(ours_out, peft_out, atol=2e-2, rtol=2e-2)
    exact.zero_grad()
    exact(input_ids=ids, use_cache=False).logits.square().mean().backward()  # fp32 throughout: the truth
    for name, grad in ours_grads.items():  # bf16 rounding (~1%) like PEFT's own bf16 path; a wrong term is ~100%
        truth = dict(exact.named_parameters())[name].grad
        ours_error = (grad - truth).norm() / truth.norm()
        peft_error = (peft_grads[name] - truth).norm() / truth.norm()
        assert ours_error < max(3 * peft_error, 0.03), name


def test_fused_lora_steps_aside_outside_autocast_and_with_adapters_disabled() -> None:
    model = lora_model()
    ids = torch.randint(0, 100, (1, 6))
    with torch.no_grad():
        before = model(input_ids=ids).logits
        with model.disable_adapter():
            base = model(input_ids=ids).logits
        fuse_lora_layers(model)
        torch.testing.assert_close(model(input_ids=ids).logits, before)  # no autocast: PEFT's forward
        with model.disable_adapter():
            torch.testing.assert_close(model(input_ids=ids).logits, base)


def test_frozen_weights_go_bf16_and_the_adapter_stays_fp32() -> None:
    model = lora_model()
    changed = frozen_to_bf16(model)
    assert changed == sum(p.numel() for p in model.parameters() if not p.requires_grad) > 0
    assert {p.dtype for p in model.parameters() if p.requires_grad} == {torch.float32}
    assert {p.dtype for p in model.parameters() if not p.requires_grad} == {torch.bfloat16}


def test_a_trainable_base_bias_keeps_peft_s_forward() -> None:
    model = lora_model()
    layer = model.base_model.model.model.layers[0].self_attn.q_proj
    layer.base_layer.bias = torch.nn.Parameter(torch.zeros(layer.base_layer.out_features))  # as bias="all" trains it
    fuse_lora_layers(model)
    bf16_step(model, torch.randint(0, 100, (1, 6)))
    assert layer.base_layer.bias.grad is not None and layer.base_layer.bias.grad.abs().sum() > 0

"""SFT's CPU LM head (harness/training/lm_head.py) against TRL's fused head, on a small random Llama."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch

from harness.training.lm_head import CompactLogProbs, _Transform, compact_lm_head

OUTPUTS = ("log_probs", "entropy", "is_top1")


def _model(**extra: Any) -> Any:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=1000, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, tie_word_embeddings=True, **extra,
    )  # fmt: skip
    return LlamaForCausalLM(config)


def _run(model: Any, ids: torch.Tensor, labels: torch.Tensor, bf16: bool) -> tuple[Any, torch.Tensor]:
    model.zero_grad()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        out = model(input_ids=ids, labels=labels, fused_lm_head=True)
    # TRL's SFT loss, plus an entropy term so that its gradient path is checked too
    (-out.log_probs.sum() / out.label_mask.sum() + 0.1 * out.entropy.sum()).backward()
    grads = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
    return out, grads


@pytest.mark.parametrize("extra", [{}, {"logit_scale": 0.5}, {"final_logit_softcapping": 3.0}])
@pytest.mark.parametrize("bf16", [False, True])
def test_matches_trls_fused_head(extra: dict[str, Any], bf16: bool) -> None:
    from trl.trainer.utils import add_fused_lm_head

    theirs = _model(**extra)
    ours = copy.deepcopy(theirs)
    for model in (theirs, ours):
        add_fused_lm_head(model, outputs=OUTPUTS)
    compact_lm_head(ours)
    ids = torch.randint(0, 1000, (3, 24))
    labels = ids.clone()
    labels[:, :9] = -100  # the prompt
    labels[1, 17:] = -100  # padding
    (a, grad_a), (b, grad_b) = _run(theirs, ids, labels, bf16), _run(ours, ids, labels, bf16)
    assert torch.equal(a.label_mask, b.label_mask)
    assert torch.allclose(a.log_probs, b.log_probs, atol=1e-5)
    assert torch.allclose(a.entropy, b.entropy, atol=1e-5)
    assert torch.equal(a.is_top1, b.is_top1)
    assert (b.log_probs[~b.label_mask] == 0).all() and (b.entropy[~b.label_mask] == 0).all()
    # fp32: the same sums in another order; bf16: both round the logits gradient to bf16 (TRL then sums in fp32)
    assert ((grad_a - grad_b).norm() / grad_a.norm()).item() < (1e-5 if not bf16 else 2e-2)


@pytest.mark.parametrize("transform", [_Transform(1.0, None, 1.0), _Transform(0.7, 3.0, 1.3)])
def test_gradients_are_exact_in_double(transform: _Transform) -> None:
    torch.manual_seed(0)
    hidden = torch.randn(5, 8, dtype=torch.double, requires_grad=True)
    weight = torch.randn(11, 8, dtype=torch.double, requires_grad=True)
    targets = torch.randint(0, 11, (5,))

    def log_probs_and_entropy(h: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        log_probs, entropy, _ = CompactLogProbs.apply(h, w, targets, transform, torch.double)
        return log_probs, entropy

    assert torch.autograd.gradcheck(log_probs_and_entropy, (hidden, weight))


def test_far_below_the_top_logit_is_not_a_subnormal_exp() -> None:
    """Logits 200 below the top one: the clamp keeps exp() off subnormals without changing the result."""
    weight = torch.zeros(4, 2)
    weight[0, 0], weight[1, 0] = 1.0, -199.0  # token 1 sits 200 below token 0 for hidden (1, 0)
    log_probs, entropy, top1 = CompactLogProbs.apply(
        torch.tensor([[1.0, 0.0]]), weight, torch.tensor([0]), _Transform(1.0, None, 1.0), torch.float32
    )
    exact = -torch.log1p(torch.tensor(2 * torch.e**-1.0 + torch.e**-200.0))
    assert torch.allclose(log_probs, exact.float()) and bool(top1[0]) and entropy.item() > 0


def test_a_batch_without_labels_gives_a_zero_loss_that_backpropagates() -> None:
    from trl.trainer.utils import add_fused_lm_head

    model = _model()
    add_fused_lm_head(model, outputs=OUTPUTS)
    compact_lm_head(model)
    ids = torch.randint(0, 1000, (2, 10))
    out = model(input_ids=ids, labels=torch.full_like(ids, -100), fused_lm_head=True)
    out.loss.backward()
    assert out.loss.item() == 0.0 and not out.label_mask.any()

"""SFT's LM head and loss on the CPU: only the positions with a label, in whole-vocabulary tiles.

TRL's ``SFTTrainer`` patches the model with a fused LM head (``trl.trainer.utils.add_fused_lm_head``) that returns
per-token log-probabilities, entropy and top-1 hits without building the ``[tokens, vocab]`` logits. On CUDA its
Triton kernel scores only the positions whose label is not -100. Elsewhere it falls back to torch ops that score
every position, prompt and padding included, in 32k-wide vocabulary tiles with a dozen elementwise passes each and
the gradient matmuls in fp32: on SmolLM2-135M at 8×256 tokens that head took about two thirds of a training step.

:func:`compact_lm_head` puts a forward in front of TRL's that, on the CPU, scores only the labelled positions:
one matmul per token tile over the whole vocabulary in the autocast dtype (bf16 where the CPU has it), the
log-sum-exp, entropy and top-1 in fp32 in a few passes, and a backward that recomputes the tile instead of keeping
the logits (memory stays one tile). It returns TRL's ``FusedCausalLMOutput`` with the same fields, so TRL's loss,
``entropy`` and ``mean_token_accuracy`` metrics are computed from it unchanged. On other devices, and for heads it
does not cover (a bias, sharded weights), the call goes to TRL's head.
"""

from __future__ import annotations

import functools
import types
from typing import Any

import torch

# Logit elements per tile: 16 MiB of fp32 logits whatever the vocabulary (85 tokens at SmolLM2's 49,152), under
# the 32 MiB mmap threshold harness/allocator.py sets, so the tiles reuse heap pages instead of faulting in fresh ones.
TILE_ELEMENTS = 1 << 22
# exp() of arguments below about -87 gives fp32 subnormals, which torch's vectorised exp computes ~20× slower on the
# CPU (a trained model's logits reach 100 below the top one). Clamping z - max here first changes nothing that
# fp32 holds: e^-80 is 1.8e-35 against the top token's 1.
EXP_FLOOR = -80.0


def tile_tokens(vocab: int) -> int:
    return max(16, TILE_ELEMENTS // max(vocab, 1))


class _Transform:
    """The model's logit transform: scale, then an optional tanh soft cap (Gemma), then the temperature."""

    def __init__(self, scale: float, softcap: float | None, temperature: float) -> None:
        self.scale, self.softcap, self.inv_t = scale, softcap, 1.0 / temperature

    def forward(self, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """fp32 transformed logits, and tanh's output where a soft cap applies (its backward needs it)."""
        z = logits.to(torch.promote_types(logits.dtype, torch.float32))  # fp32 at least (fp64 stays)
        if self.scale != 1.0:
            z.mul_(self.scale)
        t = None
        if self.softcap is not None:
            t = torch.tanh(z.div_(self.softcap))
            z = t * self.softcap
        if self.inv_t != 1.0:
            z.mul_(self.inv_t)
        return z, t

    def backward(self, grad: torch.Tensor, t: torch.Tensor | None) -> torch.Tensor:
        """d loss / d logits from d loss / d z, in place."""
        factor = self.inv_t * self.scale
        if t is not None:
            grad.mul_(1 - t * t)
        if factor != 1.0:
            grad.mul_(factor)
        return grad


class CompactLogProbs(torch.autograd.Function):
    """Log-probability of each target, entropy (no gradient kept unless asked) and top-1 hit, for ``hidden @ W.T``."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, transform: _Transform,
        compute_dtype: torch.dtype,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # fmt: skip
        ctx.set_materialize_grads(False)
        n, vocab = hidden.shape[0], weight.shape[0]
        w = weight.to(compute_dtype)
        stats = torch.promote_types(compute_dtype, torch.float32)
        log_z, target_z, entropy = (hidden.new_empty(n, dtype=stats) for _ in range(3))
        top1 = torch.empty(n, dtype=torch.bool, device=hidden.device)
        step = tile_tokens(vocab)
        for start in range(0, n, step):
            rows = slice(start, min(start + step, n))
            z, _ = transform.forward(hidden[rows].to(compute_dtype) @ w.t())
            tgt = targets[rows]
            target_z[rows] = z.gather(1, tgt[:, None]).squeeze(1)
            top1[rows] = z.argmax(1) == tgt  # argmax takes the first maximum: a tie with an earlier token misses
            peak = z.amax(1)
            z.sub_(peak[:, None]).clamp_(min=EXP_FLOOR)  # z - max
            e = torch.exp(z)
            total = e.sum(1)
            # entropy = log Z - E_p[z] = log(sum e) - sum(e · (z - max)) / sum e
            entropy[rows] = torch.log(total) - torch.linalg.vecdot(e, z) / total
            log_z[rows] = peak + torch.log(total)
        ctx.save_for_backward(hidden, weight, targets, log_z, entropy)
        ctx.transform, ctx.compute_dtype = transform, compute_dtype
        ctx.mark_non_differentiable(top1)
        return target_z - log_z, entropy, top1

    @staticmethod
    def backward(  # type: ignore[override]
        ctx: Any, grad_logprobs: torch.Tensor | None, grad_entropy: torch.Tensor | None, _: Any
    ) -> tuple[torch.Tensor | None, ...]:
        hidden, weight, targets, log_z, entropy = ctx.saved_tensors
        needs_hidden, needs_weight = ctx.needs_input_grad[:2]
        transform, compute_dtype = ctx.transform, ctx.compute_dtype
        if (grad_logprobs is None and grad_entropy is None) or not (needs_hidden or needs_weight):
            return None, None, None, None, None
        grad_hidden = torch.empty_like(hidden) if needs_hidden else None
        stats = torch.promote_types(compute_dtype, torch.float32)
        grad_weight = torch.zeros(weight.shape, dtype=stats, device=weight.device) if needs_weight else None
        w = weight.to(compute_dtype)
        step = tile_tokens(weight.shape[0])
        for start in range(0, hidden.shape[0], step):
            rows = slice(start, min(start + step, hidden.shape[0]))
            h = hidden[rows].to(compute_dtype)
            z, t = transform.forward(h @ w.t())
            log_p = z.sub_(log_z[rows, None]).clamp_(min=EXP_FLOOR)
            p = torch.exp(log_p)
            grad = torch.zeros_like(p)
            if grad_logprobs is not None:  # d log p_target / dz_j = 1[j = target] - p_j
                g = grad_logprobs[rows].to(stats)
                grad.addcmul_(p, g[:, None], value=-1.0)
                grad.scatter_add_(1, targets[rows, None], g[:, None])
            if grad_entropy is not None:  # d entropy / dz_j = -p_j (log p_j + entropy)
                g = grad_entropy[rows].to(stats)
                grad.sub_(p.mul_(log_p.add_(entropy[rows, None])).mul_(g[:, None]))
            grad = transform.backward(grad, t).to(compute_dtype)
            if grad_hidden is not None:
                grad_hidden[rows] = (grad @ w).to(hidden.dtype)
            if grad_weight is not None:
                grad_weight.addmm_(grad.t().to(stats), h.to(stats))
        return (
            grad_hidden,
            grad_weight.to(weight.dtype) if grad_weight is not None else None,
            None,
            None,
            None,
        )


def _transform_of(config: Any, temperature: float) -> _Transform:
    """The model's logit scale and soft cap, read as TRL's fused head reads them."""
    text = config.get_text_config()
    scale = getattr(text, "logit_scale", None)
    if scale is None:
        scale = getattr(text, "output_multiplier", None)
    if scale is None:
        scale = getattr(text, "lm_head_multiplier", None)
    if scale is None and getattr(text, "logits_scaling", None) is not None:
        scale = text.logits_scaling if text.model_type == "hyperclovax" else 1 / text.logits_scaling
    softcap = getattr(text, "final_logit_softcapping", None)
    return _Transform(1.0 if scale is None else float(scale), softcap, temperature)


def compact_lm_head(model: Any, temperature: float = 1.0) -> None:
    """Route ``model(..., fused_lm_head=True)`` through :class:`CompactLogProbs` on the CPU (see the module doc).

    ``model`` is the one TRL patched with ``add_fused_lm_head`` (the PEFT model's base model); calls it does not
    cover go to TRL's forward, which this one wraps.
    """
    from trl.trainer.utils import FusedCausalLMOutput

    trl_forward = model.forward
    transform = _transform_of(model.config, temperature)
    backbone_attr = "base_model"

    @functools.wraps(type(model).forward)  # generate() checks its kwargs against this signature
    def forward(self: Any, *args: Any, fused_lm_head: bool = False, **kwargs: Any) -> Any:
        head = self.get_output_embeddings()
        weight = getattr(head, "weight", None)
        covered = (
            fused_lm_head
            and isinstance(weight, torch.Tensor)
            and type(weight) is torch.nn.Parameter
            and weight.device.type == "cpu"
            and getattr(head, "bias", None) is None
            and not kwargs.get("output_router_logits")  # MoE aux loss: TRL's head adds it
        )
        if not covered or weight is None:
            return trl_forward(*args, fused_lm_head=fused_lm_head, **kwargs)
        labels, shift_labels = kwargs.pop("labels", None), kwargs.pop("shift_labels", None)
        num_items = kwargs.pop("num_items_in_batch", None)
        kwargs["use_cache"] = False
        hidden = getattr(self, backbone_attr)(*args, **kwargs).last_hidden_state
        if shift_labels is None:
            hidden, labels = hidden[:, :-1], labels[:, 1:]
        else:
            labels = shift_labels
        mask = labels != -100
        compute_dtype = torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else weight.dtype
        with torch.autocast("cpu", enabled=False):
            scored = CompactLogProbs.apply(hidden[mask], weight, labels[mask], transform, compute_dtype)
        spread = [x.new_zeros(mask.shape).masked_scatter(mask, x) for x in scored]
        count = mask.sum().clamp(min=1) if num_items is None else num_items
        return FusedCausalLMOutput(
            loss=-spread[0].sum() / count, log_probs=spread[0], entropy=spread[1], is_top1=spread[2], label_mask=mask
        )

    model.forward = types.MethodType(forward, model)

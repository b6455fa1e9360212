"""A LoRA linear layer's forward and backward in one autograd function, for bf16 training on the CPU.

PEFT computes ``base(x) + lora_B(lora_A(x)) * scaling`` as separate ops, and autograd runs each one's backward:
besides the matmuls, that is a pass over the ``[tokens, out]`` output for the scaling, one for the sum, and in
the backward one for the scaled gradient and one adding the adapter's input gradient to the base's, per adapted
layer and step. On a 2-core CPU those passes cost about as much as the adapter's own skinny matmuls.
:class:`LoraLinear` folds them into the matmuls: the adapter's update is accumulated into the base output by one
``addmm_`` (scaling as its ``alpha``), the scaling is applied to the ``[tokens, r]`` gradient only, and the
input gradient of the adapter is accumulated into the base's by another ``addmm_``. The products are the same
as PEFT's, in the autocast dtype with fp32 accumulation; the adapter's weight gradients come back in fp32.

:func:`fuse_lora_layers` routes each vanilla LoRA ``Linear`` (one active adapter, no dropout, not merged) through
it while autocast runs on the CPU, and every other call (adapters disabled, merged, dropout, a GPU) through
PEFT's own forward.
"""

from __future__ import annotations

import types
from typing import Any

import torch


class LoraLinear(torch.autograd.Function):
    """``x·Wᵀ + b + scaling · (x·Aᵀ)·Bᵀ`` for frozen ``W``/``b`` and trainable ``A`` [r, in], ``B`` [out, r]."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, lora_a: torch.Tensor,
        lora_b: torch.Tensor, scaling: float, dtype: torch.dtype,
    ) -> torch.Tensor:  # fmt: skip
        rows = x.reshape(-1, x.shape[-1]).to(dtype)
        w, a, b = weight.to(dtype), lora_a.to(dtype), lora_b.to(dtype)
        h = rows @ a.t()  # [tokens, r]
        y = torch.addmm(bias.to(dtype), rows, w.t()) if bias is not None else rows @ w.t()
        y.addmm_(h, b.t(), alpha=scaling)
        ctx.save_for_backward(rows, w, a, b, h)
        ctx.scaling, ctx.x_dtype, ctx.x_shape = scaling, x.dtype, x.shape
        ctx.param_dtypes = (lora_a.dtype, lora_b.dtype)
        return y.reshape(*x.shape[:-1], y.shape[-1])

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:  # type: ignore[override]
        rows, w, a, b, h = ctx.saved_tensors
        g = grad.reshape(-1, grad.shape[-1]).to(rows.dtype)
        gh = (g @ b).mul_(ctx.scaling)  # [tokens, r]: the scaling on the small gradient
        grad_b = torch.mm(g.t(), h).mul_(ctx.scaling) if ctx.needs_input_grad[4] else None
        grad_a = torch.mm(gh.t(), rows) if ctx.needs_input_grad[3] else None
        grad_x = None
        if ctx.needs_input_grad[0]:
            grad_x = (g @ w).addmm_(gh, a).to(ctx.x_dtype).reshape(ctx.x_shape)
        a_dtype, b_dtype = ctx.param_dtypes
        return (
            grad_x,
            None,
            None,
            grad_a.to(a_dtype) if grad_a is not None else None,
            grad_b.to(b_dtype) if grad_b is not None else None,
            None,
            None,
        )


def _fused_forward(self: Any, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
    """A PEFT ``lora.Linear`` forward: :class:`LoraLinear` for the case it covers, PEFT's otherwise."""
    adapters = self.active_adapters
    name = adapters[0] if len(adapters) == 1 else None
    covered = (
        torch.is_autocast_enabled("cpu")
        and not args
        and not kwargs
        and name is not None
        and name in self.lora_A
        and name not in self.lora_variant
        and not self.disable_adapters
        and not self.merged
        and isinstance(self.lora_dropout[name], torch.nn.Identity)
        and type(self.base_layer) is torch.nn.Linear
        and not any(p.requires_grad for p in self.base_layer.parameters())  # an adapter with bias="all" trains b
        and x.device.type == "cpu"
    )
    if not covered:
        return type(self).forward(self, x, *args, **kwargs)
    base = self.base_layer
    dtype = torch.get_autocast_dtype("cpu")
    with torch.autocast("cpu", enabled=False):
        return LoraLinear.apply(
            x, base.weight, base.bias, self.lora_A[name].weight, self.lora_B[name].weight, self.scaling[name], dtype
        )


def fuse_lora_layers(model: Any) -> int:
    """Give each PEFT LoRA ``Linear`` in ``model`` the fused forward (see the module doc); returns how many."""
    from peft.tuners.lora.layer import Linear

    count = 0
    for module in model.modules():
        if type(module) is Linear:
            module.forward = types.MethodType(_fused_forward, module)
            count += 1
    return count

"""Causal attention within each packed example, for packed SFT rows on the CPU.

A packed row (harness/training/packed_rows.py) holds several examples with position_ids restarting at each. Without
a varlen kernel transformers turns that into a dense block-diagonal mask over the whole row, and SDPA's CPU kernel
then computes every score of the row, masked or not, without its causal shortcut: 256² scores per head where three
examples of ~85 tokens need 3 × 85² / 2, about 5× fewer. :func:`segment_attention` reads the examples' spans from
the position_ids instead, batches examples of similar length and runs each batch causally (padding, each pad token
a span of one, attends only to itself: its output is its value). Measured on the 2-core EPYC (SmolLM2-135M,
8 × 256 packed tokens, bf16, torch profiler): attention fell from ~1.1 s to ~0.3 s of a step's CPU time.

It is registered with transformers as the attention implementation :data:`NAME`; its mask function builds no mask
for a packed or plain causal batch (no padding mask, no cache), and SDPA's mask otherwise, which the attention then
hands to transformers' own SDPA forward, as it does every call it does not cover (a cache, a mask, one token).
"""

from __future__ import annotations

from typing import Any

NAME = "posttrain_segments"


def supports(model: Any) -> bool:
    """True for a decoder whose attention is plain causal SDPA today: no sliding window, soft cap or custom mask."""
    config = getattr(model, "config", None)
    text = config.get_text_config() if config is not None and hasattr(config, "get_text_config") else config
    if text is None or getattr(text, "_attn_implementation", None) != "sdpa":
        return False
    sliding = getattr(text, "sliding_window", None) or getattr(text, "use_sliding_window", False)
    layer_types = set(getattr(text, "layer_types", None) or ["full_attention"])
    softcap = getattr(text, "attn_logit_softcapping", None)
    return not sliding and layer_types == {"full_attention"} and softcap is None


def enable(model: Any) -> bool:
    """Switch ``model`` (a transformers model, or a PEFT model around one) to :data:`NAME` where it
    :func:`supports` it; returns whether it did."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    if not supports(base):
        return False
    _register()
    base.set_attn_implementation(NAME)
    return True


def spans(position_ids: Any) -> list[list[tuple[int, int]]]:
    """Each row's examples as (start, end) token spans: a new one starts wherever the position does not grow by one
    (transformers' own packed-sequence rule, ``find_packed_sequence_indices``).

    >>> import torch
    >>> spans(torch.tensor([[0, 1, 2, 0, 1, 0, 0], [0, 1, 2, 3, 4, 5, 6]]))
    [[(0, 3), (3, 5), (5, 6), (6, 7)], [(0, 7)]]
    """
    import torch

    starts = torch.ones(position_ids.shape, dtype=torch.bool)
    starts[:, 1:] = position_ids[:, 1:].cpu() != position_ids[:, :-1].cpu() + 1
    width = position_ids.shape[1]
    rows: list[list[tuple[int, int]]] = []
    for row in starts.tolist():
        first = [t for t, new in enumerate(row) if new]
        rows.append(list(zip(first, [*first[1:], width], strict=True)))
    return rows


BUCKET_FILL = 0.8  # a bucket takes examples at least this share of its longest one (≤ 36% of its scores padding)


def buckets(lengths: list[int], fill: float = BUCKET_FILL) -> list[list[int]]:
    """Indices of ``lengths`` grouped longest first, each group's lengths within ``fill`` of its longest.

    >>> buckets([90, 200, 85, 30, 190, 2])
    [[1, 4], [0, 2], [3], [5]]
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    groups: list[list[int]] = []
    for i in order:
        if groups and lengths[i] >= fill * lengths[groups[-1][0]]:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


# Scores per bucket up to which attention runs as two matmuls and a softmax (:func:`causal_attention`): for the
# short examples of a packed row that fwd+bwd is 2-3× faster than SDPA's CPU flash kernel, whose backward costs
# ~8 ms a call at any size here; its fp32 scores are kept for the backward (32 MiB at this bound, per layer).
MATMUL_SCORES = 1 << 23


def causal_attention(q: Any, k: Any, v: Any, scaling: float, dropout: float, training: bool) -> Any:
    """softmax(q·kᵀ·scaling, causal) · v with the softmax in fp32, as transformers' eager attention computes it;
    ``q`` [n, heads, width, dim], ``k``/``v`` with the key-value heads; returns [n, width, heads, dim].

    Grouped-query heads are not repeated: each key-value head's query heads are stacked along the query axis
    ([n, kv_heads, groups·width, dim]), so the backward has no sum over copies of the keys and values.
    """
    import torch

    n, heads, width, dim = q.shape
    kv_heads = k.shape[1]
    groups = heads // kv_heads
    stacked = (q * scaling).reshape(n, kv_heads, groups * width, dim)
    future = torch.ones(width, width, dtype=torch.bool, device=q.device).triu_(1).repeat(groups, 1)
    scores = (stacked @ k.transpose(-1, -2)).masked_fill_(future, float("-inf"))
    p = scores.softmax(-1, dtype=torch.float32).to(v.dtype)
    if dropout and training:
        p = torch.nn.functional.dropout(p, dropout)
    return (p @ v).reshape(n, heads, width, dim).transpose(1, 2)


def segment_attention(
    module: Any, query: Any, key: Any, value: Any, attention_mask: Any, dropout: float = 0.0,
    scaling: float | None = None, position_ids: Any = None, **kwargs: Any,
) -> tuple[Any, None]:  # fmt: skip
    """transformers' attention-function contract: ``query`` [batch, heads, tokens, dim], ``key``/``value`` with the
    key-value heads; returns ([batch, tokens, heads, dim], None).

    The examples are gathered into a few right-padded batches of similar length (:func:`buckets`), each run as one
    causal SDPA call (a real query never reaches the padding after it), and their tokens gathered back in place.
    """
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    batch, heads, tokens, dim = query.shape
    if attention_mask is not None or position_ids is None or tokens != key.shape[2] or tokens < 2:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout, scaling, **kwargs)
    rows = spans(position_ids.expand(batch, -1))
    if all(len(row) == 1 for row in rows):  # nothing packed: one causal call for the batch
        return sdpa_attention_forward(module, query, key, value, None, dropout, scaling, **kwargs)
    spans_flat = [(b * tokens + start, end - start) for b, row in enumerate(rows) for start, end in row]
    examples = [(first, length) for first, length in spans_flat if length > 1]
    singles = [first for first, length in spans_flat if length == 1]
    flat = [x.transpose(1, 2).reshape(batch * tokens, x.shape[1], dim) for x in (query, key, value)]
    pieces: list[Any] = []
    placed: list[int] = []
    for group in buckets([length for _, length in examples]):
        width = examples[group[0]][1]
        index = torch.tensor(  # right-padded with the example's last token, which no real query attends to
            [first + min(t, length - 1) for first, length in (examples[i] for i in group) for t in range(width)]
        )
        # index_select, not x[index]: its backward is an index_add, ~10× faster on the CPU than index_put's
        q, k, v = (x.index_select(0, index).unflatten(0, (len(group), width)).transpose(1, 2) for x in flat)
        if len(group) * heads * width * width <= MATMUL_SCORES:
            out = causal_attention(q, k, v, dim**-0.5 if scaling is None else scaling, dropout, module.training)
        else:  # [examples, width, heads, dim]
            out = sdpa_attention_forward(module, q, k, v, None, dropout, scaling, **kwargs)[0]
        real = [j * width + t for j, i in enumerate(group) for t in range(examples[i][1])]
        pieces.append(out.reshape(-1, heads, dim).index_select(0, torch.tensor(real)))
        placed.extend(examples[i][0] + t for i in group for t in range(examples[i][1]))
    if singles:  # one-token spans (padding) attend only to themselves: the output is the value
        groups = heads // key.shape[1]
        pieces.append(flat[2].index_select(0, torch.tensor(singles)).repeat_interleave(groups, dim=1))
        placed.extend(singles)
    inverse = torch.empty(batch * tokens, dtype=torch.long)
    inverse[torch.tensor(placed)] = torch.arange(len(placed))
    return torch.cat(pieces).index_select(0, inverse).reshape(batch, tokens, heads, dim), None


def segment_mask(*args: Any, attention_mask: Any = None, **kwargs: Any) -> Any:
    """No mask for causal self-attention over the whole input, packed or not (the attention reads the spans from
    the position_ids); SDPA's mask where there is a padding mask or a cache offset."""
    from transformers.masking_utils import sdpa_mask

    offset = kwargs.get("q_offset", 0)
    whole = isinstance(offset, int) and offset == 0 and kwargs.get("q_length") == kwargs.get("kv_length")
    if attention_mask is None and whole:
        return None
    return sdpa_mask(*args, attention_mask=attention_mask, **kwargs)


def _register() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    AttentionInterface.register(NAME, segment_attention)
    AttentionMaskInterface.register(NAME, segment_mask)

"""Greedy decoding without wasted work: finished rows leave the batch, a shared prompt prefix is prefilled once.

``model.generate`` keeps every row of a batch in every forward pass until the longest answer ends:
a row that emitted EOS after 9 tokens still costs 31 more forward passes at 40 new tokens. On the
support-assistant eval (42 rows, 40 new tokens) 15 rows finish early, which is 264 of 1,680 row-steps
(16%) that ``generate`` computes and throws away. Here a finished row leaves the batch and its KV
cache at once (``DynamicCache.batch_select_indices``), and a whole batch ends when all its rows have.
Leading tokens every prompt shares (the template's system turn) are run once and their KV cache
copied to each row; the rows' own tokens follow as ``[prefix][pads][rest]`` with positions counted
past the prefix, so each row sees the positions and keys it would see alone. Prompts of very different
lengths prefill in groups of similar length (:func:`prefill_groups`), each padded only to its own
longest: 20 RAG-sized prompts (150–600 words, 16 new tokens) took 50–54 s where one padded pass took
87–90 s, the same answers.

The arithmetic per row is what ``generate`` does: the same left-padded prefill with the same
position ids (``cumsum(mask) − 1``, pads at 0), logits of the last position only, ``argmax`` of the
float32 logits, the next position one past the last. tests/test_eval_generate.py checks the answers
against ``model.generate`` and against one row at a time.

Two CPU costs that change no number: the KV cache is written into buffers sized for the whole answer
(``DynamicCache`` concatenates every layer's keys and values again at each step: 0.9–1.4 s of 10–13 s
on the support-assistant eval), and the LM head multiplies in slices of :data:`LM_HEAD_CHUNK` vocabulary
rows (each slice's weights stay in cache while every row of the batch reads them: the 49,152 × 576
head of SmolLM2 took 41 → 28 ms a step at 42 rows, bit-identical logits).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any

LM_HEAD_CHUNK = 2048  # vocabulary rows per matmul slice of the LM head (4.7 MB of fp32 weights at width 576)


def greedy_tokens(
    model: Any,
    input_ids: Any,
    attention_mask: Any,
    *,
    max_new_tokens: int,
    eos_ids: set[int],
    is_stopped: Callable[[list[int]], bool] | None = None,
) -> list[list[int]]:
    """The generated token ids of each row (EOS excluded), stopping a row at EOS or when ``is_stopped``.

    ``is_stopped(tokens)`` is asked after each new token of a row (e.g. "does its text hold a stop
    sequence"); it keeps the token that made it true, as ``generate``'s stopping criteria do.
    """
    import torch
    from transformers import DynamicCache

    rows = input_ids.shape[0]
    generated: list[list[int]] = [[] for _ in range(rows)]
    alive = list(range(rows))  # original row of each row still in the batch
    cache = DynamicCache(config=model.config)  # filled in place by each forward pass
    _preallocate(cache, input_ids.shape[1] + max_new_tokens)
    cache_arg = _cache_keyword(model)
    shared = shared_prefix_length(input_ids, attention_mask) if rows > 1 else 0
    with torch.inference_mode(), _sliced_lm_head(model):
        if shared:  # the prefix once, its KV cache copied to every row; then [prefix][pads][rest]
            prefix = input_ids[:1, input_ids.shape[1] - int(attention_mask[0].sum()) :][:, :shared]
            model(
                input_ids=prefix,
                attention_mask=torch.ones_like(prefix),
                position_ids=torch.arange(shared, device=prefix.device)[None],
                use_cache=True,
                logits_to_keep=1,
                **{cache_arg: cache},
            )
            cache.batch_repeat_interleave(rows)
            input_ids, rest_mask = _drop_prefix(input_ids, attention_mask, shared)
            position_ids = (shared + rest_mask.long().cumsum(-1) - 1).masked_fill(rest_mask == 0, 0)
            attention_mask = torch.cat([attention_mask.new_ones((rows, shared)), rest_mask], dim=-1)
        else:
            position_ids = (attention_mask.long().cumsum(-1) - 1).masked_fill(attention_mask == 0, 0)
        step_ids, step_positions = input_ids, position_ids
        for step in range(max_new_tokens):
            if step == 0:  # the prompts: in groups of similar length where that saves padding
                logits = _prefill(model, cache, cache_arg, step_ids, attention_mask, step_positions, shared)
            else:
                out = model(
                    input_ids=step_ids,
                    attention_mask=attention_mask,
                    position_ids=step_positions,
                    **{cache_arg: cache},
                    use_cache=True,
                    logits_to_keep=1,
                )
                logits = out.logits[:, -1, :]
            next_ids = logits.to(dtype=torch.float32).argmax(-1)
            keep: list[int] = []
            for j, token in enumerate(next_ids.tolist()):  # one host sync per step for the whole batch
                row = alive[j]
                if token in eos_ids:
                    continue
                generated[row].append(token)
                if is_stopped is None or not is_stopped(generated[row]):
                    keep.append(j)
            if not keep:
                break
            step_positions = step_positions[:, -1:] + 1
            attention_mask = torch.cat([attention_mask, attention_mask.new_ones((attention_mask.shape[0], 1))], dim=-1)
            step_ids = next_ids[:, None]
            if len(keep) < len(alive):  # drop the finished rows everywhere, cache included
                index = torch.tensor(keep, device=input_ids.device)
                cache.batch_select_indices(index)
                attention_mask, step_positions, step_ids = attention_mask[index], step_positions[index], step_ids[index]
                alive = [alive[j] for j in keep]
    return generated


PREFILL_SLACK = 0.8  # a row joins a prefill group while its prompt is at least 80% as long as the group's longest
MIN_PREFILL_GROUP = 4  # rows: a smaller group joins the one before it (each forward pass has a fixed cost)


def prefill_groups(lengths: list[int]) -> list[list[int]]:
    """Rows (indices) in groups of similar prompt length, longest first; one group when grouping saves < 10%.

    >>> prefill_groups([20, 19, 18, 17, 10, 10, 9, 9, 3])
    [[0, 1, 2, 3], [4, 5, 6, 7, 8]]
    >>> prefill_groups([20, 19, 18, 17, 16])
    [[0, 1, 2, 3, 4]]
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    groups: list[list[int]] = []
    for i in order:
        if groups and (len(groups[-1]) < MIN_PREFILL_GROUP or lengths[i] >= PREFILL_SLACK * lengths[groups[-1][0]]):
            groups[-1].append(i)
        else:
            groups.append([i])
    if len(groups) > 1 and len(groups[-1]) < MIN_PREFILL_GROUP:
        groups[-2].extend(groups.pop())
    padded = len(lengths) * max(lengths, default=0)
    grouped = sum(len(g) * lengths[g[0]] for g in groups)
    return groups if grouped < 0.9 * padded else [order]


def _prefill(
    model: Any, cache: Any, cache_arg: str, input_ids: Any, attention_mask: Any, position_ids: Any, past: int
) -> Any:
    """The last prompt position's logits of each row, the cache filled as one pass over the padded rows fills it.

    ``attention_mask`` covers the ``past`` tokens already in the cache (a shared prefix) and ``input_ids``;
    ``position_ids`` covers ``input_ids``. Rows of similar length run together (:func:`prefill_groups`),
    each group padded only to its own longest prompt, its keys and values then written right-aligned into
    the batch's cache with zeros in the pad slots (masked, as the pad tokens' keys were). Prefill is
    compute-bound, so the padding it no longer computes is time saved: on the support-assistant eval the
    42 rows' own tokens were 716, padded to 966 in one pass.
    """
    import torch
    from transformers import DynamicCache

    rows, width = input_ids.shape
    lengths = attention_mask[:, past:].sum(-1).tolist()
    buffered = _buffered_layer()
    groups = prefill_groups(lengths) if all(type(layer) is buffered for layer in cache.layers) else []
    if len(groups) < 2:
        out = model(
            input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
            **{cache_arg: cache}, use_cache=True, logits_to_keep=1,
        )  # fmt: skip
        return out.logits[:, -1, :]
    logits: list[Any] = [None] * rows
    for group in groups:
        index = torch.tensor(group, device=input_ids.device)
        own = max(lengths[i] for i in group)
        part = DynamicCache(config=model.config)
        _preallocate(part, past + own)
        if past:  # the shared prefix's keys and values, for these rows
            for whole, layer in zip(cache.layers, part.layers, strict=True):
                layer.update(whole.keys[index], whole.values[index])
        mask = torch.cat([attention_mask[index, :past], attention_mask[index, past + width - own :]], dim=-1)
        out = model(
            input_ids=input_ids[index, width - own :], attention_mask=mask,
            position_ids=position_ids[index, width - own :], **{cache_arg: part}, use_cache=True, logits_to_keep=1,
        )  # fmt: skip
        for whole, layer in zip(cache.layers, part.layers, strict=True):
            whole.place(rows, index, layer.keys[:, :, past:], layer.values[:, :, past:], past, past + width)
        for j, i in enumerate(group):
            logits[i] = out.logits[j, -1, :]
    for layer in cache.layers:
        layer.extend_to(past + width)
    return torch.stack(logits)


def _preallocate(cache: Any, capacity: int) -> None:
    """Swap the cache's plain layers for ones that write into buffers of ``capacity`` tokens (sliding-window
    and other special layers stay as they are)."""
    from transformers.cache_utils import DynamicLayer

    buffered = _buffered_layer()
    cache.layers = [buffered(capacity) if type(layer) is DynamicLayer else layer for layer in cache.layers]


@functools.cache
def _buffered_layer() -> type:
    """A ``DynamicLayer`` whose keys and values are views into buffers of ``capacity`` tokens, grown only if a
    step outruns them: attention sees the same tensors, without a copy of the whole cache at every step.
    (Defined on first use: transformers is imported only when a model runs.)"""
    import torch
    from transformers.cache_utils import DynamicLayer

    class BufferedLayer(DynamicLayer):
        def __init__(self, capacity: int) -> None:
            super().__init__()
            self.capacity, self.length = capacity, 0

        def lazy_initialization(self, key_states: Any, value_states: Any) -> None:
            self.device = key_states.device
            self._keys = self._buffer(key_states, self.capacity)
            self._values = self._buffer(value_states, self.capacity)
            self.is_initialized = True

        @staticmethod
        def _buffer(like: Any, tokens: int) -> Any:
            batch, heads, _, dim = like.shape
            return like.new_empty((batch, heads, tokens, dim))

        def update(self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
            end = self.length + key_states.shape[-2]
            if end > self._keys.shape[-2]:  # longer than planned: grow by at least the capacity again
                grow = max(end - self._keys.shape[-2], self.capacity)
                self._keys = torch.cat([self._keys, self._buffer(self._keys, grow)], dim=-2)
                self._values = torch.cat([self._values, self._buffer(self._values, grow)], dim=-2)
            self._keys[:, :, self.length : end] = key_states
            self._values[:, :, self.length : end] = value_states
            self.length = end
            self._views()
            return self.keys, self.values

        def _views(self) -> None:
            self.keys = self._keys[:, :, : self.length]
            self.values = self._values[:, :, : self.length]

        def get_seq_length(self) -> int:
            return self.length

        def place(self, rows: int, index: Any, keys: Any, values: Any, start: int, end: int) -> None:
            """Write the rows ``index``'s keys and values right-aligned in the token slots [start, end), zeros
            before them (pad slots); the whole batch has ``rows`` rows. :meth:`extend_to` then shows them."""
            if not self.is_initialized:
                shape = (rows, keys.shape[1], 0, keys.shape[3])
                self.lazy_initialization(keys.new_empty(shape), values.new_empty(shape))
            first = end - keys.shape[-2]
            for buffer, new in ((self._keys, keys), (self._values, values)):
                buffer[index, :, start:first] = 0
                buffer[index, :, first:end] = new

        def extend_to(self, end: int) -> None:
            self.length = end
            self._views()

        def batch_repeat_interleave(self, repeats: int) -> None:
            if self.length:
                self._keys = self._keys.repeat_interleave(repeats, dim=0)
                self._values = self._values.repeat_interleave(repeats, dim=0)
                self._views()

        def batch_select_indices(self, indices: Any) -> None:
            if self.length:
                self._keys, self._values = self._keys[indices], self._values[indices]
                self._views()

    return BufferedLayer


@contextlib.contextmanager
def _sliced_lm_head(model: Any) -> Iterator[None]:
    """On a CPU, the output layer multiplies in :data:`LM_HEAD_CHUNK`-row slices while the block runs (a plain
    ``nn.Linear`` head only; an adapter on the head, or a GPU, keeps its own forward)."""
    import torch
    import torch.nn.functional as F

    get_head = getattr(model, "get_output_embeddings", None)
    head: Any = get_head() if callable(get_head) else None
    if type(head) is not torch.nn.Linear or head.weight.device.type != "cpu" or head.out_features < 4 * LM_HEAD_CHUNK:
        yield
        return
    weights = head.weight.split(LM_HEAD_CHUNK)
    biases = head.bias.split(LM_HEAD_CHUNK) if head.bias is not None else [None] * len(weights)

    def forward(hidden: Any) -> Any:
        return torch.cat([F.linear(hidden, w, b) for w, b in zip(weights, biases, strict=True)], dim=-1)

    head.forward = forward  # the instance attribute shadows Linear.forward; hooks still run
    try:
        yield
    finally:
        del head.forward


def _cache_keyword(model: Any) -> str:
    """``cache`` in transformers 5, ``past_key_values`` before (a PEFT wrapper forwards either)."""
    import inspect

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "cache" if "cache" in inspect.signature(base.forward).parameters else "past_key_values"


MIN_SHARED_PREFIX = 8  # tokens; below this the extra forward pass costs more than it saves


def shared_prefix_length(input_ids: Any, attention_mask: Any) -> int:
    """Leading tokens every row's prompt shares (the chat template's system turn, a k-shot block),
    leaving each row at least one token of its own; 0 when under :data:`MIN_SHARED_PREFIX`.

    The support-assistant prompts are ~42 tokens of which 28 are SmolLM2's default system turn and
    the user-turn opener: prefilled once instead of 42 times, 1,176 of 1,890 prefill tokens go.
    """
    lengths = attention_mask.sum(-1)
    width = input_ids.shape[1]
    shortest = int(lengths.min())
    # Real tokens are right-aligned: row r's first real token is at width - lengths[r].
    starts = (width - lengths).tolist()
    first = input_ids[0, starts[0] : starts[0] + shortest]
    common = shortest - 1
    for r, start in enumerate(starts[1:], 1):
        diff = (input_ids[r, start : start + common] != first[:common]).nonzero()
        if len(diff):
            common = int(diff[0])
    return common if common >= MIN_SHARED_PREFIX else 0


def _drop_prefix(input_ids: Any, attention_mask: Any, shared: int) -> tuple[Any, Any]:
    """The rows without their first ``shared`` real tokens, left-padded again to the new width."""
    lengths = attention_mask.sum(-1) - shared
    width = int(lengths.max())
    ids = input_ids.new_zeros((input_ids.shape[0], width))
    mask = attention_mask.new_zeros((input_ids.shape[0], width))
    for r, length in enumerate(lengths.tolist()):
        ids[r, width - length :] = input_ids[r, input_ids.shape[1] - length :]
        mask[r, width - length :] = 1
    return ids, mask

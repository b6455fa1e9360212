"""Batched generation: chat template, left padding, KV cache, stop sequences, a batch size that fits.

Prompts are sorted by length so a batch holds similar lengths (less padding, fewer wasted FLOPs),
then results are put back in the caller's order. Greedy single answers go through
:mod:`harness.evaluation.greedy` (finished rows leave the batch, a shared prefix is prefilled once);
sampling goes through ``model.generate``. On CUDA with vLLM importable, ``backend="vllm"``
hands the same conversations to vLLM instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.evaluation.greedy import greedy_tokens

Conversation = list[dict[str, str]]

# Memory the KV cache of one sequence takes: 2 (K and V) × layers × kv_heads × head_dim × bytes per
# value × tokens. SmolLM2-135M: 2 × 30 × 3 × 64 × 4 B = 46 KB per token in float32, so 64 sequences
# of 640 tokens take 1.9 GB; activations add about as much again, hence the factor 2 below.
# Finished rows leave the batch (harness.evaluation.greedy), so a larger batch no longer waits on its
# longest answer: 42 support-assistant rows × 40 new tokens on 1 thread took 19.6 s CPU as 32 + 10 rows
# and 16.2 s as one batch of 42 (each weight read serves more rows). Memory still caps it below.
_CPU_MAX_BATCH = 64
_GPU_MAX_BATCH = 256
# On a CPU the batch stops paying long before memory runs out (prefill of long prompts is compute-bound
# at any batch), so the cache there gets at most 2 GiB: RAG prompts of ~1,000 tokens batch ~20 rows, not
# 64, and the demo's peak RSS stays under 5 GB whatever the machine has free.
_CPU_CACHE_BUDGET = 2 * 1024**3


def render_prompts(tokenizer: Any, conversations: list[Conversation]) -> list[str]:
    """The chat-templated prompt text of each conversation, ending with the assistant's turn opener."""
    if getattr(tokenizer, "chat_template", None):
        return [tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in conversations]
    # A base model without a template: plain "role: content" lines, the way lm-eval's fallback reads.
    return ["\n\n".join(m["content"] for m in c) + "\n\n" for c in conversations]


def _available_bytes(device: Any) -> int:
    import torch

    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 4 * 1024**3


def pick_batch_size(model: Any, prompt_tokens: int, max_new_tokens: int) -> int:
    """Rows per batch so the KV cache (×2 for activations) fits in half the free memory (2 GiB at most
    on a CPU).

    Example: 46 KB/token × 640 tokens × 2 = 59 MB a row; on a CPU 2 GiB / 59 MB = 36 rows.
    """
    config = getattr(model, "config", None)
    layers = getattr(config, "num_hidden_layers", 32)
    heads = getattr(config, "num_attention_heads", 32)
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    head_dim = getattr(config, "head_dim", None) or getattr(config, "hidden_size", 4096) // heads
    param = next(model.parameters())
    per_token = 2 * layers * kv_heads * head_dim * param.element_size()
    per_row = 2 * per_token * (prompt_tokens + max_new_tokens)
    budget = _available_bytes(param.device) // 2
    if param.device.type != "cuda":
        budget = min(budget, _CPU_CACHE_BUDGET)
    fits = max(1, budget // max(per_row, 1))
    cap = _GPU_MAX_BATCH if param.device.type == "cuda" else _CPU_MAX_BATCH
    return int(min(fits, cap))


def truncate_at_stop(text: str, stop: list[str] | None) -> str:
    """Cut ``text`` at the earliest stop sequence (the stop itself is dropped).

    >>> truncate_at_stop("Paris\\n\\nQuestion: next", ["\\n\\n", "Question:"])
    'Paris'
    >>> truncate_at_stop("Paris", None)
    'Paris'
    """
    cut = len(text)
    for s in stop or []:
        if s:
            at = text.find(s)
            if at != -1:
                cut = min(cut, at)
    return text[:cut]


def _stop_criteria(tokenizer: Any, stop: list[str], prompt_width: int) -> Any:
    """Stops a row once a stop sequence appears in its *generated* text.

    transformers' own ``stop_strings`` also match across the prompt's tail (a template ending in
    "\\n" plus a generated "\\n" already stops at "\\n\\n"); lm-eval, like us, looks only at the
    answer. Only a tail window is decoded each step: enough tokens to hold the longest stop.
    """
    import torch
    from transformers import StoppingCriteria

    window = max(len(tokenizer(s, add_special_tokens=False)["input_ids"]) for s in stop) + 2

    class _Stop(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            tails = input_ids[:, max(prompt_width, input_ids.shape[1] - window) :]
            texts = tokenizer.batch_decode(tails, skip_special_tokens=True)
            return torch.tensor([any(s in t for s in stop) for t in texts], device=input_ids.device)

    return _Stop()


def _stop_check(tokenizer: Any, stop: list[str]) -> Callable[[list[int]], bool]:
    """True once a row's generated text holds a stop sequence; decodes only a tail window, as
    :func:`_stop_criteria` does."""
    window = max(len(tokenizer(s, add_special_tokens=False)["input_ids"]) for s in stop) + 2

    def stopped(tokens: list[int]) -> bool:
        tail = tokenizer.decode(tokens[-window:], skip_special_tokens=True)
        return any(s in tail for s in stop)

    return stopped


def generate_batch(
    model: Any,
    tokenizer: Any,
    conversations: list[Conversation],
    *,
    max_new_tokens: int,
    stop: list[str] | None = None,
    do_sample: bool = False,
    temperature: float = 1.0,
    top_p: float = 1.0,
    num_return_sequences: int = 1,
    batch_size: int | None = None,
    seed: int = 0,
    on_batch: Callable[[list[int], float], None] | None = None,
) -> list[list[str]]:
    """Generate ``num_return_sequences`` answers per conversation; greedy unless ``do_sample``.

    Returns one list of strings per conversation, in the input order, each cut at ``stop``.
    ``on_batch(indices, seconds)`` is told each batch's rows and wall time (for per-example latency).
    """
    import time

    import torch
    from transformers import GenerationConfig

    if not conversations:
        return []
    prompts = render_prompts(tokenizer, conversations)
    lengths = [len(ids) for ids in tokenizer(prompts, add_special_tokens=False)["input_ids"]]
    order = sorted(range(len(prompts)), key=lambda i: -lengths[i])  # longest first: an OOM shows at once
    size = batch_size or pick_batch_size(model, max(lengths), max_new_tokens)
    size = max(1, size // num_return_sequences) if batch_size is None else size
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    config = GenerationConfig(
        max_new_tokens=max_new_tokens,
        do_sample=do_sample,
        temperature=temperature if do_sample else None,
        top_p=top_p if do_sample else None,
        top_k=None,
        num_return_sequences=num_return_sequences,
        pad_token_id=pad_id,
        eos_token_id=tokenizer.eos_token_id,
        use_cache=True,
    )
    if do_sample:
        torch.manual_seed(seed)
    device = next(model.parameters()).device
    greedy = not do_sample and num_return_sequences == 1
    results: list[list[str]] = [[] for _ in prompts]
    start = 0
    while start < len(order):
        batch = order[start : start + size]
        encoded = tokenizer(
            [prompts[i] for i in batch],
            return_tensors="pt",
            padding=True,
            padding_side="left",  # generation appends on the right, so real tokens must end there
            add_special_tokens=False,  # the chat template already wrote the special tokens
        ).to(device)
        started = time.perf_counter()
        try:
            if greedy:  # one answer per row: finished rows leave the batch (see harness.evaluation.greedy)
                tokens = greedy_tokens(
                    model,
                    encoded["input_ids"],
                    encoded["attention_mask"],
                    max_new_tokens=max_new_tokens,
                    eos_ids={tokenizer.eos_token_id},
                    is_stopped=_stop_check(tokenizer, stop) if stop else None,
                )
                texts = tokenizer.batch_decode(tokens, skip_special_tokens=True)
            else:
                with torch.inference_mode():
                    criteria = [_stop_criteria(tokenizer, stop, encoded["input_ids"].shape[1])] if stop else None
                    output = model.generate(**encoded, generation_config=config, stopping_criteria=criteria)
                new_tokens = output[:, encoded["input_ids"].shape[1] :]
                texts = tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        except torch.cuda.OutOfMemoryError:
            if size == 1:
                raise
            torch.cuda.empty_cache()
            size //= 2  # halve and retry the same rows
            continue
        for j, i in enumerate(batch):
            chunk = texts[j * num_return_sequences : (j + 1) * num_return_sequences]
            results[i] = [truncate_at_stop(t, stop) for t in chunk]
        if on_batch is not None:
            on_batch(batch, time.perf_counter() - started)
        start += len(batch)
    return results


def vllm_available() -> bool:
    """True when CUDA is present and vLLM imports (the optional fast backend)."""
    try:
        import torch

        if not torch.cuda.is_available():
            return False
        import vllm  # noqa: F401
    except Exception:
        return False
    return True


def generate_vllm(
    model_path: str,
    conversations: list[Conversation],
    *,
    max_new_tokens: int,
    adapter: str | None = None,
    stop: list[str] | None = None,
    do_sample: bool = False,
    temperature: float = 1.0,
    top_p: float = 1.0,
    num_return_sequences: int = 1,
    seed: int = 0,
) -> list[list[str]]:
    """The same contract as :func:`generate_batch`, run by vLLM (continuous batching, paged KV cache)."""
    from vllm import LLM, SamplingParams

    llm = LLM(model=model_path, enable_lora=adapter is not None, seed=seed, gpu_memory_utilization=0.8)
    tokenizer = llm.get_tokenizer()
    prompts = render_prompts(tokenizer, conversations)
    params = SamplingParams(
        n=num_return_sequences,
        temperature=temperature if do_sample else 0.0,
        top_p=top_p if do_sample else 1.0,
        max_tokens=max_new_tokens,
        stop=list(stop) if stop else None,
        seed=seed,
    )
    lora = None
    if adapter is not None:
        from vllm.lora.request import LoRARequest

        lora = LoRARequest("adapter", 1, adapter)
    outputs = llm.generate(prompts, params, lora_request=lora)
    return [[truncate_at_stop(o.text, stop) for o in out.outputs] for out in outputs]

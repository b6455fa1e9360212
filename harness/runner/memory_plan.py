"""Will it fit? Memory and time of LoRA training for a model shape on a compute class, before anything loads.

A named model's shape comes from a table of well-known ``config.json`` values (no download), or from the
``config.json`` of a local model directory. Memory (bytes), per micro-batch of ``batch × max_length`` tokens
(the longest batch must fit, so memory uses ``max_length``, time the data's mean length):

- weights: bf16 2 B/param (fp32 4); QLoRA stores the linear layers in NF4 with double quantisation,
  4.127 bits ≈ 0.516 B/param, and keeps embeddings and the LM head in bf16;
- LoRA: 16 B per adapter param (fp32 weight 4 + gradient 4 + AdamW's two moments 8); full fine-tuning
  16 B per param on top of the bf16 copy (fp32 master, gradient, two moments);
- activations saved for the backward, bf16, per token per layer ≈ 2·(10·h + 2·kv + 4·inter) bytes (norm
  inputs/outputs, q/k/v/o, residuals, gate/up/SiLU/product of the MLP; SDPA keeps no L² scores),
  plus 2·(6·h + inter) when LoRA dropout copies each adapted input. Gradient checkpointing keeps only each
  layer's input (2·h) and recomputes one layer at a time (one layer's activations for the micro-batch);
- logits: tokens × vocab × 10 B (bf16 logits, their fp32 upcast for the loss, its fp32 gradient);
- fixed: 1.5 GiB CUDA context and workspace, then 10% for allocator fragmentation.

Time: FLOPs per token = 6·N_lora + 4·N_frozen (forward, input gradients; no frozen weight gradients),
+2·N_frozen for the recomputed forward under gradient checkpointing, full fine-tuning 6·N; divided by
the card's bf16 dense peak × an assumed MFU (model FLOPs utilisation): 35% for bf16 LoRA, 25% for QLoRA
(every matmul dequantises its NF4 weights first). These are the planning assumptions, not measurements.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GIB = 2**30
QLORA_BYTES = 4.127 / 8  # NF4 (4 bits) + double-quantised absmax constants (~0.127 bits per weight)
CUDA_CONTEXT_GIB = 1.5
FRAGMENTATION = 1.10
MFU_BF16 = 0.35
MFU_QLORA = 0.25
LOGIT_BYTES = 10  # bf16 logits 2 + fp32 upcast 4 + fp32 gradient 4


@dataclass(frozen=True)
class Compute:
    """A compute class: its memory and bf16 dense peak (the card the class names)."""

    name: str
    memory_gib: float
    peak_tflops: float
    card: str
    weight_bytes: int = 2  # bf16 weights on a GPU; posttrain keeps fp32 weights on a CPU (bf16 autocast)
    qlora: bool = True  # bitsandbytes' 4-bit kernels need CUDA
    context_gib: float = CUDA_CONTEXT_GIB


COMPUTE = {
    "gpu_24gb": Compute("gpu_24gb", 24, 121, "a 24 GB card (L4 121, A10 125, RTX 4090 165 TFLOP/s bf16)"),
    "gpu_80gb": Compute("gpu_80gb", 80, 312, "an 80 GB card (A100 312 TFLOP/s bf16; H100 ~3× faster)"),
}


def cpu_compute(peak_flops: float, memory_gib: float) -> Compute:
    """This machine as a compute class: its RAM and its measured matmul rate."""
    return Compute("cpu", memory_gib, peak_flops / 1e12, "this CPU (measured matmul rate)", 4, False, 0.0)


# config.json fields of common open models (hidden, layers, intermediate, heads, KV heads, vocab, tied),
# copied from their model cards' config.json so a plan needs no download.
_LLAMA3_8B = (4096, 32, 14336, 32, 8, 128256, False)
KNOWN_SHAPES: dict[str, tuple[int, int, int, int, int, int, bool]] = {
    "smollm2-135m": (576, 30, 1536, 9, 3, 49152, True),
    "smollm2-360m": (960, 32, 2560, 15, 5, 49152, True),
    "smollm2-1.7b": (2048, 24, 8192, 32, 32, 49152, True),
    "qwen2.5-0.5b": (896, 24, 4864, 14, 2, 151936, True),
    "qwen2.5-1.5b": (1536, 28, 8960, 12, 2, 151936, True),
    "qwen2.5-3b": (2048, 36, 11008, 16, 2, 151936, True),
    "qwen2.5-7b": (3584, 28, 18944, 28, 4, 152064, False),
    "qwen2.5-14b": (5120, 48, 13824, 40, 8, 152064, False),
    "llama-3.2-1b": (2048, 16, 8192, 32, 8, 128256, True),
    "llama-3.2-3b": (3072, 28, 8192, 24, 8, 128256, True),
    "llama-3-8b": _LLAMA3_8B,
    "llama-3.1-8b": _LLAMA3_8B,
    "llama-2-7b": (4096, 32, 11008, 32, 32, 32000, False),
    "mistral-7b": (4096, 32, 14336, 32, 8, 32768, False),
}


def normalise_name(model: str) -> str:
    """The table key for a model name or hub id.

    >>> normalise_name("meta-llama/Meta-Llama-3.1-8B-Instruct"), normalise_name("mistralai/Mistral-7B-v0.3")
    ('llama-3.1-8b', 'mistral-7b')
    >>> normalise_name("Qwen/Qwen2.5-7B-Instruct"), normalise_name("HuggingFaceTB/SmolLM2-135M-Instruct")
    ('qwen2.5-7b', 'smollm2-135m')
    """
    name = model.rstrip("/").split("/")[-1].lower()
    name = re.sub(r"^meta-", "", name)
    name = re.sub(r"(-(instruct|chat|hf|base|it))+$", "", name)
    return re.sub(r"-v\d+(\.\d+)*$", "", name)


def shape_config(model: str) -> dict[str, Any] | None:
    """A ``config.json``-like dict for ``model``: a local directory's own, a known name's, else None."""
    path = Path(model).expanduser()
    if (path / "config.json").is_file():
        from posttrain.errors import BadInput
        from posttrain.safe_files import read_text

        file = path / "config.json"
        try:
            found = json.loads(read_text(file, "model config"))
        except json.JSONDecodeError as error:
            raise BadInput(f"{file}:{error.lineno}: not valid JSON ({error.msg})") from None
        if not isinstance(found, dict):
            raise BadInput(f"{file}:1: a model config must be a JSON object")
        return dict(found)
    known = KNOWN_SHAPES.get(normalise_name(model))
    if known is None:
        return None
    hidden, layers, inter, heads, kv, vocab, tied = known
    return {
        "hidden_size": hidden, "num_hidden_layers": layers, "intermediate_size": inter,
        "num_attention_heads": heads, "num_key_value_heads": kv, "vocab_size": vocab, "tie_word_embeddings": tied,
    }  # fmt: skip


@dataclass(frozen=True)
class Layout:
    """The shape numbers memory and time need (from :func:`shape_config`)."""

    params: int  # every weight, embeddings included
    matmul_params: int  # weights a token multiplies through (the embedding lookup is free)
    embed_params: int  # embeddings + untied LM head: kept in bf16 under QLoRA
    lora_params: int
    hidden: int
    kv: int
    inter: int
    layers: int
    vocab: int

    @classmethod
    def of(cls, config: dict[str, Any], r: int) -> Layout:
        h, layers, vocab = config["hidden_size"], config["num_hidden_layers"], config["vocab_size"]
        inter = config.get("intermediate_size", 4 * h)
        heads = config.get("num_attention_heads", 1)
        kv = h * config.get("num_key_value_heads", heads) // heads
        per_layer = 2 * h * h + 2 * h * kv + 3 * h * inter  # q, o; k, v; gate, up, down
        tied = config.get("tie_word_embeddings", False)
        embed = vocab * h * (1 if tied else 2)
        lora = r * ((h + h) * 2 + (h + kv) * 2 + (h + inter) * 3) * layers
        return cls(per_layer * layers + embed, per_layer * layers + vocab * h, embed, lora, h, kv, inter, layers, vocab)


@dataclass(frozen=True)
class Option:
    """One way to train: its memory parts (bytes), whether it fits, and its time per step."""

    label: str
    gradient_checkpointing: bool
    qlora: bool
    parts: dict[str, float]
    fits: bool
    step_s: float

    @property
    def total_gib(self) -> float:
        return sum(self.parts.values()) / GIB


def options(
    layout: Layout, *, batch: int, max_length: int, mean_tokens: float, accumulation: int, lora_dropout: float,
    full_finetune: bool, compute: Compute,
) -> list[Option]:  # fmt: skip
    """Every way to train (fastest first) with its memory and time per optimizer step on ``compute``."""
    tokens = batch * max_length  # one micro-batch at its longest
    per_layer = 2 * (10 * layout.hidden + 2 * layout.kv + 4 * layout.inter)
    if lora_dropout > 0 and not full_finetune:
        per_layer += 2 * (6 * layout.hidden + layout.inter)
    logits = tokens * layout.vocab * LOGIT_BYTES
    step_tokens = batch * accumulation * (mean_tokens or max_length)
    frozen = 0 if full_finetune else layout.matmul_params
    quantisable = compute.qlora and not full_finetune
    choices = [(False, False), (True, False)] + ([(False, True), (True, True)] if quantisable else [])
    result = []
    for checkpointing, qlora in choices:
        if qlora:
            weights = (layout.params - layout.embed_params) * QLORA_BYTES + layout.embed_params * 2
        else:
            weights = layout.params * compute.weight_bytes
        trained = layout.params * 16 if full_finetune else layout.lora_params * 16
        if checkpointing:
            acts = tokens * layout.layers * 2 * layout.hidden + tokens * per_layer
        else:
            acts = tokens * layout.layers * per_layer
        parts = {"weights": weights, "trained + optimizer": trained, "activations": acts, "logits": logits}
        total = (sum(parts.values()) * FRAGMENTATION) + compute.context_gib * GIB
        parts["context + fragmentation"] = total - sum(parts.values())
        per_token = (6 * layout.matmul_params) if full_finetune else (6 * layout.lora_params + 4 * frozen)
        if checkpointing:
            per_token += 2 * (layout.matmul_params if full_finetune else frozen)
        mfu = MFU_QLORA if qlora else MFU_BF16
        step_s = step_tokens * per_token / (compute.peak_tflops * 1e12 * mfu)
        label = ("QLoRA 4-bit" if qlora else "full bf16" if full_finetune else "bf16 LoRA") + (
            " + gradient checkpointing" if checkpointing else ""
        )
        result.append(Option(label, checkpointing, qlora, parts, total / GIB <= compute.memory_gib, step_s))
    return result


def compute_rows(
    model: str, config: dict[str, Any], settings: Any, compute: Compute, steps: int, mean_tokens: float
) -> list[tuple[str, str]]:  # fmt: skip
    """The dry-run rows for ``compute``, from an ExperimentConfig's ``training`` and ``lora`` (``settings``)."""
    t, lora = settings.training, settings.lora
    layout = Layout.of(config, lora.r)
    opts = options(
        layout, batch=t.batch_size, max_length=t.max_length, mean_tokens=mean_tokens,
        accumulation=t.gradient_accumulation, lora_dropout=lora.dropout, full_finetune=lora.full_finetune,
        compute=compute,
    )  # fmt: skip
    return plan_rows(model, layout, compute, opts, steps)


def scaffold_choice(model: str, compute: str, batch: int, max_length: int, r: int, dropout: float) -> Option | None:
    """What a scaffold for ``compute`` should turn on for ``model``: the fastest option that fits, else the
    leanest one; None on a CPU, or for a model whose shape is unknown (nothing to decide from).

    >>> scaffold_choice("Qwen/Qwen2.5-7B-Instruct", "gpu_24gb", 8, 512, 16, 0.05).label
    'QLoRA 4-bit + gradient checkpointing'
    >>> scaffold_choice("Qwen/Qwen2.5-7B-Instruct", "gpu_80gb", 8, 512, 16, 0.05).label
    'bf16 LoRA'
    """
    target = COMPUTE.get("gpu_80gb" if compute == "multi_gpu" else compute)  # DDP: each card holds the model
    config = shape_config(model)
    if target is None or config is None:
        return None
    opts = options(
        Layout.of(config, r), batch=batch, max_length=max_length, mean_tokens=max_length, accumulation=1,
        lora_dropout=dropout, full_finetune=False, compute=target,
    )  # fmt: skip
    return choose(opts) or opts[-1]


def choose(opts: list[Option]) -> Option | None:
    """The fastest option that fits (the list is ordered fastest first), else None."""
    return next((o for o in opts if o.fits), None)


def plan_rows(
    model: str, layout: Layout, compute: Compute, opts: list[Option], steps: int
) -> list[tuple[str, str]]:  # fmt: skip
    """Dry-run table rows: the model, the card, each option's memory and time, and the verdict."""
    rows = [
        (
            f"{compute.name}: model",
            f"{model}: {layout.params / 1e9:.2f}B parameters, LoRA {layout.lora_params / 1e6:.1f}M trainable",
        ),
        (
            f"{compute.name}: assumed",
            f"{compute.card}; MFU {MFU_BF16:.0%} bf16 LoRA, {MFU_QLORA:.0%} QLoRA (planning assumptions)",
        ),
    ]
    for o in opts:
        parts = ", ".join(f"{k} {v / GIB:.1f}" for k, v in o.parts.items())
        rows.append(
            (
                f"{compute.name}: {o.label}",
                f"~{o.total_gib:.1f} GiB of {compute.memory_gib:.0f} ({parts}) → {'fits' if o.fits else 'does not fit'}"
                f"; ~{o.step_s:.1f} s/step, ~{_hours(o.step_s * steps)} for {steps} steps",
            )
        )
    best = choose(opts)
    verdict = (
        f"{best.label}: set lora.qlora: {str(best.qlora).lower()}, training.gradient_checkpointing: "
        f"{str(best.gradient_checkpointing).lower()}"
        if best
        else "nothing fits: lower training.batch_size (raise gradient_accumulation) or training.max_length"
    )
    rows.append((f"{compute.name}: plan", verdict))
    return rows


def _hours(seconds: float) -> str:
    """
    >>> _hours(30), _hours(600), _hours(9000)
    ('30 s', '10 min', '2.5 h')
    """
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"

"""``posttrain run --dry-run``: the plan with estimates of steps, tokens, time, memory and disk.

Time comes from a FLOP count divided by this machine's measured matrix-multiply rate times an
efficiency: forward ≈ 2·N FLOPs per token, backward ≈ 2·N more for activation gradients, plus 2·N for
weight gradients when every weight trains (so LoRA ≈ 4·N, full fine-tuning ≈ 6·N per token).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.config import ExperimentConfig

if TYPE_CHECKING:
    from harness.training.resolve import PlannedStep

# Shares of the measured fp32 matmul peak that real work reaches on CPU, calibrated on the support
# demo (2 cores): training ~35% (TRL), batched generation ~10% (small matrices, per-token overheads),
# log-likelihood scoring ~80% (large batches, forward only).
TRAIN_EFFICIENCY = 0.35
GENERATE_EFFICIENCY = 0.10
SCORE_EFFICIENCY = 0.80
# One probe item is ~4 choices × ~25 tokens of context + continuation.
TOKENS_PER_PROBE_ITEM = 4 * 25
# What one process holds besides training: libraries, the eval model, the embedder (measured ~2.5 GiB).
PROCESS_BASE_GIB = 2.5


@dataclass
class ModelShape:
    params: int
    hidden: int
    layers: int
    vocab: int
    lora_params: int


def model_shape(config: dict[str, Any], r: int) -> ModelShape:
    """Parameter counts from a Llama-style ``config.json``.

    >>> s = model_shape({"hidden_size": 576, "num_hidden_layers": 30, "intermediate_size": 1536,
    ...                  "vocab_size": 49152, "num_attention_heads": 9, "num_key_value_heads": 3,
    ...                  "tie_word_embeddings": True}, r=16)
    >>> round(s.params / 1e6), round(s.lora_params / 1e6, 1)
    (134, 4.9)
    """
    h, layers, vocab = config["hidden_size"], config["num_hidden_layers"], config["vocab_size"]
    inter = config.get("intermediate_size", 4 * h)
    heads = config.get("num_attention_heads", 1)
    kv = h * config.get("num_key_value_heads", heads) // heads
    per_layer = 2 * h * h + 2 * h * kv + 3 * h * inter  # q, o; k, v; gate, up, down
    embeddings = vocab * h * (1 if config.get("tie_word_embeddings", False) else 2)
    lora_per_layer = r * ((h + h) * 2 + (h + kv) * 2 + (h + inter) * 3)
    return ModelShape(per_layer * layers + embeddings, h, layers, vocab, lora_per_layer * layers)


def matmul_flops_per_s(seconds: float = 0.3) -> float:
    """This machine's fp32 matrix-multiply rate, measured (1024² matrices, ~0.3 s)."""
    import torch

    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    torch.matmul(a, b)
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        torch.matmul(a, b)
        count += 1
    return 2 * 1024**3 * count / (time.perf_counter() - started)


def _mean_tokens(path: Path | None, tokenizer: Any, sample: int = 200) -> tuple[int, float]:
    from harness.data.io import read_records

    if path is None or not path.exists():
        return 0, 0.0
    rows = read_records(path)
    texts = [json.dumps(row, ensure_ascii=False) for row in rows[:sample]]
    if not texts:
        return len(rows), 0.0
    lengths = [len(ids) for ids in tokenizer(texts)["input_ids"]]
    return len(rows), sum(lengths) / len(lengths)


def estimate(config: ExperimentConfig, exp_dir: Path, compute: str | None = None) -> list[tuple[str, str]]:
    """Rows of (what, estimate) for the dry-run table; ``compute`` (gpu_24gb, gpu_80gb, cpu) adds what fits there."""
    from harness.config import resolve_path
    from harness.models.loading import load_tokenizer, resolve_model
    from harness.runner.memory_plan import COMPUTE, shape_config
    from posttrain.errors import BadInput

    if compute is not None and compute not in (*COMPUTE, "cpu"):  # before anything slow
        raise BadInput(f"--compute {compute}: unknown; choose from {', '.join([*COMPUTE, 'cpu'])}")
    # A well-known name (Qwen2.5-7B, Llama-3.1-8B, ...) is planned from its shape: nothing is downloaded,
    # and token counts come from the default model's tokenizer (close enough for a plan).
    model_config = None if Path(config.model).expanduser().exists() else shape_config(config.model)
    if model_config is None:
        model_dir = resolve_model(config.model)
        model_config = json.loads((model_dir / "config.json").read_text())
        tokenizer = load_tokenizer(str(model_dir))
    else:
        tokenizer = load_tokenizer(None)
    shape = model_shape(model_config, config.lora.r)
    peak = matmul_flops_per_s()
    planned: tuple[int, float] | None = None  # the first trained method's (steps, mean tokens) for `compute`
    cfg_file = exp_dir / "experiment.yaml"
    rows: list[tuple[str, str]] = [
        ("model", f"{config.model}: {shape.params / 1e6:.0f}M parameters"),
        ("this machine", f"{peak / 1e9:.0f} GFLOP/s fp32 matmul (measured)"),
    ]
    per_token = (6 if config.lora.full_finetune else 4) * shape.params
    total_train_s, total_tokens = 0.0, 0
    for step in planned_steps(config, exp_dir):
        label = f"train {step.method}" + (f" (seed {step.seed})" if step.seed != config.training.seed else "")
        if step.request is None:  # trained elsewhere (harness.training.methods): no cost here
            rows.append((label, "not run by posttrain: trained elsewhere, then evaluated here"))
            continue
        request = step.request
        t = request.training
        n_rows, mean_tokens = _mean_tokens(Path(request.data[0].path), tokenizer)
        per_step = t.batch_size * t.gradient_accumulation
        steps = t.max_steps or max(1, math.ceil(t.epochs * n_rows / per_step))
        seq = min(t.max_length, mean_tokens or t.max_length)
        factor = 2 if step.method in ("dpo", "reward") else 1  # chosen + rejected
        tokens = int(steps * per_step * seq * factor)
        seconds = tokens * per_token / (peak * TRAIN_EFFICIENCY)
        if step.method in ("grpo", "rloo"):  # sampling dominates: num_generations completions per prompt
            gen_tokens = steps * per_step * getattr(request, step.method).max_completion_length
            seconds += gen_tokens * 2 * shape.params / (peak * GENERATE_EFFICIENCY)
        if step.method in ("dpo", "kto") and not config.lora.full_finetune:
            seconds *= 1.5  # reference log-probs: one more forward pass with the adapter disabled
        total_train_s += seconds
        total_tokens += tokens
        planned = planned or (steps, seq)
        start = f", from {Path(request.adapter).name}" if request.adapter else ""
        where = step.out.relative_to(exp_dir) if step.out.is_relative_to(exp_dir) else step.out
        rows.append(
            (label, f"{steps} steps × {per_step} examples ≈ {tokens:,} tokens, ~{_dur(seconds)} → {where}{start}")
        )
    eval_rows = sum(
        _mean_tokens(resolve_path(cfg_file, e.path), tokenizer)[0] if e.limit is None else e.limit for e in config.evals
    )
    variants = 1 + (config.baselines.few_shot > 0) + 2 * bool(config.data.knowledge) + bool(config.methods)
    variants += len(config.training.seeds) * bool(config.methods)  # each extra seed's adapter, as `tuned`
    gen_tokens = eval_rows * variants * max(e.max_new_tokens for e in config.evals)
    eval_s = gen_tokens * 2 * shape.params / (peak * GENERATE_EFFICIENCY) * 0.5  # answers stop early on average
    rows.append(("evaluation", f"{eval_rows} examples × {variants} variants, ~{_dur(eval_s)}"))
    index_s = _index_row(config, exp_dir, rows, peak)
    forget_items = sum(_probe_items(task, config.forgetting.limit) for task in config.forgetting.tasks)
    forget_flops = 2 * forget_items * TOKENS_PER_PROBE_ITEM * 2 * shape.params  # base and tuned
    forget_s = forget_flops / (peak * SCORE_EFFICIENCY) if config.methods else 0
    rows.append(("forgetting check", f"~{forget_items} items × 2 models, ~{_dur(forget_s)}"))
    rows.append(("expected wall time", _dur(total_train_s + eval_s + forget_s + index_s + 30)))  # +30 s loading
    t = config.training
    seq = t.max_length
    acts = t.batch_size * seq * (shape.layers * shape.hidden * 4 * 14 + shape.vocab * 4 * 3)
    weights = shape.params * 4 * (4 if config.lora.full_finetune else 1) + shape.lora_params * 16
    peak_gib = (weights + acts) / 2**30 + PROCESS_BASE_GIB
    rows.append(("peak memory", f"~{peak_gib:.1f} GiB (training, plus libraries and the eval model)"))
    adapter = shape.lora_params * 4 if not config.lora.full_finetune else shape.params * 4
    runs = max(1, len(config.methods)) * (1 + len(config.training.seeds))  # each extra seed trains the plan again
    disk = adapter * (1 + 3 * 2) * runs + 50 * 2**20
    rows.append(("disk", f"~{disk / 2**20:.0f} MiB (adapters, 2 checkpoints each, results)"))
    rows.append(("training tokens", f"{total_tokens:,}"))
    if compute is not None:
        rows.extend(_compute_rows(config, model_config, compute, planned, peak))
    return rows


def _compute_rows(
    config: ExperimentConfig, model_config: dict[str, Any], compute: str, planned: tuple[int, float] | None,
    peak: float,
) -> list[tuple[str, str]]:  # fmt: skip
    """What fits on ``compute`` and how long it takes (harness.runner.memory_plan)."""
    import os

    from harness.runner.memory_plan import COMPUTE, compute_rows, cpu_compute

    if compute == "cpu":
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
        target = cpu_compute(peak, ram)
    else:
        target = COMPUTE[compute]
    steps, seq = planned or (config.training.max_steps or 1, float(config.training.max_length))
    return compute_rows(config.model, model_config, config, target, steps, seq)


def planned_steps(config: ExperimentConfig, exp_dir: Path) -> list[PlannedStep]:
    """The train stage's steps as ``posttrain run`` would resolve them now (the same resolver, the same run
    folder: the latest run, or ``runs/(new)`` when a run would start afresh)."""
    from harness.training.resolve import resolve_plan

    latest = exp_dir / "runs" / "latest"
    run_dir = latest.resolve() if latest.is_dir() else exp_dir / "runs" / "(new)"
    return resolve_plan(config, exp_dir, run_dir / "train")


def plan_records(config: ExperimentConfig, exp_dir: Path) -> list[dict[str, Any]]:
    """The dry run's ``plan``: each step's method, seed, folder, starting adapter and request fingerprint."""
    return [
        {
            "method": s.method,
            "seed": s.seed,
            "out": str(s.out),
            "adapter": s.request.adapter if s.request else None,
            "fingerprint": s.request.fingerprint() if s.request else None,
        }
        for s in planned_steps(config, exp_dir)
    ]


def _index_row(config: ExperimentConfig, exp_dir: Path, rows: list[tuple[str, str]], peak: float) -> float:
    """Add the knowledge-index row (chunks ÷ chunks/s on this machine); return its seconds."""
    from harness.config import resolve_path

    knowledge = resolve_path(exp_dir / "experiment.yaml", config.data.knowledge)
    if knowledge is None or not knowledge.exists():
        return 0.0
    from rag_baseline.embeddings import cpu_has_native_bf16
    from rag_baseline.estimate import DEV_MACHINE_FP32_FLOPS, estimate_index

    rag = config.baselines.rag
    store = exp_dir / ".posttrain" / "rag"  # where the run's RAG stage keeps its index
    factor = min(2.0, peak / DEV_MACHINE_FP32_FLOPS)
    est = estimate_index(
        knowledge, store, rag.chunk_size, rag.chunk_overlap, bf16=cpu_has_native_bf16(), machine_factor=factor
    )
    if est.up_to_date:
        rows.append(("index knowledge", f"{est.files} files, {est.chunks:,} chunks: up to date, ~0 s"))
    else:
        rows.append(
            (
                "index knowledge",
                f"{est.files} files ≈ {est.chunks:,} chunks at {est.rate:.0f} chunks/s, {est.rate_source}: "
                f"~{_dur(est.seconds)}",
            )
        )
    return est.seconds


def _probe_items(task: str, limit: int | None) -> int:
    """Items lm-eval will score for ``task``: the shipped probe's subtasks are counted, others guessed."""
    from harness.forgetting import PROBE_GROUP, PROBE_TASKS_DIR

    if task != PROBE_GROUP:
        return limit or 1000
    sizes = [f.read_text().count("\n") for f in sorted(Path(PROBE_TASKS_DIR).glob("*.jsonl"))]
    return sum(min(n, limit) if limit else n for n in sizes)


def _dur(seconds: float) -> str:
    """
    >>> _dur(42), _dur(125), _dur(7300)
    ('42 s', '2.1 min', '2.0 h')
    """
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"

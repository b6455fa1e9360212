"""Training throughput against this CPU's measured matmul peak (bf16 where native), side by side with plain TRL.

One run measures, on the same data and model (SmolLM2-135M-Instruct, `harness/models/default.py`):

1. the matmul peak: ``torch.matmul`` on square fp32 and bf16 matrices sized like the model's (hidden and
   intermediate width), a few timed reps each, the median, at the thread count the training runs use;
2. alternating runs of (a) posttrain's launcher in-process (``harness.training.train(build_request(...))``,
   what ``posttrain train`` calls), (b) a plain TRL script with the SAME settings, and (c) plain TRL with
   SFTConfig's DEFAULTS apart from what must be set (output dir, step count, CPU, no reporting, token count);
3. per run: tokens/s, achieved FLOP/s and its share of the reference peak, from both wall and CPU time.

The reference peak is bf16's on a CPU with bf16 matrix units (AVX512-BF16/AMX), where training runs in bf16;
on one without them (AVX2 only, e.g. some EPYC hosts) bf16 is emulated at ~1 GFLOP/s, training runs in fp32
(``--precision auto``, what `posttrain train` picks), and the fp32 peak is the one to aim at: the bf16 peak is
then not measured at the model's width (a few 1536² matmuls would take a minute) and the line says so.

FLOPs per non-pad token, counted honestly (N_frozen = every frozen matmul weight including the tied LM head,
the embedding lookup is free; N_lora = the adapter weights; N_head = the LM head, vocab × d; d = hidden width,
L = an example's length; s = the share of real tokens that carry a label, i.e. the completion's):

    6·N_lora                   forward, input-gradient and weight-gradient passes of the adapter matrices
  + 4·(N_frozen - N_head)      forward and input-gradient passes of the frozen weights (no weight gradients)
  + 4·N_head·s                 the LM head, forward and input gradient, for the labelled positions only
  + 6·layers·d·L               causal attention scores and values (QKᵀ and AV: 2·L·d forward per token
                               averaged over the causal triangle, ×3 with the backward), per example

Only real tokens count: padding, the masked-out blocks a packed row's attention computes, and LM-head scores of
prompt positions (no label, no loss) are waste. posttrain's CPU head (harness/training/lm_head.py) scores only the
labelled positions; plain TRL's fused head scores every position on a CPU (on CUDA only the labelled ones), and the
same count is used for it, so its extra head work shows as a lower share.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/train_overhead.py [--steps 4] [--repeats 2] [--threads N]

The whole bench runs with the allocator settings `posttrain train` sets for itself (harness/allocator.py:
huge pages, freed buffers kept), for plain TRL too, so the wall ratio is conservative: a plain TRL
script run without them is slower still (``POSTTRAIN_MALLOC=default`` runs the bench without).

The machine is shared: the load average is printed, and with more runnable threads than cores OpenMP's
spin-waits make multi-threaded torch slow and burn CPU time. ``--threads`` defaults to 1 when the load is
above the core count (the peak is measured at the same count, so the share stays comparable); the CPU-time
share is the figure to trust on a loaded machine, the wall ratio comes from alternating runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
# 109 short chat rows (~90 tokens each): packed at max_length 256 they fill ~40 rows.
DATA = [REPO / "examples" / "persona" / "sft.jsonl", REPO / "examples" / "support-assistant" / "train.jsonl"]
FORMULA = (
    "FLOPs/token = 6·N_lora + 4·(N_frozen - N_head) + 4·N_head·s + 6·layers·d·L "
    "(s = labelled share of real tokens; causal attention, L = example length)"
)


def matmul_peak(dtype_name: str, n: int, reps: int = 5, seconds: float = 0.25) -> tuple[float, float]:
    """Median (GFLOP/s wall, GFLOP/s per CPU-second) of an n×n matmul over ``reps`` timed reps."""
    import torch

    dtype = getattr(torch, dtype_name)
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    for _ in range(3):
        torch.matmul(a, b)
    walls, cpus = [], []
    for _ in range(reps):
        count, wall0, cpu0 = 0, time.perf_counter(), time.process_time()
        while not count or time.perf_counter() - wall0 < seconds:  # at least one
            torch.matmul(a, b)
            count += 1
        flop = 2 * n**3 * count / 1e9
        walls.append(flop / (time.perf_counter() - wall0))
        cpus.append(flop / max(time.process_time() - cpu0, 1e-9))
    return statistics.median(walls), statistics.median(cpus)


class TrainClock:
    """Wall and CPU seconds spent inside ``Trainer.train`` (the same wrapper times both sides)."""

    def __init__(self) -> None:
        from transformers import Trainer

        self.wall = self.cpu = 0.0
        original = Trainer.train
        clock = self

        def timed(trainer: Any, *args: Any, **kwargs: Any) -> Any:
            wall0, cpu0 = time.perf_counter(), time.process_time()
            try:
                return original(trainer, *args, **kwargs)
            finally:
                clock.wall, clock.cpu = time.perf_counter() - wall0, time.process_time() - cpu0

        Trainer.train = timed  # type: ignore[method-assign]


def rows_for_trl() -> list[dict[str, Any]]:
    """The bench rows as TRL prompt/completion pairs (what posttrain's prepare step hands TRL)."""
    rows = []
    for line in (line for path in DATA for line in path.read_text().splitlines()):
        messages = json.loads(line)["messages"]
        rows.append({"prompt": messages[:-1], "completion": messages[-1:]})
    return rows


def plain_trl(out: Path, opts: argparse.Namespace, clock: TrainClock, defaults: bool) -> dict[str, float]:
    """What a user would write with TRL directly; ``defaults`` keeps SFTConfig's own training settings."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.trainer_callback import PrinterCallback
    from trl import SFTConfig, SFTTrainer

    from harness.models import resolve_model

    wall0 = time.perf_counter()
    path = resolve_model("smollm2-135m")
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    must = {  # what has to be set to run here and be measured at all
        "output_dir": str(out / "checkpoints"),
        "max_steps": opts.steps,
        "use_cpu": True,
        "report_to": "none",
        "include_num_input_tokens_seen": "non_padding",
        "disable_tqdm": True,
    }
    same = {
        "per_device_train_batch_size": opts.batch_size,
        "learning_rate": 1e-3,
        "max_length": opts.max_length,
        "packing": opts.packing,
        "packing_strategy": "bfd",
        "bf16": opts.precision == "bf16",
        "gradient_checkpointing": False,
        "logging_steps": opts.logging_steps,
        "save_steps": 1000,
        "completion_only_loss": True,
        "seed": 42,
    }
    args = SFTConfig(**must, **({} if defaults else same))
    dropout = 0.05 if defaults else opts.lora_dropout  # LoraConfig has no TRL default; PEFT's usual recipe
    peft = LoraConfig(r=16, lora_alpha=32, lora_dropout=dropout, target_modules="all-linear", task_type="CAUSAL_LM")
    trainer = SFTTrainer(
        model=model, args=args, train_dataset=Dataset.from_list(rows_for_trl()), processing_class=tokenizer,
        peft_config=peft,
    )  # fmt: skip
    trainer.remove_callback(PrinterCallback)  # keep stdout for the figures
    trainer.train()
    trainer.save_model(str(out))
    trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in trainer.model.parameters())
    loss = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    return {
        "wall_s": time.perf_counter() - wall0, "train_s": clock.wall, "train_cpu_s": clock.cpu,
        "tokens": float(trainer.state.num_input_tokens_seen), "n_params": float(total), "n_lora": float(trainable),
        "loss": loss[-1] if loss else float("nan"),  # nan: nothing logged (TRL logs every 10 steps)
        "batch": float(args.per_device_train_batch_size), "max_length": float(args.max_length or 0),
    }  # fmt: skip


def via_posttrain(out: Path, opts: argparse.Namespace, clock: TrainClock, steps: int | None = None) -> dict[str, float]:
    from harness.training import build_request, train

    wall0 = time.perf_counter()
    request = build_request(
        method="sft", out=out, data=[str(path) for path in DATA], max_steps=steps or opts.steps,
        batch_size=opts.batch_size, learning_rate=1e-3, max_length=opts.max_length, packing=opts.packing,
        save_steps=1000, logging_steps=opts.logging_steps, lora_dropout=opts.lora_dropout, precision=opts.precision,
        progress=False,
    )  # fmt: skip
    summary = train(request)
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    loss = [m["loss"] for m in metrics if "loss" in m]
    return {
        "wall_s": time.perf_counter() - wall0, "train_s": clock.wall, "train_cpu_s": clock.cpu,
        "tokens": float(summary.tokens), "n_params": float(summary.total_params),
        "n_lora": float(summary.trainable_params), "loss": loss[-1] if loss else float("nan"),
        "batch": float(opts.batch_size), "max_length": float(opts.max_length),
    }  # fmt: skip


def data_shape(max_length: int) -> tuple[float, float, float]:
    """(attention FLOPs per real token 6·layers·d·E[L²]/E[L], labelled share s, N_head), from the tokenised rows."""
    from transformers import AutoConfig, AutoTokenizer

    from harness.models import resolve_model

    path = resolve_model("smollm2-135m")
    config, tokenizer = AutoConfig.from_pretrained(path), AutoTokenizer.from_pretrained(path)
    lengths, labelled = [], 0

    def count(messages: list[dict[str, Any]], **kwargs: Any) -> int:
        ids = tokenizer.apply_chat_template(messages, tokenize=True, **kwargs)
        return len(ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids)

    for row in rows_for_trl():
        length = min(count(row["prompt"] + row["completion"]), max_length)
        lengths.append(length)
        labelled += max(0, length - count(row["prompt"], add_generation_prompt=True))
    mean_sq_over_mean = sum(n * n for n in lengths) / sum(lengths)
    attention = 6 * config.num_hidden_layers * config.hidden_size * mean_sq_over_mean
    return attention, labelled / sum(lengths), float(config.vocab_size * config.hidden_size)


def flops(run: dict[str, float], shape: tuple[float, float, float]) -> float:
    """Training FLOPs of ``run``: see FORMULA and the module docstring (``shape`` from :func:`data_shape`)."""
    attention, labelled, n_head = shape
    n_frozen = run["n_params"] - run["n_lora"]
    return run["tokens"] * (6 * run["n_lora"] + 4 * (n_frozen - n_head) + 4 * n_head * labelled + attention)


def _spread(values: list[float], fmt: str = "{:.1f}") -> str:
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3, help="Optimizer steps per run.")
    parser.add_argument("--batch-size", type=int, default=8, help="Rows per step (8 × 256 = 2,048 tokens).")
    parser.add_argument("--max-length", type=int, default=256, help="Packed row length (or truncation length).")
    parser.add_argument("--no-packing", dest="packing", action="store_false", help="Padded batches instead.")
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"], help="auto: as posttrain")
    parser.add_argument("--lora-dropout", type=float, default=0.0, help="0 skips PEFT's dropout masks.")
    parser.add_argument("--logging-steps", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2, help="Alternating runs of each variant.")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: 1 when loaded, else all).")
    parser.add_argument("--skip-defaults", action="store_true", help="Leave out plain TRL with its defaults.")
    opts = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from harness.allocator import reexec_tuned

    reexec_tuned(always=True)  # the allocator `posttrain train` runs with, for every variant alike
    import torch

    from harness.models.device import TorchProbe, resolve_placement

    cores = os.cpu_count() or 1
    load_before = os.getloadavg()
    threads = opts.threads or (1 if load_before[0] > cores else cores)
    torch.set_num_threads(threads)
    opts.precision = resolve_placement("cpu", opts.precision, purpose="train").precision
    print(f"cores {cores}, torch threads {threads}, mkldnn {torch.backends.mkldnn.is_available()}, "
          f"load average {load_before[0]:.1f} {load_before[1]:.1f} {load_before[2]:.1f}")  # fmt: skip
    from transformers import AutoConfig

    from harness.models import resolve_model

    shape = AutoConfig.from_pretrained(resolve_model("smollm2-135m"))
    native_bf16 = TorchProbe().cpu_bf16()
    peaks: dict[str, tuple[float, float]] = {}
    for dtype in ("float32", "bfloat16") if native_bf16 else ("float32",):
        for n in (shape.hidden_size, shape.intermediate_size):
            peaks[f"{dtype} {n}"] = matmul_peak(dtype, n)
    if not native_bf16:  # emulated: one small square says how slow, the model's width would take a minute
        peaks[f"bfloat16 {shape.hidden_size}"] = matmul_peak("bfloat16", shape.hidden_size, reps=1, seconds=0.0)
    size = shape.intermediate_size  # the widest square the model's matmuls reach (the vocab aside)
    reference = "bf16" if native_bf16 else "fp32"
    peak = peaks[f"{'bfloat16' if native_bf16 else 'float32'} {size}"]
    print("matmul peak (median of 5 reps, GFLOP/s wall | per CPU-s): " + ", ".join(
        f"{k}² {w:.0f} | {c:.0f}" for k, (w, c) in peaks.items()))  # fmt: skip
    print(f"peak used: {reference} {size}×{size} {peak[0]:.0f} | {peak[1]:.0f}" + (
        "" if native_bf16 else " (no bf16 matrix units here: bf16 is emulated, training runs in fp32)"))  # fmt: skip
    counts = data_shape(opts.max_length)

    clock = TrainClock()
    variants: dict[str, Callable[[Path], dict[str, float]]] = {
        "posttrain": lambda out: via_posttrain(out, opts, clock),
        "plain TRL same settings": lambda out: plain_trl(out, opts, clock, defaults=False),
    }
    if not opts.skip_defaults:
        variants["plain TRL defaults"] = lambda out: plain_trl(out, opts, clock, defaults=True)
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
    tmp = Path(tempfile.mkdtemp(prefix="train-overhead-"))
    try:
        via_posttrain(tmp / "warmup", opts, clock, steps=1)  # imports, caches and the model file warm up
        for i in range(opts.repeats):  # alternate, so drifting load hits every variant alike
            for name, run in variants.items():
                runs[name].append(run(tmp / f"{name.replace(' ', '-')}-{i}"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    load_after = os.getloadavg()
    print(f"config: LoRA r=16 alpha=32 dropout {opts.lora_dropout} all-linear, {opts.steps} steps × "
          f"{opts.batch_size} rows × max_length {opts.max_length}, {opts.precision}, packing "
          f"{'on (BFD; rows kept)' if opts.packing else 'off (padded)'}, logging every {opts.logging_steps}; "
          f"plain TRL defaults: SFTConfig() apart from steps/CPU/reporting")  # fmt: skip
    print(FORMULA + f"; attention ≈ {counts[0] / 1e6:.1f} MFLOP/token, s = {counts[1]:.0%} here")
    for name, results in runs.items():
        first = results[0]
        per_token = flops(first, counts) / first["tokens"]
        tok_s = [r["tokens"] / r["train_s"] for r in results]
        gflops = [flops(r, counts) / r["train_s"] / 1e9 for r in results]
        gflops_cpu = [flops(r, counts) / r["train_cpu_s"] / 1e9 for r in results]
        share = [g / peak[0] for g in gflops]
        share_cpu = [g / peak[1] for g in gflops_cpu]
        print(
            f"{name:24s} batch {first['batch']:.0f}×{first['max_length']:.0f}, {first['tokens']:,.0f} tokens, "
            f"{per_token / 1e6:.0f} MFLOP/token, final loss {first['loss']:.3f}\n"
            f"{'':24s} tokens/s {_spread(tok_s)}; {_spread(gflops)} GFLOP/s = {_spread(share, '{:.0%}')} of "
            f"{reference} peak (wall); {_spread(gflops_cpu)} GFLOP/CPU-s = {_spread(share_cpu, '{:.0%}')} of "
            f"{reference} peak (CPU time); run wall {_spread([r['wall_s'] for r in results])} s"
        )
    ours, same = runs["posttrain"], runs["plain TRL same settings"]
    ratios = [a["wall_s"] / b["wall_s"] for a, b in zip(ours, same, strict=True)]
    cpu_ratios = [a["train_cpu_s"] / b["train_cpu_s"] for a, b in zip(ours, same, strict=True)]
    share_cpu = [flops(r, counts) / r["train_cpu_s"] / 1e9 / peak[1] for r in ours]
    walls = {name: [r["wall_s"] for r in results] for name, results in runs.items()}
    print(f"run wall: posttrain {_spread(walls['posttrain'])} s, plain TRL same settings "
          f"{_spread(walls['plain TRL same settings'])} s")  # fmt: skip
    print(f"posttrain share of {reference} peak (CPU time): {statistics.median(share_cpu):.0%} "
          f"({min(share_cpu):.0%}–{max(share_cpu):.0%}; target ≥ 40%)")  # fmt: skip
    print(f"wall-time ratio posttrain / plain TRL: {statistics.median(ratios):.3f} "
          f"({min(ratios):.3f}–{max(ratios):.3f}; target ≤ 1.05), train CPU-time ratio "
          f"{statistics.median(cpu_ratios):.3f}; {opts.repeats} alternating pairs")  # fmt: skip
    print(f"load average after: {load_after[0]:.1f} {load_after[1]:.1f} {load_after[2]:.1f}")


if __name__ == "__main__":
    main()

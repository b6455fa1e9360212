"""The same LoRA SFT run through `posttrain train` and through a plain TRL script.

Prints (1) the wall-time ratio posttrain / plain TRL (target ≤ 1.05) and (2) the training FLOP/s each
achieved as a share of this machine's fp32 matrix-multiply peak (target ≥ 50%).

FLOPs of one LoRA training token ≈ 4·N + 6·N_lora: the forward (2·N) and the backward through frozen
weights (2·N, activation gradients only; no weight gradients) plus forward+backward+weight-gradient of the
adapter (6·N_lora). N counts every matmul weight including the tied LM head (the embedding lookup is free).
Attention-score FLOPs (~4·layers·seq·d per token, ~2% at 128 tokens) are left out, so the figure is a
slight underestimate. Tokens are the non-padding tokens the trainer saw.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/train_overhead.py [--steps 12] [--precision auto|fp32|bf16]

On a shared machine keep an eye on the printed load average: with more runnable threads than cores,
OpenMP's spin-waits make multi-threaded torch many times slower, and every figure is meaningless.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
DATA = REPO / "examples" / "persona" / "sft.jsonl"


def matmul_peak(dtype_name: str = "float32", n: int = 1024, repeats: int = 20) -> float:
    """Measured GFLOP/s of an n×n matmul on the torch thread pool (2 threads here)."""
    import torch

    dtype = getattr(torch, dtype_name)
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    for _ in range(3):
        a @ b
    best = 0.0
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeats):
            a @ b
        best = max(best, 2 * n**3 * repeats / (time.perf_counter() - start) / 1e9)
    return best


def plain_trl(out: Path, steps: int, precision: str, packing: bool) -> dict[str, float]:
    """What a user would write with TRL directly: the same model, data, LoRA and hyperparameters."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from harness.models import resolve_model

    start = time.perf_counter()
    path = resolve_model("smollm2-135m")
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    rows = []
    for line in DATA.read_text().splitlines():
        messages = json.loads(line)["messages"]
        rows.append({"prompt": messages[:-1], "completion": messages[-1:]})
    args = SFTConfig(
        output_dir=str(out / "checkpoints"),
        max_steps=steps,
        per_device_train_batch_size=4,
        learning_rate=1e-3,
        max_length=128,
        packing=packing,
        bf16=precision == "bf16",
        gradient_checkpointing=False,
        logging_steps=1,
        save_steps=1000,
        report_to="none",
        use_cpu=True,
        include_num_input_tokens_seen="non_padding",
        disable_tqdm=True,
        seed=42,
    )
    peft = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules="all-linear", task_type="CAUSAL_LM")
    trainer = SFTTrainer(
        model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer, peft_config=peft
    )
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # keep stdout for the figures
    train_start = time.perf_counter()
    trainer.train()
    train_s = time.perf_counter() - train_start
    trainer.save_model(str(out))
    return {
        "wall_s": time.perf_counter() - start,
        "train_s": train_s,
        "tokens": float(trainer.state.num_input_tokens_seen),
        **_params(trainer.model),
    }


def via_posttrain(out: Path, steps: int, precision: str, packing: bool) -> dict[str, float]:
    from harness.training import build_request, train

    start = time.perf_counter()
    request = build_request(
        method="sft",
        out=out,
        data=[str(DATA)],
        max_steps=steps,
        batch_size=4,
        learning_rate=1e-3,
        max_length=128,
        packing=packing,
        save_steps=1000,
        precision=precision,
        progress=False,
    )
    summary = train(request)
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    train_s = next(m["train_runtime"] for m in reversed(metrics) if "train_runtime" in m)
    return {
        "wall_s": time.perf_counter() - start,
        "train_s": train_s,
        "tokens": float(summary.tokens),
        "n_params": float(summary.total_params),
        "n_lora": float(summary.trainable_params),
    }


def _params(model: object) -> dict[str, float]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)  # type: ignore[attr-defined]
    total = sum(p.numel() for p in model.parameters())  # type: ignore[attr-defined]
    return {"n_params": float(total), "n_lora": float(trainable)}


def flops(run: dict[str, float]) -> float:
    """4·N_frozen + 6·N_lora per token (see the module docstring)."""
    n_frozen = run["n_params"] - run["n_lora"]
    return run["tokens"] * (4 * n_frozen + 6 * run["n_lora"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    parser.add_argument("--packing", action="store_true", help="Pack examples (BFD, padding-free).")
    parser.add_argument("--repeats", type=int, default=2, help="Alternating runs of each; the fastest counts.")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from harness.training.stage import resolve_precision

    precision = resolve_precision(args.precision, "cpu")
    load = os.getloadavg()[0]
    print(f"cores {os.cpu_count()}, torch threads {torch.get_num_threads()}, load average {load:.1f}")
    if load > (os.cpu_count() or 1):
        print("warning: the machine is oversubscribed; timings are not representative")
    peak32 = matmul_peak("float32")
    peak16 = matmul_peak("bfloat16")
    print(f"matmul peak: fp32 {peak32:.0f} GFLOP/s, bf16 {peak16:.0f} GFLOP/s (1024×1024, best of 3)")

    tmp = Path(tempfile.mkdtemp(prefix="train-overhead-"))
    try:
        via_posttrain(tmp / "warmup", 1, precision, args.packing)  # imports, caches and the model file warm up
        plains, ourses = [], []
        for i in range(args.repeats):  # alternate, so drifting load hits both alike
            plains.append(plain_trl(tmp / f"plain{i}", args.steps, precision, args.packing))
            ourses.append(via_posttrain(tmp / f"posttrain{i}", args.steps, precision, args.packing))
        plain = min(plains, key=lambda r: r["wall_s"])
        ours = min(ourses, key=lambda r: r["wall_s"])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"config: LoRA r=16 all-linear, {args.steps} steps × 4 examples, max_length 128, {precision}, "
          f"packing {'on' if args.packing else 'off'}")  # fmt: skip
    for name, run in (("plain TRL", plain), ("posttrain", ours)):
        rate = flops(run) / run["train_s"] / 1e9
        print(
            f"{name:10s} wall {run['wall_s']:6.1f} s, train {run['train_s']:6.1f} s, {run['tokens']:,.0f} tokens, "
            f"{rate:6.1f} GFLOP/s = {rate / peak32:.0%} of fp32 peak"
        )
    print(f"wall-time ratio posttrain / plain TRL: {ours['wall_s'] / plain['wall_s']:.3f} (target ≤ 1.05; "
          f"fastest of {args.repeats} alternating runs each)")  # fmt: skip


if __name__ == "__main__":
    main()

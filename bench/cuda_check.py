"""The CUDA paths, end to end: SFT, DPO (from the SFT adapter), KTO, GRPO and RLOO, eval, forgetting check.

The CPU machine this project is built on never runs them, so this script is how they are checked on a
GPU: each training and eval step runs `posttrain train` / `posttrain eval` in a fresh process, the forgetting
check runs in-process, and the table shows where each one ran as resolved by the one device policy
(harness.models.device: ``compute.device: auto`` and ``precision: auto`` must give cuda and bf16 on a bf16
card), tokens/s, peak GPU memory and the eval throughput with the batch size chosen to fit memory.

    HF_HUB_OFFLINE=1 python bench/cuda_check.py [--model smollm2-135m|DIR] [--steps 8] [--out DIR]

Without a CUDA device it prints one line and exits 0, so `make bench` can list it on any machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
EVAL_SET = EXAMPLES / "support-assistant" / "eval_format.jsonl"


def posttrain(*args: str) -> tuple[float, str]:
    """Run the CLI in a fresh process; return (wall seconds, stdout); stop the script on failure."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))},
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        print(f"posttrain {' '.join(args)}: exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        sys.exit(1)
    return wall, done.stdout


def train(method: str, model: str, out: Path, steps: int, flags: list[str]) -> dict[str, Any]:
    wall, _ = posttrain("train", "--method", method, "--model", model, "--out", str(out), *flags,
                        "--max-steps", str(steps), "--save-steps", str(steps))  # fmt: skip
    summary = json.loads((out / "train_summary.json").read_text())
    provenance = json.loads((out / "provenance.json").read_text())
    figure = f"{summary['tokens_per_s']:,.0f} tokens/s, {summary['steps']} steps"
    device, precision, memory = provenance.get("device"), provenance.get("precision"), summary["peak_memory_mb"]
    return {"step": method, "wall": wall, "device": device, "precision": precision, "memory": memory, "figure": figure}


def evaluate(model: str, adapter: Path | None, out: Path) -> dict[str, Any]:
    flags = ["--adapter", str(adapter)] if adapter else []
    wall, stdout = posttrain("eval", "--model", model, *flags, "--data", str(EVAL_SET), "--metrics", "regex",
                             "--max-new-tokens", "64", "--out", str(out), "--no-cache", "--json")  # fmt: skip
    summary = json.loads(stdout)
    score = summary["metrics"]["regex"]
    figure = f"regex {score['mean']:.2f} on {score['n']}, {score['n'] / wall:.1f} examples/s incl. start-up"
    device, _, dtype = (summary.get("ran_on") or "?/?").partition("/")  # where the eval's model really was
    precision = {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32"}.get(dtype, dtype)
    step = "eval" + (" +sft" if adapter else "")
    return {"step": step, "wall": wall, "device": device, "precision": precision, "memory": None, "figure": figure}


def forgetting(model: str, adapter: Path, out: Path) -> dict[str, Any]:
    """The forgetting check in-process (it has no command of its own): lm-eval on base and base + adapter."""
    from harness.forgetting import run_forgetting_check

    started = time.perf_counter()
    result = run_forgetting_check(model, adapter, limit=40, out_dir=out)
    wall = time.perf_counter() - started
    device, _, precision = (result.ran_on or "?/?").partition("/")
    delta = result.overall.delta if result.overall else float("nan")
    figure = f"delta {delta:+.3f} on {sum(t.base.n for t in result.tasks.values())} items, both runs"
    return {"step": "forgetting", "wall": wall, "device": device, "precision": precision, "memory": None,
            "figure": figure}  # fmt: skip


def kto_data(out: Path) -> Path:
    """The persona pairs unpaired into KTO rows (in-voice answer good, plain answer bad)."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "feedback.jsonl"
    with path.open("w", encoding="utf-8") as sink:
        for line in (EXAMPLES / "persona" / "preference.jsonl").read_text().splitlines():
            row = json.loads(line)
            for completion, label in ((row["chosen"], True), (row["rejected"], False)):
                sink.write(json.dumps({"prompt": row["prompt"], "completion": completion, "label": label}) + "\n")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--out", default="")
    parser.add_argument("--anywhere", action="store_true", help="Run without CUDA too (to try the script).")
    args = parser.parse_args()

    import torch

    if torch.cuda.is_available():
        name, bf16 = torch.cuda.get_device_name(0), torch.cuda.is_bf16_supported()
        print(f"device: {name}, torch {torch.__version__}, bf16 supported: {bf16}")
    elif not args.anywhere:
        print("cuda paths: skipped (no CUDA device here; run it on a GPU machine)")
        return 0
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="cuda-check-"))
    rows = [train(method, args.model, out / method, steps, flags) for method, steps, flags in (
        ("sft", args.steps, ["--data", str(EXAMPLES / "support-assistant" / "train.jsonl"), "--max-length", "256"]),
        ("dpo", args.steps, ["--data", str(EXAMPLES / "persona" / "preference.jsonl"), "--adapter", str(out / "sft")]),
        ("kto", args.steps, ["--data", str(kto_data(out)), "--adapter", str(out / "sft")]),
        ("grpo", max(2, args.steps // 2), ["--data", str(EXAMPLES / "arithmetic" / "prompts.jsonl"),
                                           "--reward", "numeric", "--num-generations", "4",
                                           "--batch-size", "8", "--max-completion-length", "32"]),
        ("rloo", max(2, args.steps // 2), ["--data", str(EXAMPLES / "arithmetic" / "prompts.jsonl"),
                                           "--reward", "numeric", "--num-generations", "4",
                                           "--batch-size", "8", "--max-completion-length", "32"]),
    )]  # fmt: skip
    rows += [evaluate(args.model, None, out / "eval"), evaluate(args.model, out / "sft", out / "eval-sft")]
    rows.append(forgetting(args.model, out / "sft", out / "forgetting"))
    print(f"{'step':10} {'wall s':>7}  {'device':6} {'precision':9}  {'peak MB':>11}  figure")
    for row in rows:
        memory = f"{row['memory']:,.0f}" if row["memory"] is not None else "—"
        cells = f"{row['step']:10} {row['wall']:7.1f}  {row['device']:6} {row['precision']:9}  {memory:>11}"
        print(f"{cells}  {row['figure']}")
    bad = [r["step"] for r in rows if r["device"] != "cuda" or r["precision"] not in ("bf16", "fp16")]
    print("cuda paths: " + ("ok" if not bad else f"NOT on cuda/bf16: {', '.join(map(str, bad))}"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

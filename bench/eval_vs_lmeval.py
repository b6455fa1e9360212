"""`posttrain eval` against lm-evaluation-harness's ``hf`` backend: same rows, model, prompts, decoding.

Each round runs both as fresh processes (the whole process counts: imports, model load, generation,
scoring, writing), alternating which goes first, so a change in the machine's load hits both alike.
lm-eval reads the same JSONL through a local ``generate_until`` task (YAML + loader), applies the same
chat template itself (``apply_chat_template=True``), greedy, the same ``max_gen_toks``, float32 like
posttrain on a CPU, and loads the model itself (``model="hf"``). It is driven through
``simple_evaluate`` with ``include_defaults=False`` — leaner than its CLI, which first indexes its
thousands of bundled task files — so the peer is measured at its fastest.

Prints each run's wall and CPU seconds, medians with min–max, the greedy outputs compared row by row,
``speed-up posttrain vs lm-eval: X.XXx`` (median wall lm-eval ÷ median wall posttrain; target ≥ 2×)
and the load average at start and end (2 shared cores: wall time is "loaded", CPU time less so).

    HF_HUB_OFFLINE=1 .venv/bin/python bench/eval_vs_lmeval.py [--rounds 3] [--max-new-tokens 40]
        [--data examples/support-assistant/eval.jsonl] [--lm-eval-batch-size 16] [--precision fp32|bf16]

``--precision bf16`` runs both tools in bf16 (posttrain's ``--precision``, lm-eval's ``dtype``). On this CPU bf16
is faster for both, but its greedy outputs depend on the batch a row shares (most of the 42 rows then differ
between the tools and from fp32), which is why posttrain's CPU inference default stays fp32.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
DATA = REPO / "examples" / "support-assistant" / "eval.jsonl"
TASK = "posttrain_bench"
DTYPES = {"fp32": "float32", "bf16": "bfloat16"}

LOADER = """
import json
from pathlib import Path

def load(file, **_):
    import datasets
    rows = [json.loads(line) for line in (Path(__file__).parent / file).read_text().splitlines() if line.strip()]
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)})
"""

# `until` is the tokenizer's EOS, as `posttrain eval` without --stop: left out, lm-eval would stop at
# its few-shot delimiter "\n\n" as well (5 of these 42 answers differ then).
TASK_YAML = """
task: %s
custom_dataset: !function utils.load
dataset_kwargs:
  file: eval.jsonl
test_split: test
output_type: generate_until
doc_to_text: "{{prompt}}"
doc_to_target: "{{reference}}"
generation_kwargs:
  until: %s
  max_gen_toks: %d
  do_sample: false
  temperature: 0.0
metric_list:
  - metric: exact_match
    aggregation: mean
    higher_is_better: true
metadata:
  version: 1.0
"""

LM_EVAL_RUN = """
import json, sys
from lm_eval import simple_evaluate
from lm_eval.tasks import TaskManager
model_dir, tasks, batch_size, out, task, dtype = sys.argv[1:7]
result = simple_evaluate(
    model="hf",
    model_args=f"pretrained={model_dir},dtype={dtype}",
    tasks=[task],
    task_manager=TaskManager(include_path=tasks, include_defaults=False),
    batch_size=int(batch_size),
    device="cpu",
    apply_chat_template=True,
    log_samples=True,
    bootstrap_iters=0,
)
samples = sorted(result["samples"][task], key=lambda s: s["doc_id"])
json.dump([s["filtered_resps"][0] for s in samples], open(out, "w"))
"""


def _timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall s, CPU s of the child and its children) of one process run to completion."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{command[:3]} failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-4000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def run_posttrain(
    data: Path, max_new_tokens: int, precision: str, out: Path, env: dict[str, str]
) -> tuple[float, float, list[str]]:
    posttrain = str(Path(sys.executable).parent / "posttrain")
    command = [posttrain, "eval", "--data", str(data), "--max-new-tokens", str(max_new_tokens)]
    command += ["--precision", precision]
    wall, cpu = _timed([*command, "--no-cache", "--out", str(out), "--json"], env)
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text(encoding="utf-8").splitlines()]
    return wall, cpu, [r["output"] for r in rows]


def run_lm_eval(
    model_dir: Path, tasks: Path, batch_size: int, precision: str, out: Path, env: dict[str, str]
) -> tuple[float, float, list[str]]:
    dtype = DTYPES[precision]
    command = [sys.executable, "-c", LM_EVAL_RUN, str(model_dir), str(tasks), str(batch_size), str(out), TASK, dtype]
    wall, cpu = _timed(command, env)
    return wall, cpu, json.loads(out.read_text(encoding="utf-8"))


def _spread(values: list[float]) -> str:
    return f"median {statistics.median(values):6.1f} s (min–max {min(values):.1f}–{max(values):.1f})"


def compare(ours: list[str], theirs: list[str]) -> tuple[int, str | None]:
    """Rows whose greedy outputs are identical, and the first difference shown (None when all agree)."""
    same = sum(a == b for a, b in zip(ours, theirs, strict=True))
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        if a != b:
            return same, f"row {i}:\n    posttrain: {a!r}\n    lm-eval:   {b!r}"
    return same, None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=40)
    parser.add_argument("--data", type=Path, default=DATA)
    # 16 is what lm-eval was measured with before; larger batches did not make it faster here (more
    # rows wait for the longest answer). posttrain picks its own size to fit memory.
    parser.add_argument("--lm-eval-batch-size", type=int, default=16)
    parser.add_argument("--precision", choices=sorted(DTYPES), default="fp32", help="both tools run in it")
    # Both tools get the same thread count. With more runnable threads than cores (a shared machine),
    # OpenMP's spin-waits make 2-thread torch several times slower and its CPU time balloon, for both.
    parser.add_argument("--threads", type=int, default=None, help="default: 1 when loaded, else torch's own")
    args = parser.parse_args()
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    threads = args.threads or (1 if os.getloadavg()[0] > (os.cpu_count() or 1) else None)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    os.environ.update(env)

    from transformers import AutoTokenizer

    from harness.models import resolve_model

    model_dir = resolve_model("smollm2-135m")  # converts the default model once, before any timing
    eos = AutoTokenizer.from_pretrained(model_dir).eos_token
    load_start = os.getloadavg()
    rows = [line for line in args.data.read_text(encoding="utf-8").splitlines() if line.strip()]
    print(f"{len(rows)} rows of {args.data.relative_to(REPO) if args.data.is_relative_to(REPO) else args.data}, "
          f"greedy, max_new_tokens={args.max_new_tokens}, model {model_dir.name}, {args.precision} on CPU; "
          f"lm-eval {_version('lm_eval')} hf backend batch size {args.lm_eval_batch_size}, "
          f"threads {threads or 'torch default'}")  # fmt: skip
    print(
        f"load average at start: {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f} ({os.cpu_count()} cores)"
    )

    walls: dict[str, list[float]] = {"posttrain": [], "lm-eval": []}
    cpus: dict[str, list[float]] = {"posttrain": [], "lm-eval": []}
    outputs: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory(prefix="eval-vs-lmeval-") as tmp:
        work = Path(tmp)
        tasks = work / "tasks"
        tasks.mkdir()
        (tasks / "utils.py").write_text(LOADER, encoding="utf-8")
        (tasks / "eval.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
        (tasks / f"{TASK}.yaml").write_text(
            TASK_YAML % (TASK, json.dumps([eos]), args.max_new_tokens), encoding="utf-8"
        )
        for n in range(args.rounds):
            order = ["posttrain", "lm-eval"] if n % 2 == 0 else ["lm-eval", "posttrain"]
            for name in order:
                if name == "posttrain":
                    wall, cpu, out = run_posttrain(args.data, args.max_new_tokens, args.precision, work / f"pt{n}", env)
                else:
                    batch = args.lm_eval_batch_size
                    wall, cpu, out = run_lm_eval(model_dir, tasks, batch, args.precision, work / f"lm{n}.json", env)
                walls[name].append(wall)
                cpus[name].append(cpu)
                if outputs.setdefault(name, out) != out:
                    print(f"  note: {name} gave different outputs in round {n + 1} than in round 1")
                print(f"round {n + 1}: {name:<10} wall {wall:6.1f} s  cpu {cpu:6.1f} s  load {os.getloadavg()[0]:.2f}",
                      flush=True)  # fmt: skip
    print()
    for name in walls:
        print(f"{name:<10} wall {_spread(walls[name])}   cpu {_spread(cpus[name])}")
    same, first = compare(outputs["posttrain"], outputs["lm-eval"])
    print(f"identical greedy outputs: {same}/{len(rows)} ({100 * same / max(len(rows), 1):.0f}%)")
    if first:
        print(f"first difference, {first}")
    ratio = statistics.median(walls["lm-eval"]) / statistics.median(walls["posttrain"])
    cpu_ratio = statistics.median(cpus["lm-eval"]) / statistics.median(cpus["posttrain"])
    pairs = [b / a for a, b in zip(walls["posttrain"], walls["lm-eval"], strict=True)]
    print(f"speed-up posttrain vs lm-eval: {ratio:.2f}x (wall, medians; per round {min(pairs):.2f}–{max(pairs):.2f}x; "
          f"cpu {cpu_ratio:.2f}x; target ≥ 2x: {'met' if ratio >= 2 else 'NOT met'})")  # fmt: skip
    load_end = os.getloadavg()
    print(f"load average at end: {load_end[0]:.2f} {load_end[1]:.2f} {load_end[2]:.2f}")
    return 0 if same == len(rows) else 1


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


if __name__ == "__main__":
    raise SystemExit(main())

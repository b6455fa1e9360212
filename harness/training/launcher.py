"""``--launcher accelerate --num-processes N``: rerun the same stage under ``accelerate launch``.

The parent writes the resolved request to ``OUT/launch_request.json`` and an accelerate config (unless the
experiment names one), runs ``python -m accelerate.commands.launch --config_file CFG -m
harness.training.worker REQUEST``, and reads the summary the main process wrote. Without GPUs the
config asks for DDP over gloo on CPU processes (torchrun starts them; each takes its share of the batch).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from harness.training.callbacks import TrainSummary
from harness.training.request import TrainRequest
from posttrain.errors import BadInput, CheckFailed

REQUEST_FILE = "launch_request.json"


def accelerate_config(num_processes: int, cuda: bool, port: int = 29511) -> str:
    """A DDP accelerate config: one machine, ``num_processes`` workers, GPUs when present, else gloo on CPU.

    >>> print(accelerate_config(2, cuda=False).splitlines()[1])
    distributed_type: MULTI_GPU
    """
    # accelerate's launcher starts several local processes only through torchrun (its MULTI_GPU path);
    # with no GPU each worker falls back to CPU and torch.distributed picks the gloo backend.
    return "\n".join(
        [
            "compute_environment: LOCAL_MACHINE",
            "distributed_type: MULTI_GPU" if num_processes > 1 else "distributed_type: 'NO'",
            "machine_rank: 0",
            "main_training_function: main",
            "mixed_precision: 'no'",  # the trainer's bf16/fp16 setting decides; see stage.resolve_precision
            "num_machines: 1",
            f"num_processes: {num_processes}",
            "rdzv_backend: static",
            "same_network: true",
            f"main_process_port: {port}",
            "gpu_ids: all",
            "use_cpu: false",
            "",
        ]
    )


def launch(request: TrainRequest) -> TrainSummary:
    """Run ``request`` under accelerate launch and return the summary its main process wrote."""
    import torch

    out = Path(request.out)
    out.mkdir(parents=True, exist_ok=True)
    child = request.model_copy(update={"compute": request.compute.model_copy(update={"launcher": "none"})})
    request_file = out / REQUEST_FILE
    request_file.write_text(child.model_dump_json(indent=2), encoding="utf-8")
    config_file = _config_file(request, out, torch.cuda.is_available())
    command = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(config_file),
        "--num_processes",
        str(request.compute.num_processes),
        "-m",
        "harness.training.worker",  # the worker module, so this one and the stage do not import each other
        str(request_file),
    ]
    env = {**os.environ, "POSTTRAIN_LAUNCHED": "1"}
    if not torch.cuda.is_available():
        # Split the cores between the workers instead of letting each spawn a thread per core.
        env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // request.compute.num_processes)))
    result = subprocess.run(command, env=env, check=False)
    summary_file = out / "train_summary.json"
    if result.returncode != 0 or not summary_file.is_file():
        raise CheckFailed(f"accelerate launch exited with {result.returncode}; its output is above ({config_file})")
    return TrainSummary.model_validate_json(summary_file.read_text())


def _config_file(request: TrainRequest, out: Path, cuda: bool) -> Path:
    given = request.compute.accelerate_config
    if given:
        path = Path(given)
        if not path.is_absolute() and request.base_dir:
            path = Path(request.base_dir) / path
        if not path.is_file():
            raise BadInput(f"compute.accelerate_config {given}: no such file")
        return path
    path = out / "accelerate.yaml"
    path.write_text(accelerate_config(request.compute.num_processes, cuda), encoding="utf-8")
    return path

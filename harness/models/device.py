"""The one device and precision policy: ``compute.device`` / ``compute.precision`` → where a model runs.

Training, evaluation, the forgetting check, best-of-N and distillation all ask :func:`resolve_placement`.
``auto`` means CUDA when present, in bf16 where the card supports it (fp16 otherwise); on a CPU,
inference stays in fp32 and training uses bf16 autocast only on CPUs with bf16 matrix units
(AVX512-BF16/AMX, reached through oneDNN), where a bf16 matmul runs ~2.2× faster than fp32 on this
project's 2-core EPYC (bench/train_overhead.py measures both: ~200 vs ~91 GFLOP per CPU-second on one
thread), while the weights stay fp32. What the machine offers comes from a *probe*,
so a test can describe a CUDA machine without one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from posttrain.errors import BadInput

Purpose = Literal["train", "infer"]
DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


class Probe(Protocol):
    def cuda_available(self) -> bool: ...
    def cuda_bf16(self) -> bool: ...
    def mps_available(self) -> bool: ...
    def cpu_bf16(self) -> bool: ...


class TorchProbe:
    """The real machine, asked through torch (imported only when asked)."""

    def cuda_available(self) -> bool:
        import torch

        return bool(torch.cuda.is_available())

    def cuda_bf16(self) -> bool:
        import torch

        return bool(torch.cuda.is_bf16_supported())

    def mps_available(self) -> bool:
        import torch

        return bool(torch.backends.mps.is_available())

    def cpu_bf16(self) -> bool:
        """bf16 matrix units the CPU has *and* torch can reach: oneDNN (mkldnn) runs bf16 matmuls on them;
        without it a bf16 matmul is emulated and slower than fp32."""
        try:
            flags = Path("/proc/cpuinfo").read_text()
        except OSError:
            return False
        if "avx512_bf16" not in flags and "amx_bf16" not in flags:
            return False
        import torch

        return bool(torch.backends.mkldnn.is_available())


@dataclass(frozen=True)
class FakeProbe:
    """A machine described by hand (tests): ``FakeProbe(cuda=True, bf16=True)`` is a bf16 GPU box."""

    cuda: bool = False
    bf16: bool = False
    mps: bool = False
    cpu_bf16_units: bool = False

    def cuda_available(self) -> bool:
        return self.cuda

    def cuda_bf16(self) -> bool:
        return self.cuda and self.bf16

    def mps_available(self) -> bool:
        return self.mps

    def cpu_bf16(self) -> bool:
        return self.cpu_bf16_units


_probe: list[Probe] = [TorchProbe()]


@contextlib.contextmanager
def using_probe(probe: Probe) -> Iterator[None]:
    """Resolve placements against ``probe`` inside the block (how tests describe another machine)."""
    _probe.insert(0, probe)
    try:
        yield
    finally:
        _probe.remove(probe)


@dataclass(frozen=True)
class Placement:
    device: str  # cuda | cpu | mps
    precision: str  # fp32 | bf16 | fp16

    @property
    def dtype(self) -> str:
        """The torch dtype name for loading weights at this precision."""
        return DTYPES[self.precision]

    def line(self) -> str:
        return f"{self.device}/{self.precision}"


def resolve_placement(device: str = "auto", precision: str = "auto", purpose: Purpose = "infer") -> Placement:
    """Where and in what precision to run; BadInput when the asked-for device is not here.

    >>> with using_probe(FakeProbe(cuda=True, bf16=True)):
    ...     resolve_placement().line(), resolve_placement(precision="fp32").line()
    ('cuda/bf16', 'cuda/fp32')
    >>> with using_probe(FakeProbe(cuda=True, bf16=False)):
    ...     resolve_placement().line()
    'cuda/fp16'
    >>> with using_probe(FakeProbe(cpu_bf16_units=True)):
    ...     resolve_placement(purpose="infer").line(), resolve_placement(purpose="train").line()
    ('cpu/fp32', 'cpu/bf16')
    >>> with using_probe(FakeProbe()):
    ...     resolve_placement("cuda")
    Traceback (most recent call last):
    ...
    posttrain.errors.BadInput: compute.device cuda: no CUDA device here; use auto or cpu
    """
    probe = _probe[0]
    if device == "auto":
        device = "cuda" if probe.cuda_available() else "cpu"
    elif device == "cuda" and not probe.cuda_available():
        raise BadInput("compute.device cuda: no CUDA device here; use auto or cpu")
    elif device == "mps" and not probe.mps_available():
        raise BadInput("compute.device mps: no Apple GPU (MPS) here; use auto or cpu")
    elif device not in ("cpu", "cuda", "mps"):
        raise BadInput(f"compute.device {device}: unknown; use auto, cpu, cuda or mps")
    if precision == "auto":
        if device == "cuda":
            precision = "bf16" if probe.cuda_bf16() else "fp16"
        elif device == "cpu" and purpose == "train" and probe.cpu_bf16():
            precision = "bf16"
        else:
            precision = "fp32"
    elif precision not in DTYPES:
        raise BadInput(f"compute.precision {precision}: unknown; use auto, fp32, bf16 or fp16")
    return Placement(device=device, precision=precision)

"""Training callbacks and the numbers of a run: metrics.jsonl, peak memory, the one-line summary."""

from __future__ import annotations

import json
import math
import resource
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

METRICS_FILE = "metrics.jsonl"


class TrainSummary(BaseModel):
    """What ``train_summary.json`` holds (the report reads it)."""

    model_config = ConfigDict(extra="forbid")

    method: str
    steps: int = Field(description="Optimizer steps at the end (including steps done before a resume).")
    tokens: int = Field(description="Training tokens seen, padding excluded.")
    tokens_per_s: float = Field(description="Tokens of this session / wall seconds of this session.")
    wall_s: float = Field(description="Wall time of this session (a resumed run counts only its own part).")
    peak_memory_mb: float = Field(description="Peak resident memory (CPU) or peak GPU memory allocated.")
    adapter_size_bytes: int = Field(description="Size of the adapter weights (or the full model).")
    adapter_path: str
    merged_path: str | None = None
    resumed_from_step: int = 0
    trainable_params: int = 0
    total_params: int = 0
    validation_rows: int = Field(0, description="Rows of the validation split (or --eval file); 0: none.")
    best_step: int | None = Field(None, description="The step of the checkpoint written to OUT (best validation).")
    best_metric: str | None = Field(None, description="What picked it: eval_loss, or eval_accuracy (reward model).")
    best_value: float | None = Field(None, description="Its validation value.")
    stopped_early: bool = Field(False, description="Early stopping ended training before the last step.")

    def line(self) -> str:
        """The one-line summary printed at the end.

        >>> TrainSummary(method="sft", steps=30, tokens=12000, tokens_per_s=400.0, wall_s=30.0,
        ...              peak_memory_mb=1500.0, adapter_size_bytes=2_000_000, adapter_path="out").line()
        'sft: 30 steps, 12,000 tokens, 400 tokens/s, 30.0 s, peak memory 1,500 MB, adapter out (2.0 MB)'
        """
        resumed = f" (resumed at step {self.resumed_from_step})" if self.resumed_from_step else ""
        best = ""
        if self.best_step is not None and self.best_value is not None:
            early = ", stopped early" if self.stopped_early else ""
            best = f", best step {self.best_step} ({self.best_metric} {self.best_value:.4g}{early})"
        return (
            f"{self.method}: {self.steps} steps{resumed}, {self.tokens:,} tokens, {self.tokens_per_s:,.0f} tokens/s, "
            f"{self.wall_s:.1f} s, peak memory {self.peak_memory_mb:,.0f} MB, "
            f"adapter {self.adapter_path} ({self.adapter_size_bytes / 1e6:.1f} MB){best}"
        )


def peak_memory_mb() -> float:
    """Peak GPU memory allocated when on CUDA, else this process's peak resident set (Linux: KiB)."""
    try:
        import torch

        if torch.cuda.is_available() and torch.cuda.max_memory_allocated() > 0:
            return float(torch.cuda.max_memory_allocated()) / 2**20
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 1024


def read_metrics(out: Path) -> list[dict[str, Any]]:
    file = out / METRICS_FILE
    if not file.is_file():
        return []
    return [json.loads(line) for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]


def trim_metrics(out: Path, last_step: int) -> None:
    """Drop logged steps after ``last_step``: a resumed run redoes them from the checkpoint."""
    rows = read_metrics(out)
    kept = [r for r in rows if int(r.get("step", 0)) <= last_step]
    if len(kept) != len(rows):
        (out / METRICS_FILE).write_text("".join(json.dumps(r) + "\n" for r in kept), encoding="utf-8")


def clean_log(step: int, logs: dict[str, Any]) -> dict[str, Any]:
    """One metrics.jsonl row: the step and every finite number TRL logged (``train_`` prefixes stay).

    >>> clean_log(3, {"loss": 1.5, "grad_norm": float("nan"), "note": "x"})
    {'step': 3, 'loss': 1.5}
    """
    row: dict[str, Any] = {"step": step}
    for key, value in logs.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if isinstance(value, float) and not math.isfinite(value):
            continue
        row[key] = value
    if "rewards/mean" not in row and "reward" in row:
        row["rewards/mean"] = row["reward"]
    return row


def metrics_callback(out: Path) -> Any:
    """A ``TrainerCallback`` that appends every log to ``OUT/metrics.jsonl`` (main process only)."""
    from transformers import TrainerCallback

    class MetricsWriter(TrainerCallback):  # type: ignore[misc]
        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if state.is_world_process_zero:
                trim_metrics(out, state.global_step)

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
            if not state.is_world_process_zero or not logs:
                return
            row = clean_log(state.global_step, logs)
            if len(row) > 1:
                with (out / METRICS_FILE).open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps(row) + "\n")

    return MetricsWriter()


def quiet_progress(trainer: Any, show: bool) -> None:
    """Keep the progress bar but stop the trainer printing every log dict to stdout (metrics.jsonl has them)."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    if not show:
        return

    class BarOnly(ProgressCallback):  # type: ignore[misc]
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
            if self.training_bar is not None and logs and "loss" in logs:
                self.training_bar.set_postfix(loss=f"{logs['loss']:.3g}", refresh=False)

    trainer.add_callback(BarOnly())

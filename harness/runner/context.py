"""What every stage of ``posttrain run`` sees: the experiment, its config and the run directory."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness.config import CONFIG_FILE, ExperimentConfig, load_config, resolve_path
from harness.runner.manifest import Manifest, hash_path
from posttrain.errors import BadInput

RUNS = "runs"
LATEST = "latest"


@dataclass
class RunContext:
    exp_dir: Path
    config: ExperimentConfig
    run_dir: Path
    manifest: Manifest
    say: Callable[[str], None] = print  # takes one rich-markup line
    outputs: dict[str, object] = field(default_factory=dict)

    @property
    def config_file(self) -> Path:
        return self.exp_dir / CONFIG_FILE

    def path(self, value: str | None) -> Path | None:
        """A config path resolved against the experiment folder (``builtin:`` values give None)."""
        return resolve_path(self.config_file, value)

    def data_hash(self, value: str | None) -> str | None:
        """Content hash of a data path; ``builtin:`` or hub names hash as their name."""
        path = self.path(value)
        return hash_path(path) if path is not None and path.exists() else value

    def stage_dir(self, *parts: str) -> Path:
        path = self.run_dir.joinpath(*parts)
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def final_adapter(self) -> Path | None:
        """The adapter of the last trained policy method (a reward model is not a policy)."""
        policy = [m for m in self.config.methods if m != "reward"]
        return self.run_dir / "train" / policy[-1] if policy else None


def open_run(exp_dir: Path, new: bool = False) -> tuple[ExperimentConfig, Path]:
    """Load the config and pick the run directory: the latest run, or a new one."""
    exp_dir = exp_dir.resolve()
    if not exp_dir.is_dir():
        raise BadInput(f"{exp_dir}: no such experiment folder; create one with `posttrain new {exp_dir.name}`")
    config = load_config(exp_dir / CONFIG_FILE)
    runs = exp_dir / RUNS
    latest = runs / LATEST
    if not new and latest.exists():
        return config, latest.resolve()
    run_dir = runs / time.strftime("%Y%m%d-%H%M%S")
    suffix = 1
    while run_dir.exists():
        run_dir = runs / f"{time.strftime('%Y%m%d-%H%M%S')}-{suffix}"
        suffix += 1
    run_dir.mkdir(parents=True)
    tmp_link = runs / f".{LATEST}.tmp"
    if tmp_link.is_symlink() or tmp_link.exists():
        tmp_link.unlink()
    tmp_link.symlink_to(run_dir.name)
    os.replace(tmp_link, latest)
    return config, run_dir


def write_provenance(ctx: RunContext) -> None:
    """The resolved config, package versions and data/model hashes, beside every run's results."""
    import importlib.metadata
    import platform

    import yaml

    (ctx.run_dir / "config.yaml").write_text(yaml.safe_dump(ctx.config.model_dump(mode="json"), sort_keys=False))
    packages: dict[str, str | None] = {}
    for name in ("posttrain", "torch", "transformers", "trl", "peft", "lm-eval", "chromadb", "accelerate"):
        try:
            packages[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            packages[name] = None
    data = ctx.config.data
    hashes = {
        "train": {s.path: ctx.data_hash(s.path) for s in data.train},
        "preference": ctx.data_hash(data.preference),
        "prompts": ctx.data_hash(data.prompts),
        "knowledge": ctx.data_hash(data.knowledge),
        "evals": {e.name: ctx.data_hash(e.path) for e in ctx.config.evals},
    }
    versions = {"python": platform.python_version(), "machine": platform.machine(), "packages": packages}
    (ctx.run_dir / "versions.json").write_text(json.dumps(versions, indent=2))
    (ctx.run_dir / "data_hashes.json").write_text(json.dumps(hashes, indent=2))
    advice = ctx.exp_dir / "advice.json"
    if advice.is_file():
        (ctx.run_dir / "advice.json").write_text(advice.read_text())

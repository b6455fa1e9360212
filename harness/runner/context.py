"""What every stage of ``posttrain run`` sees: the experiment, its config and the run directory."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness.config import CONFIG_FILE, ExperimentConfig, load_config, resolve_path
from harness.runner.manifest import Manifest, hash_json, hash_path, write_stamp
from posttrain.errors import BadInput

RUNS = "runs"
LATEST = "latest"
# What makes two runs the same experiment. Other settings (LoRA, optimiser, eval sets, baselines)
# are variations within it: they rerun the stages they feed inside the same run.
IDENTITY_FIELDS = ("name", "model", "methods", "data")


@dataclass
class RunContext:
    exp_dir: Path
    config: ExperimentConfig
    run_dir: Path
    manifest: Manifest
    say: Callable[[str], None] = print  # takes one rich-markup line
    outputs: dict[str, object] = field(default_factory=dict)
    stage: str = ""  # the stage now running and the hash of its inputs, stamped on what it writes
    digest: str = ""

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

    def stamp(self, folder: Path, **extra: object) -> None:
        """Mark an output folder as made by the running stage from its current inputs."""
        write_stamp(folder, self.stage, self.digest, **extra)

    def not_run(self, variant: str, reason: str) -> None:
        """Record, for the output and the report, that a requested variant could not run and why."""
        self.say(f"  {reason}")
        self.stamp(self.run_dir / "eval" / variant, not_run=reason)

    @property
    def final_adapter(self) -> Path | None:
        """The weights of the last policy method: its adapter, or a model trained elsewhere (external, ppo)."""
        from harness.training.handoff import policy_weights

        return policy_weights(self.config, self.exp_dir, self.run_dir)


def experiment_identity(config: ExperimentConfig, exp_dir: Path) -> dict[str, object]:
    """Name, model, methods and the training data (paths and content hashes), with their hash."""
    config_file = exp_dir / CONFIG_FILE

    def data(value: str | None) -> list[str | None] | None:
        if value is None:
            return None
        path = resolve_path(config_file, value)
        return [value, hash_path(path) if path is not None and path.exists() else value]

    fields: dict[str, object] = {
        "name": config.name,
        "model": config.model,
        "methods": list(config.methods),
        "data": {
            "train": [data(s.path) for s in config.data.train],
            "preference": data(config.data.preference),
            "prompts": data(config.data.prompts),
        },
    }
    return {**fields, "hash": hash_json(fields)}


def identity_changes(previous: dict[str, object], current: dict[str, object]) -> list[str]:
    """Which identity fields differ (fields the previous run did not record are not compared).

    >>> identity_changes({"name": "a", "model": "m"}, {"name": "b", "model": "m", "methods": []})
    ['name']
    """
    return [k for k in IDENTITY_FIELDS if k in previous and previous[k] != current.get(k)]


def open_run(
    exp_dir: Path, new: bool = False, say: Callable[[str], None] = print
) -> tuple[ExperimentConfig, Path, dict[str, object]]:
    """Load the config and pick the run directory: the latest run, or a new one.

    The latest run is continued only while it holds the same experiment (see ``IDENTITY_FIELDS``);
    otherwise a new run starts and the latest is left exactly as it was.
    """
    exp_dir = exp_dir.resolve()
    if not exp_dir.is_dir():
        raise BadInput(f"{exp_dir}: no such experiment folder; create one with `posttrain new {exp_dir.name}`")
    config = load_config(exp_dir / CONFIG_FILE)
    identity = experiment_identity(config, exp_dir)
    runs = exp_dir / RUNS
    latest = runs / LATEST
    changed: list[str] = []
    if not new and latest.exists():
        current = latest.resolve()
        if current.parent != runs.resolve() or not current.is_dir():
            raise BadInput(f"{latest}: points to {current}, not to a run folder in {runs}; remove the link")
        manifest = Manifest(current)  # a damaged manifest stops here, naming the file; nothing is touched
        finished = any(entry.get("status") == "done" for entry in manifest.stages.values())
        if manifest.identity is not None:
            changed = identity_changes(manifest.identity, identity)
        elif manifest.stages:  # made before runs recorded their experiment: its outputs carry no stamps
            changed = ["its experiment was not recorded"]
        if not changed or not finished:  # nothing finished there yet: nothing of another experiment to mix
            return config, current, identity
    run_dir = runs / time.strftime("%Y%m%d-%H%M%S")
    suffix = 1
    while run_dir.exists():
        run_dir = runs / f"{time.strftime('%Y%m%d-%H%M%S')}-{suffix}"
        suffix += 1
    run_dir.mkdir(parents=True)
    if changed:
        say(
            f"[yellow]new run[/] {run_dir.name}: the experiment is not the one of run {current.name} "
            f"({', '.join(changed)} changed); {current.name} is kept as it was"
            if changed[0] in IDENTITY_FIELDS
            else f"[yellow]new run[/] {run_dir.name}: run {current.name} is kept as it was ({changed[0]})"
        )
    tmp_link = runs / f".{LATEST}.tmp"
    if tmp_link.is_symlink() or tmp_link.exists():
        tmp_link.unlink()
    tmp_link.symlink_to(run_dir.name)
    os.replace(tmp_link, latest)
    return config, run_dir, identity


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

"""What an export starts from: a finished run, its adapter, its base model and its recorded outputs.

Everything is read from the run folder itself (``runs/<id>/config.yaml`` is the config the run
resolved, so a later edit of ``experiment.yaml`` does not change what is shipped), and every problem
is found here, before anything is loaded or written: a run that trained nothing, training or the
``tuned`` stage unfinished, a missing adapter, recorded outputs of another adapter, a base model that
is not available.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from harness.config import CONFIG_FILE, ExperimentConfig, parse_config, resolve_path
from posttrain.errors import BadInput

ExportVariant = Literal["tuned", "tuned_rag"]
VARIANTS: tuple[str, ...] = ("tuned", "tuned_rag")
RUN_CONFIG = "config.yaml"  # written by the runner beside every run's results
RESULTS = "results.jsonl"
SUMMARY = "summary.json"


@dataclass(frozen=True)
class RunSource:
    """A run that can be exported, with every path the export reads."""

    exp_dir: Path
    run_dir: Path
    config: ExperimentConfig
    method: str
    adapter: Path
    base_model: Path  # the resolved local directory the adapter was trained on
    variant: str
    ran_on: str | None = None  # device/dtype the recorded outputs were generated with, e.g. "cpu/float32"

    @property
    def full_model(self) -> bool:
        """The weights are a whole model (an ``external`` one), not a LoRA adapter: nothing to merge."""
        return not (self.adapter / "adapter_config.json").is_file()

    @property
    def recorded_dtype(self) -> str | None:
        return self.ran_on.split("/")[-1] if self.ran_on else None

    @property
    def model_spec(self) -> str:
        """The base model as the config names it (a hub id, a folder or the default's name)."""
        return self.config.model

    def eval_dir(self, eval_set: str) -> Path:
        """Where the run's tuned stage recorded this eval set's outputs for the variant."""
        return self.run_dir / "eval" / self.variant / eval_set

    def data_path(self, value: str) -> Path:
        """A config path resolved the way the runner resolves it: against the experiment folder."""
        return resolve_path(self.exp_dir / CONFIG_FILE, value) or Path(value)


def find_run_dir(run: Path) -> Path:
    """``EXP/runs/<id>`` (or ``EXP/runs/latest``, or ``EXP`` itself, meaning its latest run)."""
    path = run.expanduser()
    if not path.exists():
        raise BadInput(f"{run}: no such run folder; pass EXP/runs/latest or EXP/runs/<id>")
    if (path / CONFIG_FILE).is_file() and not (path / RUN_CONFIG).is_file():
        latest = path / "runs" / "latest"
        if not latest.exists():
            raise BadInput(f"{run}: this experiment has no run yet; run `posttrain run {run}` first")
        path = latest
    path = path.resolve()
    if not (path / RUN_CONFIG).is_file() or not (path / "manifest.json").is_file():
        raise BadInput(
            f"{run}: not a run folder (no {RUN_CONFIG} and manifest.json); pass EXP/runs/latest or EXP/runs/<id>"
        )
    return path


def _stage_status(run_dir: Path, stage: str) -> str | None:
    try:
        stages = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8")).get("stages", {})
    except (OSError, ValueError):
        raise BadInput(f"{run_dir / 'manifest.json'}: unreadable; rerun `posttrain run` on the experiment") from None
    entry = stages.get(stage)
    return str(entry.get("status")) if isinstance(entry, dict) else None


def open_run_source(run: Path, variant: str = "tuned", method: str | None = None) -> RunSource:
    """Check that ``run`` can be exported and say exactly what is missing when it cannot."""
    if variant not in VARIANTS:
        raise BadInput(f"--variant {variant}: use one of {', '.join(VARIANTS)}")
    run_dir = find_run_dir(run)
    exp_dir = run_dir.parent.parent  # EXP/runs/<id>: config paths are relative to EXP
    config_file = run_dir / RUN_CONFIG
    config = parse_config(config_file.read_text(encoding="utf-8"), str(config_file))
    policies = [m for m in config.methods if m != "reward"]  # a reward model is not something to serve
    if not policies:
        trained = f"methods: {config.methods}" if config.methods else "methods: [] (baselines only)"
        raise BadInput(
            f"{config_file}: this run trained no model to export ({trained}); "
            "export needs a run whose plan has sft, dpo or grpo"
        )
    chosen = method or policies[-1]
    if chosen not in policies:
        hint = difflib.get_close_matches(chosen, policies, n=1)
        maybe = f"did you mean {hint[0]}? " if hint else ""
        raise BadInput(f"--method {chosen}: {maybe}this run trained {', '.join(policies)}")
    where = f"{run_dir.parent.parent.name}/runs/{run_dir.name}"
    if _stage_status(run_dir, "train") != "done":
        raise BadInput(f"{where}: training has not finished in this run; run `posttrain run {exp_dir}` first")
    if variant == "tuned_rag" and not config.data.knowledge:
        raise BadInput(f"--variant tuned_rag: {config_file}: data.knowledge is not set, so the run has no RAG variant")
    if _stage_status(run_dir, "tuned") != "done":
        raise BadInput(
            f"{where}: the tuned stage has not finished, so there are no recorded outputs to compare the export "
            f"with; run `posttrain run {exp_dir}` first"
        )
    adapter, ran_on = _recorded(run_dir, config, variant)
    if method is not None and adapter.resolve() != (run_dir / "train" / chosen).resolve():
        raise BadInput(
            f"--method {chosen}: the run's {variant} outputs were made with {adapter}, not "
            f"{run_dir / 'train' / chosen}; export {adapter.name}, whose outputs can be checked"
        )
    if not (adapter / "adapter_config.json").is_file() and not (adapter / "config.json").is_file():
        raise BadInput(
            f"{adapter}: the {chosen} adapter is missing (no adapter_config.json, nor a full model's config.json); "
            f"rerun training with `posttrain run {exp_dir} --force train`"
        )
    # A full model (an external one) is shipped as it is; an adapter needs the base it was trained on.
    base = _base_model(config, config_file) if (adapter / "adapter_config.json").is_file() else adapter
    return RunSource(exp_dir, run_dir, config, chosen, adapter, base, variant, ran_on)


def _recorded(run_dir: Path, config: ExperimentConfig, variant: str) -> tuple[Path, str | None]:
    """The adapter the variant's recorded outputs were made with, and where they ran (device/dtype).

    Every eval set's outputs must exist, be current (their stamp matches the finished tuned stage) and
    come from one adapter: that adapter is the one exported, whatever the plan (an ``external`` model too).
    """
    from harness.runner.manifest import Manifest, read_stamp

    manifest = Manifest(run_dir)
    adapters: set[str] = set()
    ran_on: str | None = None
    for spec in config.evals:
        folder = run_dir / "eval" / variant / spec.name
        rerun = f"rerun `posttrain run {run_dir.parent.parent} --from tuned`"
        if not (folder / RESULTS).is_file() or not (folder / SUMMARY).is_file():
            raise BadInput(f"{folder}: no recorded {variant} outputs for eval set {spec.name!r}; {rerun}")
        stamp = read_stamp(folder)
        if stamp is not None and not manifest.is_current(stamp):
            raise BadInput(
                f"{folder}: these {variant} outputs are from earlier settings, not the finished run; {rerun}"
            )
        summary = json.loads((folder / SUMMARY).read_text(encoding="utf-8"))
        if not summary.get("adapter"):
            raise BadInput(f"{folder / SUMMARY}: the {variant} outputs were made without an adapter; {rerun}")
        adapters.add(str(summary["adapter"]))
        ran_on = ran_on or summary.get("ran_on")
    if len(adapters) != 1:
        raise BadInput(f"{run_dir}: the {variant} outputs come from several adapters ({', '.join(sorted(adapters))})")
    return _in_this_run(Path(adapters.pop()), run_dir), ran_on


def _in_this_run(adapter: Path, run_dir: Path) -> Path:
    """A recorded ``.../train/<method>`` path read inside this run folder, so a moved or copied run works.

    >>> str(_in_this_run(Path("/old/exp/runs/r1/train/sft"), Path("/new/exp/runs/r1")))
    '/new/exp/runs/r1/train/sft'
    >>> str(_in_this_run(Path("/models/from-axolotl"), Path("/new/exp/runs/r1")))
    '/models/from-axolotl'
    """
    if adapter.parent.name == "train" and adapter.parent.parent.name == run_dir.name:
        return run_dir / "train" / adapter.name
    return adapter


def _base_model(config: ExperimentConfig, config_file: Path) -> Path:
    from harness.models import resolve_model

    try:
        return resolve_model(config.model)
    except BadInput as error:
        raise BadInput(
            f"{config_file}: model: the run's base model {config.model!r} is not available here, and the adapter "
            f"can only be merged into it ({error})"
        ) from None

"""The run directory ``EXP/runs/<id>/``: where every stage writes, and loaders that read it back typed.

What lies where, and who writes it::

    config.yaml, versions.json, data_hashes.json, advice.json   runner.context.write_provenance
    manifest.json            stage -> {hash, status}, the experiment identity      runner.manifest.Manifest
    check/readiness.json     RL readiness of the base model                         runner.readiness
    eval/<variant>/<set>/    results.jsonl (one row per example), summary.json      evaluation.runner.EvalSummary
    eval/<variant>/stage.json with ``not_run``: a variant that could not run, why   runner.context.RunContext.not_run
    judge_agreement/<set>/labels.jsonl   the judge's grades of labelled answers     evaluation.judge_agreement
    train/<method>/          metrics.jsonl, train_summary.json, checkpoints/        training.callbacks.TrainSummary
    train/seed-<N>/          the plan trained again with seed N (training.seeds)
    tuned/seeds.json         the tuned variant's score per training seed            :class:`SeedResults`
    tuned/seed-<N>/tuned/<set>/  an extra seed's eval folder (as eval/<variant>/<set>/)  runner.stages
    forgetting/forgetting.json  general skills, base vs adapter                     forgetting.schema.ForgettingResult
    superseded/              outputs set aside when a stage's inputs changed        runner.pipeline
    report.md, report.html, verdict.txt                                             report.render

Every output folder also holds ``stage.json`` (the stage and the hash of its inputs, see
:mod:`harness.runner.manifest`). The loaders parse each file with its writer's model; a file that is
missing a field, truncated or damaged raises :class:`StageOutputError`, one line naming the file (and
line), so a reader can say so and go on with the rest. Writers' models are imported inside the loaders:
this module stays light (pydantic and the standard library at import time).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from posttrain.errors import BadInput, validation_lines

if TYPE_CHECKING:
    from harness.evaluation.runner import EvalSummary
    from harness.forgetting.schema import ForgettingResult
    from harness.training.callbacks import TrainSummary

CONFIG = "config.yaml"
ADVICE = "advice.json"
EVAL = "eval"
RESULTS = "results.jsonl"
SUMMARY = "summary.json"
JUDGE_AGREEMENT = "judge_agreement"
LABELS = "labels.jsonl"
TRAIN = "train"
TRAIN_SUMMARY = "train_summary.json"
METRICS = "metrics.jsonl"
SEED_PREFIX = "seed-"  # train/seed-<N>/: extra seeds, not a method
TUNED = "tuned"
SEEDS = "seeds.json"
FORGETTING = "forgetting"
FORGETTING_FILE = "forgetting.json"
CHECK = "check"
READINESS = "readiness.json"
REPORT_FILES = ("report.md", "report.html", "verdict.txt")

Model = TypeVar("Model", bound=BaseModel)


class StageOutputError(BadInput):
    """A stage's output file is missing a field, truncated or damaged; the message names the file."""


class EvalRow(BaseModel):
    """One line of ``results.jsonl``. The fields the report relies on are typed; the rest (prompt tokens,
    latency, retrieved sources, ...) travel as they were written."""

    model_config = ConfigDict(extra="allow")

    id: str | int | None = None
    scores: dict[str, float | None] = Field(description="metric -> score; None where the metric could not score.")
    output: str | None = None

    @field_validator("scores", mode="before")
    @classmethod
    def _numbers_or_none(cls, value: Any) -> Any:
        """A score that is not a finite number (NaN, a string, a bool) counts as not scored.

        >>> EvalRow(scores={"a": 1, "b": float("nan"), "c": True, "d": "x"}).scores
        {'a': 1.0, 'b': None, 'c': None, 'd': None}
        """
        if not isinstance(value, dict):
            return value  # the field's own check says what is wrong
        return {
            str(k): float(v)
            if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(float(v))
            else None
            for k, v in value.items()
        }


class SeedResults(BaseModel):
    """``tuned/seeds.json``: the tuned variant scored once per training seed (``training.seeds``)."""

    model_config = ConfigDict(extra="forbid")

    seeds: list[int] = Field(min_length=1, description="Training seeds, the main run's (training.seed) first.")
    evals: dict[str, dict[str, list[float]]] = Field(
        description="eval set -> metric -> the tuned variant's mean score per seed, in the order of seeds."
    )

    @model_validator(mode="after")
    def _one_score_per_seed(self) -> SeedResults:
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds {self.seeds} repeat a seed")
        for eval_set, metrics in self.evals.items():
            for metric, scores in metrics.items():
                if len(scores) != len(self.seeds):
                    raise ValueError(
                        f"evals.{eval_set}.{metric}: {len(scores)} scores for {len(self.seeds)} seeds {self.seeds}"
                    )
        return self


@dataclass(frozen=True)
class RunDir:
    """The paths of one run directory (nothing is created or read by building one)."""

    root: Path

    @classmethod
    def find(cls, path: str | Path) -> RunDir:
        """A run directory, or an experiment directory (its ``runs/latest``), checked to hold ``eval/``."""
        run = Path(path).expanduser()
        if not run.is_dir():
            raise BadInput(f"{run}: no such directory; pass a run directory such as EXP/runs/latest")
        if not (run / EVAL).is_dir() and (run / "runs" / "latest").is_dir():
            run = run / "runs" / "latest"
        run = run.resolve()  # runs/latest is a symlink; the report names the real run id
        if not (run / EVAL).is_dir():
            raise BadInput(f"{run}: not a run directory (no eval/ folder); run `posttrain run EXP` first")
        return cls(run)

    @property
    def config_file(self) -> Path:
        return self.root / CONFIG

    @property
    def advice_file(self) -> Path:
        return self.root / ADVICE

    @property
    def eval_root(self) -> Path:
        return self.root / EVAL

    def eval_dir(self, variant: str, eval_set: str) -> Path:
        return self.root / EVAL / variant / eval_set

    def eval_folders(self) -> list[tuple[str, str, Path]]:
        """(variant, eval set, folder) of every folder holding ``results.jsonl``, sorted."""
        return [(f.parent.parent.name, f.parent.name, f.parent) for f in sorted(self.eval_root.glob(f"*/*/{RESULTS}"))]

    def judge_folders(self) -> list[Path]:
        base = self.root / JUDGE_AGREEMENT
        return sorted(p for p in base.iterdir() if p.is_dir()) if base.is_dir() else []

    @property
    def train_root(self) -> Path:
        return self.root / TRAIN

    def train_dir(self, method: str, seed: int | None = None) -> Path:
        """``train/<method>``, or ``train/seed-<N>/<method>`` for an extra seed."""
        return self.root / TRAIN / (f"{SEED_PREFIX}{seed}" if seed is not None else "") / method

    def train_folders(self) -> list[Path]:
        """The methods' folders of the main seed (``seed-N`` folders hold extra seeds, not methods)."""
        base = self.train_root
        if not base.is_dir():
            return []
        return sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(SEED_PREFIX))

    @property
    def seeds_file(self) -> Path:
        return self.root / TUNED / SEEDS

    @property
    def forgetting_file(self) -> Path:
        return self.root / FORGETTING / FORGETTING_FILE

    @property
    def readiness_file(self) -> Path:
        return self.root / CHECK / READINESS

    # ---- loaders: each parses one file with its writer's model ------------------------------------

    def load_config(self) -> dict[str, Any]:
        """The resolved config as written (older runs' configs may not fit today's schema: read as a mapping)."""
        from posttrain.safe_files import read_yaml

        if not self.config_file.is_file():
            return {}
        try:
            raw, _ = read_yaml(self.config_file, "run config")  # size- and alias-limited
        except BadInput as error:
            raise StageOutputError(str(error)) from None
        return raw if isinstance(raw, dict) else {}

    def load_advised_primary(self) -> str | None:
        """The advisor's primary recommendation copied into the run (``advice.json``), if any."""
        if not self.advice_file.is_file():
            return None
        advice = read_json(self.advice_file, "advice")
        recommendation = advice.get("recommendation") if isinstance(advice, dict) else None
        primary = recommendation.get("primary") if isinstance(recommendation, dict) else None
        return str(primary) if primary else None

    def load_eval_rows(self, folder: Path) -> list[dict[str, Any]]:
        """``results.jsonl`` of an eval folder: each row checked with :class:`EvalRow`, its scores normalised."""
        file = folder / RESULTS
        rows = []
        for number, raw in enumerate(read_jsonl(file, "eval results"), start=1):
            rows.append({**raw, "scores": validated(EvalRow, raw, f"{file}:{number}").scores})
        return rows

    def load_eval_summary(self, folder: Path) -> EvalSummary | None:
        """``summary.json`` of an eval folder; None when absent (the reader then summarises the rows)."""
        from harness.evaluation.runner import EvalSummary

        file = folder / SUMMARY
        return validated(EvalSummary, read_json(file, "eval summary"), str(file)) if file.is_file() else None

    def load_train_summary(self, folder: Path) -> TrainSummary | None:
        from harness.training.callbacks import TrainSummary

        file = folder / TRAIN_SUMMARY
        return validated(TrainSummary, read_json(file, "training summary"), str(file)) if file.is_file() else None

    def load_train_curve(self, folder: Path) -> list[tuple[int, dict[str, float]]]:
        """(step, {loss, learning_rate, ...}) per logged step of ``metrics.jsonl`` (written by clean_log)."""
        file = folder / METRICS
        if not file.is_file():
            return []
        curve = []
        for i, log in enumerate(read_jsonl(file, "training log")):
            step = log.get("step", i)
            if not isinstance(step, int) or isinstance(step, bool):
                raise StageOutputError(f"{file}:{i + 1}: training log: step must be an integer (got {step!r})")
            values = {
                k: float(v)
                for k, v in log.items()
                if k != "step" and isinstance(v, int | float) and not isinstance(v, bool)
            }
            curve.append((step, values))
        return curve

    def load_forgetting(self) -> ForgettingResult | None:
        from harness.forgetting.schema import ForgettingResult

        file = self.forgetting_file
        return validated(ForgettingResult, read_json(file, "forgetting check"), str(file)) if file.is_file() else None

    def load_seeds(self) -> SeedResults | None:
        file = self.seeds_file
        return validated(SeedResults, read_json(file, "seed results"), str(file)) if file.is_file() else None

    def load_judge_labels(self, folder: Path) -> list[dict[str, Any]] | None:
        file = folder / LABELS
        return read_jsonl(file, "judge agreement labels") if file.is_file() else None


def read_json(path: Path, what: str) -> Any:
    """A JSON file, or :class:`StageOutputError` naming it (truncated, damaged, not UTF-8, unreadable)."""
    text = _text(path, what)
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise StageOutputError(
            f"{path}:{error.lineno}: {what}: not valid JSON: {error.msg} (truncated or damaged?)"
        ) from None


def read_jsonl(path: Path, what: str) -> list[dict[str, Any]]:
    """One JSON object per line; :class:`StageOutputError` names the first bad line."""
    rows = []
    for number, line in enumerate(_text(path, what).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise StageOutputError(f"{path}:{number}: {what}: not valid JSON: {error.msg}") from None
        if not isinstance(row, dict):
            raise StageOutputError(f"{path}:{number}: {what}: expected a JSON object per line")
        rows.append(row)
    return rows


def validated(model: type[Model], value: Any, where: str) -> Model:
    """``value`` parsed with ``model``; its problems as one :class:`StageOutputError` line starting with ``where``."""
    try:
        return model.model_validate(value)
    except ValidationError as error:
        first = error.errors()[0]
        # A field: its path, what is wrong and the value found. A check across fields: its message says it
        # all (its "value found" would be the whole file).
        line = validation_lines(error)[0] if first["loc"] else str(first["msg"]).removeprefix("Value error, ")
        more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
        raise StageOutputError(f"{where}: {line}{more}") from None


def _text(path: Path, what: str) -> str:
    from posttrain.safe_files import read_text

    try:
        return read_text(path, what)
    except BadInput as error:  # not a regular file, too large, not UTF-8: one line naming the file
        raise StageOutputError(str(error)) from None

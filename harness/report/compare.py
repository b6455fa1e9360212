"""``posttrain compare``: the report's main tables side by side across runs or experiments."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from harness.report.collect import collect_run
from harness.report.data import ReportData
from posttrain.errors import BadInput


class CompareRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    eval_set: str
    metric: str
    variant: str
    cells: dict[str, tuple[float, float, float] | None] = Field(
        description="run id -> (mean, ci low, ci high), or null where that run lacks the variant."
    )


class CompareData(BaseModel):
    model_config = ConfigDict(extra="forbid")

    runs: list[ReportData]
    rows: list[CompareRow]


def compare_runs(run_dirs: Sequence[str | Path]) -> CompareData:
    """Collect each run and line up every (eval set, metric, variant) across them."""
    if not run_dirs:
        raise BadInput("compare: pass at least one run directory")
    runs = [collect_run(path) for path in run_dirs]
    names = _unique_names(runs)
    keys: dict[tuple[str, str, str], None] = {}
    for data in runs:
        for v in data.variants:
            for metric in v.metrics:
                keys[(v.eval_set, metric, v.variant)] = None
    rows = []
    for eval_set, metric, variant in keys:
        cells: dict[str, tuple[float, float, float] | None] = {}
        for name, data in zip(names, runs, strict=True):
            match = next((v for v in data.variants if v.eval_set == eval_set and v.variant == variant), None)
            cell = match.metrics.get(metric) if match else None
            cells[name] = (cell.mean, cell.ci95[0], cell.ci95[1]) if cell else None
        rows.append(CompareRow(eval_set=eval_set, metric=metric, variant=variant, cells=cells))
    return CompareData(runs=runs, rows=rows)


def _unique_names(runs: list[ReportData]) -> list[str]:
    """Run ids, prefixed by the experiment name when two runs share an id.

    >>> from harness.report.data import Verdict
    >>> r = lambda e: ReportData(run_dir="x", run_id="r1", experiment=e, verdict=Verdict(sentence="."))
    >>> _unique_names([r("a"), r("b")])
    ['a/r1', 'b/r1']
    """
    ids = [r.run_id for r in runs]
    names = [f"{r.experiment}/{r.run_id}" if ids.count(r.run_id) > 1 else r.run_id for r in runs]
    return [f"{n}#{i}" if names.count(n) > 1 else n for i, n in enumerate(names)]

"""The report's judge–human agreement: per eval set with ``judge.labels``, the judge's grades of answers
people labelled (``RUN/judge_agreement/<eval set>/labels.jsonl``, written by the run) against those labels.

A weak judge (kappa < 0.4) puts a warning into the verdict: the ``judge`` scores it gave are not evidence.
"""

from __future__ import annotations

import math
from typing import Any

from harness.evaluation.judge_agreement import WEAK_WARNING, agreement, is_weak
from harness.report.currency import CurrentOutputs
from harness.report.data import JudgeAgreementRow, ReportData
from harness.runner.rundir import LABELS, RunDir, StageOutputError


def judge_agreement(
    run: RunDir, current: CurrentOutputs, notes: list[str], problems: list[str]
) -> list[JudgeAgreementRow]:
    """One row per eval set whose labelled answers the judge graded; unusable rows become notes, an
    unreadable file one line in ``problems``."""
    rows = []
    for folder in run.judge_folders():
        file = folder / LABELS
        if not file.is_file() or not current.keep(folder):
            continue
        try:
            graded = run.load_judge_labels(folder) or []
        except StageOutputError as error:
            problems.append(str(error))
            continue
        pairs = [(_label(r.get("human")), _label(r.get("judge"))) for r in graded]
        usable = [(h, j) for h, j in pairs if h is not None and j is not None]
        if len(usable) < len(pairs):
            notes.append(f"{file.relative_to(run.root)}: {len(pairs) - len(usable)} rows without a 0/1 label left out.")
        if not usable:
            continue
        result = agreement([h for h, _ in usable], [j for _, j in usable])
        rows.append(
            JudgeAgreementRow(
                eval_set=folder.name,
                n=result.n,
                agreement=result.agreement,
                kappa=result.kappa,
                ci95=result.ci95,
                weak=is_weak(result.kappa),
            )
        )
    return rows


def with_agreement(data: ReportData, rows: list[JudgeAgreementRow]) -> ReportData:
    """Add the agreement table, and a verdict warning for each eval set whose judge is weak."""
    if not rows:
        return data
    warnings = list(data.verdict.warnings)
    for row in rows:
        if row.weak:
            kappa = "undefined (one class only)" if math.isnan(row.kappa) else f"{row.kappa:.2f}"
            warnings.append(f"Judge on {row.eval_set}: kappa {kappa} over {row.n} labelled answers — {WEAK_WARNING}.")
    verdict = data.verdict.model_copy(update={"warnings": warnings})
    return data.model_copy(update={"judge_agreement": rows, "verdict": verdict})


def _label(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float) and float(value) in (0.0, 1.0):
        return float(value)
    return None

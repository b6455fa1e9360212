"""Collect a run directory into :class:`ReportData`, reading every stage's output through
:class:`harness.runner.rundir.RunDir` (the paths, and the writers' models).

Reads only. Missing parts (no training yet, no forgetting check) become notes; a stage output that
cannot be read (truncated, damaged, a field missing) becomes one line in ``problems`` naming the file,
and the report shows everything else. Only when no eval result at all can be used is it a
:class:`BadInput`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from harness.report.agreement import judge_agreement, with_agreement
from harness.report.currency import CurrentOutputs
from harness.report.data import (
    BASELINES,
    Comparison,
    CurvePoint,
    ForgettingRow,
    MetricCell,
    ReportData,
    SeedSpread,
    TrainingRow,
    VariantRow,
    Verdict,
)
from harness.report.decision import conclude
from harness.report.examples import TUNED, changed_examples, diversity_rows, variant_order
from harness.report.pairing import Results, compare, metric_names, score
from harness.report.seeds import seed_spread
from harness.report.verdict import verdict_sentence
from harness.runner.rundir import RunDir, StageOutputError
from harness.stats import bootstrap_ci
from posttrain.errors import BadInput

if TYPE_CHECKING:  # the writers' models, imported by the loaders when they run
    from harness.evaluation.runner import EvalSummary
    from harness.forgetting.schema import TaskDelta

T = TypeVar("T")


def resolve_run_dir(path: str | Path) -> Path:
    """Accept a run directory, or an experiment directory (its ``runs/latest``)."""
    return RunDir.find(path).root


def _attempt(problems: list[str], load: Callable[[], T], default: T) -> T:
    """``load()``, or ``default`` with its one-line problem recorded (the report goes on without it)."""
    try:
        return load()
    except StageOutputError as error:
        problems.append(str(error))
        return default


def collect_run(path: str | Path) -> ReportData:
    """Read every stage's outputs under a run directory and compute the report's tables."""
    run = RunDir.find(path)
    notes: list[str] = []
    problems: list[str] = []
    current = CurrentOutputs(run.root)  # only outputs of the run's current stages are reported
    config: dict[str, Any] = _attempt(problems, run.load_config, {})
    results, summaries = _read_eval(run, current, problems)
    primary_metric = _primary_metrics(config, results)
    variants = [_variant_row(key, rows, summaries.get(key)) for key, rows in sorted(results.items(), key=variant_order)]
    comparisons, best_baseline = _comparisons(results, variants)
    advised = _advised_primary(run, config, problems)
    forgetting, overall, applied = _forgetting(run, notes, problems, current)
    training = _training(run, config, notes, problems, current)
    seeds = _seeds(run, problems, current)  # shown beside the tuned variant's interval, with seeds.NOTE
    agreement = judge_agreement(run, current, notes, problems)
    not_run = current.not_run()
    notes.extend(not_run)
    if stale_note := current.note():
        notes.append(stale_note)
    if not any(v.variant in TUNED for v in variants):
        notes.append("No fine-tuned variant was evaluated (the plan had no training, or it has not run yet).")
    sentence = verdict_sentence(variants, comparisons, primary_metric, best_baseline, overall)
    sandbox = {str(r["sandbox"]) for rows in results.values() for r in rows if r.get("sandbox")}
    sandbox |= {s.sandbox for s in summaries.values() if s is not None and s.sandbox}
    data = ReportData(
        run_dir=str(run.root),
        run_id=run.root.name,
        experiment=_text(config.get("name")),
        model=_text(config.get("model")),
        sandbox=sorted(sandbox),
        advised_primary=advised,
        primary_metric=primary_metric,
        variants=variants,
        comparisons=comparisons,
        forgetting=forgetting,
        forgetting_overall=overall,
        forgetting_adapter_applied=applied,
        training=training,
        seeds=seeds,
        diversity=diversity_rows(results),
        changed=changed_examples(results, variants, primary_metric, best_baseline),
        verdict=Verdict(sentence=sentence),
        notes=notes,
        problems=problems,
        stale=current.stale,
        not_run=not_run,
    )
    data = conclude(data, results, config)  # decision, Holm-corrected tests, power, health, RAG diagnosis
    return with_agreement(data, agreement)  # after conclude, which rebuilds the verdict


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _read_eval(
    run: RunDir, current: CurrentOutputs, problems: list[str]
) -> tuple[Results, dict[tuple[str, str], EvalSummary | None]]:
    results: Results = {}
    summaries: dict[tuple[str, str], EvalSummary | None] = {}
    unreadable = len(problems)
    for variant, eval_set, folder in run.eval_folders():
        if not current.keep(folder):
            continue
        rows = _attempt(problems, partial(run.load_eval_rows, folder), None)
        if rows is None:
            continue
        results[(eval_set, variant)] = rows
        summaries[(eval_set, variant)] = _attempt(problems, partial(run.load_eval_summary, folder), None)
    if not results and len(problems) > unreadable:
        raise BadInput(problems[unreadable] + "; no other eval result could be used")
    if not results and current.stale:
        raise BadInput(
            f"{run.eval_root}: every result there is stale ({current.stale[0]}); "
            f"rerun `posttrain run {run.root.parent.parent}`"
        )
    if not results:
        raise BadInput(f"{run.eval_root}: no <variant>/<eval_set>/results.jsonl yet; run the eval stage first")
    return results, summaries


def _primary_metrics(config: dict[str, Any], results: Results) -> dict[str, str]:
    """The first metric each eval set lists in the config, else the first one found in its results."""
    primary: dict[str, str] = {}
    for spec in config.get("evals") or []:
        if isinstance(spec, dict) and spec.get("metrics"):
            primary[str(spec.get("name", "eval"))] = str(spec["metrics"][0])
    for (eval_set, _variant), rows in results.items():
        if eval_set not in primary and (names := metric_names(rows)):
            primary[eval_set] = names[0]
    return primary


def _variant_row(key: tuple[str, str], rows: list[dict[str, Any]], summary: EvalSummary | None) -> VariantRow:
    """Each metric's mean and interval from the summary where it holds finite ones, else from the rows."""
    eval_set, variant = key
    cells = {}
    for metric in metric_names(rows):
        given = summary.metrics.get(metric) if summary is not None else None
        if given is not None and all(math.isfinite(x) for x in (given.mean, *given.ci95)):
            cells[metric] = MetricCell(mean=given.mean, ci95=given.ci95, n=given.n)
            continue
        values = [v for r in rows if (v := score(r, metric)) is not None]
        if values:
            cells[metric] = MetricCell(mean=sum(values) / len(values), ci95=bootstrap_ci(values), n=len(values))
    latency = summary.latency_s_mean if summary is not None else None
    if latency is None:
        latencies = [float(r["latency_s"]) for r in rows if isinstance(r.get("latency_s"), int | float)]
        latency = sum(latencies) / len(latencies) if latencies else None
    return VariantRow(eval_set=eval_set, variant=variant, metrics=cells, latency_s=latency)


def _comparisons(results: Results, variants: list[VariantRow]) -> tuple[list[Comparison], dict[tuple[str, str], str]]:
    """Each variant against the best baseline of its eval set, per metric, example by example.

    Fine-tuned variants are also compared with plain prompting when that is not the best baseline,
    so the report answers both "did it beat the best alternative" and "did it beat the starting point".
    """
    comparisons: list[Comparison] = []
    best: dict[tuple[str, str], str] = {}
    for eval_set in dict.fromkeys(v.eval_set for v in variants):
        rows = [v for v in variants if v.eval_set == eval_set]
        for metric in dict.fromkeys(m for v in rows for m in v.metrics):
            baselines = [v for v in rows if v.variant in BASELINES and metric in v.metrics]
            if not baselines:
                continue
            leader = max(baselines, key=lambda v: v.metrics[metric].mean).variant
            best[(eval_set, metric)] = leader
            has_prompt = any(v.variant == "prompt" for v in baselines)
            for v in rows:
                if metric not in v.metrics:
                    continue
                against = [leader] if v.variant != leader else []
                if v.variant not in BASELINES and has_prompt and leader != "prompt":
                    against.append("prompt")
                for baseline in against:
                    found = compare(results, eval_set, metric, baseline, v.variant)
                    if found is not None:
                        comparisons.append(found)
    return comparisons, best


def _advised_primary(run: RunDir, config: dict[str, Any], problems: list[str]) -> str | None:
    advised = config.get("advised")
    if isinstance(advised, dict) and advised.get("primary"):
        return str(advised["primary"])
    return _attempt(problems, run.load_advised_primary, None)


def _forgetting_row(task: str, entry: TaskDelta) -> ForgettingRow:
    return ForgettingRow(
        task=task,
        base_acc=entry.base.acc,
        tuned_acc=entry.tuned.acc,
        n=entry.base.n,
        delta=entry.delta,
        ci95=entry.ci95,
        p_value=entry.p_value,
    )


def _forgetting(
    run: RunDir, notes: list[str], problems: list[str], current: CurrentOutputs
) -> tuple[list[ForgettingRow], ForgettingRow | None, bool | None]:
    file = run.forgetting_file
    if file.is_file() and not current.keep(file.parent):
        notes.append("No current forgetting check in this run (the one in forgetting/ is stale).")
        return [], None, None
    if not file.is_file():
        notes.append("No forgetting check in this run (forgetting/forgetting.json is missing).")
        return [], None, None
    result = _attempt(problems, run.load_forgetting, None)
    if result is None:
        return [], None, None
    rows = [_forgetting_row(task, entry) for task, entry in result.tasks.items()]
    overall = _forgetting_row("all tasks", result.overall) if result.overall else None
    if overall is None and len(rows) == 1:
        overall = rows[0]
    return rows, overall, result.adapter_applied


def _training(
    run: RunDir, config: dict[str, Any], notes: list[str], problems: list[str], current: CurrentOutputs
) -> list[TrainingRow]:
    folders = {p.name: p for p in run.train_folders() if current.keep(p)}
    planned = [m for m in config.get("methods") or [] if isinstance(m, str)]
    rows = []
    for method in [m for m in planned if m in folders] + [m for m in sorted(folders) if m not in planned]:
        folder = folders[method]
        curve: list[tuple[int, dict[str, float]]] = _attempt(problems, partial(run.load_train_curve, folder), [])
        summary = _attempt(problems, partial(run.load_train_summary, folder), None)
        if summary is None and not (folder / "train_summary.json").is_file():
            notes.append(f"train/{method}: no train_summary.json; its cost is not shown.")
        rows.append(
            TrainingRow(
                method=method,
                curve=[CurvePoint(step=step, values=values) for step, values in curve],
                **(
                    summary.model_dump(
                        include={"steps", "tokens", "wall_s", "tokens_per_s", "peak_memory_mb", "adapter_size_bytes"}
                    )
                    if summary is not None
                    else {}
                ),
            )
        )
    return rows


def _seeds(run: RunDir, problems: list[str], current: CurrentOutputs) -> list[SeedSpread]:
    """The tuned variant's spread across training seeds, when the run trained more than one."""
    if not run.seeds_file.is_file() or not current.keep(run.seeds_file.parent):
        return []
    results = _attempt(problems, run.load_seeds, None)
    return seed_spread(results) if results is not None else []

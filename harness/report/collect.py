"""Collect a run directory (see the run-directory contract) into :class:`ReportData`.

Reads only; missing parts (no training yet, no forgetting check) become notes in the report, and
a malformed file is a :class:`BadInput` that names the file and line.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from harness.report.agreement import judge_agreement, with_agreement
from harness.report.currency import CurrentOutputs
from harness.report.data import (
    BASELINES,
    VARIANTS,
    ChangedExample,
    Comparison,
    CurvePoint,
    DiversityRow,
    ForgettingRow,
    MetricCell,
    ReportData,
    TrainingRow,
    VariantRow,
    Verdict,
)
from harness.report.decision import conclude
from harness.report.diversity import distinct_n, self_similarity
from harness.report.stats import bootstrap_ci, compare_paired
from harness.report.verdict import verdict_sentence
from posttrain.errors import BadInput

TUNED = ("tuned", "tuned_rag")
CHANGED_PER_DIRECTION = 3


def resolve_run_dir(path: str | Path) -> Path:
    """Accept a run directory, or an experiment directory (its ``runs/latest``)."""
    run = Path(path).expanduser()
    if not run.is_dir():
        raise BadInput(f"{run}: no such directory; pass a run directory such as EXP/runs/latest")
    if not (run / "eval").is_dir() and (run / "runs" / "latest").is_dir():
        run = (run / "runs" / "latest").resolve()
    run = run.resolve()  # runs/latest is a symlink; the report names the real run id
    if not (run / "eval").is_dir():
        raise BadInput(f"{run}: not a run directory (no eval/ folder); run `posttrain run EXP` first")
    return run


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise BadInput(f"{path}:{error.lineno}: not valid JSON: {error.msg} (truncated or damaged?)") from None
    except UnicodeDecodeError:
        raise BadInput(f"{path}: not UTF-8 text; the file is damaged") from None


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise BadInput(f"{path}:{number}: not valid JSON: {error.msg}") from None
        if not isinstance(row, dict):
            raise BadInput(f"{path}:{number}: expected a JSON object per line")
        rows.append(row)
    return rows


def collect_run(path: str | Path) -> ReportData:
    """Read every stage's outputs under a run directory and compute the report's tables."""
    run = resolve_run_dir(path)
    notes: list[str] = []
    current = CurrentOutputs(run)  # only outputs of the run's current stages are reported
    config = _read_config(run)
    results = _read_eval(run, current)
    primary_metric = _primary_metrics(config, results)
    variants = [_variant_row(run, key, rows) for key, rows in sorted(results.items(), key=_order)]
    comparisons, best_baseline = _comparisons(results, variants)
    advised = _advised_primary(run, config)
    forgetting, overall, applied = _forgetting(run, notes, current)
    training = _training(run, config, notes, current)
    agreement = judge_agreement(run, current, notes)
    not_run = current.not_run()
    notes.extend(not_run)
    if stale_note := current.note():
        notes.append(stale_note)
    if not any(v.variant in TUNED for v in variants):
        notes.append("No fine-tuned variant was evaluated (the plan had no training, or it has not run yet).")
    sentence = verdict_sentence(variants, comparisons, primary_metric, best_baseline, overall)
    data = ReportData(
        run_dir=str(run),
        run_id=run.name,
        experiment=config.get("name"),
        model=config.get("model"),
        sandbox=sorted({str(r["sandbox"]) for rows in results.values() for r in rows if r.get("sandbox")}),
        advised_primary=advised,
        primary_metric=primary_metric,
        variants=variants,
        comparisons=comparisons,
        forgetting=forgetting,
        forgetting_overall=overall,
        forgetting_adapter_applied=applied,
        training=training,
        diversity=_diversity(results),
        changed=_changed(results, variants, primary_metric, best_baseline),
        verdict=Verdict(sentence=sentence),
        notes=notes,
        stale=current.stale,
        not_run=not_run,
    )
    data = conclude(data, results, config)  # decision, Holm-corrected tests, power, health, RAG diagnosis
    return with_agreement(data, agreement)  # after conclude, which rebuilds the verdict


Results = dict[tuple[str, str], list[dict[str, Any]]]  # (eval_set, variant) -> results.jsonl rows


def _order(item: tuple[tuple[str, str], Any]) -> tuple[str, int]:
    (eval_set, variant), _ = item
    return (eval_set, VARIANTS.index(variant) if variant in VARIANTS else len(VARIANTS))


def _read_config(run: Path) -> dict[str, Any]:
    from posttrain.safe_files import read_yaml

    file = run / "config.yaml"
    if not file.is_file():
        return {}
    raw, _ = read_yaml(file, "run config")  # size- and alias-limited; a bad file is one BadInput
    return raw if isinstance(raw, dict) else {}


def _read_eval(run: Path, current: CurrentOutputs) -> Results:
    results: Results = {}
    for file in sorted((run / "eval").glob("*/*/results.jsonl")):
        variant, eval_set = file.parent.parent.name, file.parent.name
        if not current.keep(file.parent):
            continue
        rows = read_jsonl(file)
        for number, row in enumerate(rows, start=1):
            if not isinstance(row.get("scores"), dict):
                raise BadInput(f"{file}:{number}: field 'scores' must be an object of metric -> number")
        results[(eval_set, variant)] = rows
    if not results and current.stale:
        raise BadInput(
            f"{run / 'eval'}: every result there is stale ({current.stale[0]}); "
            f"rerun `posttrain run {run.parent.parent}`"
        )
    if not results:
        raise BadInput(f"{run / 'eval'}: no <variant>/<eval_set>/results.jsonl yet; run the eval stage first")
    return results


def _score(row: dict[str, Any], metric: str) -> float | None:
    """The row's score on ``metric``; None when absent or not a number (a metric that could not run)."""
    value = row["scores"].get(metric)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        return None  # NaN/inf: a metric that failed on this row counts as not scored
    return float(value)


def _metric_names(rows: list[dict[str, Any]]) -> list[str]:
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row["scores"]))
    return list(names)


def _primary_metrics(config: dict[str, Any], results: Results) -> dict[str, str]:
    """The first metric each eval set lists in the config, else the first one found in its results."""
    primary: dict[str, str] = {}
    for spec in config.get("evals") or []:
        if isinstance(spec, dict) and spec.get("metrics"):
            primary[str(spec.get("name", "eval"))] = str(spec["metrics"][0])
    for (eval_set, _variant), rows in results.items():
        if eval_set not in primary and (names := _metric_names(rows)):
            primary[eval_set] = names[0]
    return primary


def _variant_row(run: Path, key: tuple[str, str], rows: list[dict[str, Any]]) -> VariantRow:
    eval_set, variant = key
    summary_file = run / "eval" / variant / eval_set / "summary.json"
    summary = read_json(summary_file) if summary_file.is_file() else {}
    if not isinstance(summary, dict) or not isinstance(summary.get("metrics") or {}, dict):
        raise BadInput(f"{summary_file}: expected an object with 'metrics': {{metric: {{mean, ci95, n}}}}")
    cells = {}
    for metric in _metric_names(rows):
        given: Any = (summary.get("metrics") or {}).get(metric)
        if _finite_cell(given):
            cells[metric] = MetricCell(mean=given["mean"], ci95=tuple(given["ci95"]), n=given.get("n", len(rows)))
        else:
            values = [v for r in rows if (v := _score(r, metric)) is not None]
            if not values:
                continue
            cells[metric] = MetricCell(mean=sum(values) / len(values), ci95=bootstrap_ci(values), n=len(values))
    latency = summary.get("latency_s_mean")
    if latency is None:
        latencies = [float(r["latency_s"]) for r in rows if isinstance(r.get("latency_s"), (int, float))]
        latency = sum(latencies) / len(latencies) if latencies else None
    return VariantRow(eval_set=eval_set, variant=variant, metrics=cells, latency_s=latency)


def _finite_cell(given: Any) -> bool:
    """A summary's metric entry with a finite mean and interval (else the rows are re-summarised).

    >>> _finite_cell({"mean": 0.5, "ci95": [0.4, 0.6]}), _finite_cell({"mean": float("nan"), "ci95": [0, 1]})
    (True, False)
    """
    if not isinstance(given, dict) or not isinstance(given.get("ci95"), (list, tuple)) or len(given["ci95"]) != 2:
        return False
    values = [given.get("mean"), *given["ci95"]]
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values)


def _paired_scores(
    base: list[dict[str, Any]], other: list[dict[str, Any]], metric: str
) -> list[tuple[str, float, float, dict[str, Any], dict[str, Any]]]:
    """Pair two variants' rows by example id (by position when rows carry no id)."""

    def key(i: int, row: dict[str, Any]) -> str:
        return str(row.get("id", i))

    by_id = {key(i, r): r for i, r in enumerate(base)}
    pairs = []
    for i, row in enumerate(other):
        match = by_id.get(key(i, row))
        if match is None:
            continue
        x, y = _score(match, metric), _score(row, metric)
        if x is not None and y is not None:
            pairs.append((key(i, row), x, y, match, row))
    return pairs


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
                    found = _compare(results, eval_set, metric, baseline, v.variant)
                    if found is not None:
                        comparisons.append(found)
    return comparisons, best


def _compare(results: Results, eval_set: str, metric: str, baseline: str, variant: str) -> Comparison | None:
    pairs = _paired_scores(results[(eval_set, baseline)], results[(eval_set, variant)], metric)
    if not pairs:
        return None
    a, b = [p[1] for p in pairs], [p[2] for p in pairs]
    paired, test = compare_paired(a, b)
    return Comparison(
        eval_set=eval_set,
        metric=metric,
        variant=variant,
        baseline=baseline,
        difference=paired.difference,
        ci95=paired.ci95,
        p_value=paired.p,
        test=test,
        n=len(pairs),
        wins=sum(y > x for x, y in zip(a, b, strict=True)),
        losses=sum(y < x for x, y in zip(a, b, strict=True)),
    )


def _advised_primary(run: Path, config: dict[str, Any]) -> str | None:
    advised = config.get("advised")
    if isinstance(advised, dict) and advised.get("primary"):
        return str(advised["primary"])
    advice_file = run / "advice.json"
    if advice_file.is_file():
        advice = read_json(advice_file)
        primary = (advice.get("recommendation") or {}).get("primary")
        return str(primary) if primary else None
    return None


def _forgetting_row(task: str, entry: dict[str, Any]) -> ForgettingRow:
    return ForgettingRow(
        task=task,
        base_acc=entry["base"]["acc"],
        tuned_acc=entry["tuned"]["acc"],
        n=entry["base"]["n"],
        delta=entry["delta"],
        ci95=tuple(entry["ci95"]),
        p_value=entry["p_value"],
    )


def _forgetting(
    run: Path, notes: list[str], current: CurrentOutputs
) -> tuple[list[ForgettingRow], ForgettingRow | None, bool | None]:
    file = run / "forgetting" / "forgetting.json"
    if file.is_file() and not current.keep(file.parent):
        notes.append("No current forgetting check in this run (the one in forgetting/ is stale).")
        return [], None, None
    if not file.is_file():
        notes.append("No forgetting check in this run (forgetting/forgetting.json is missing).")
        return [], None, None
    data = read_json(file)
    try:
        rows = [_forgetting_row(task, entry) for task, entry in (data.get("tasks") or {}).items()]
        overall = _forgetting_row("all tasks", data["overall"]) if data.get("overall") else None
    except (KeyError, TypeError, IndexError) as error:
        raise BadInput(f"{file}: missing or malformed field {error}; expected tasks.<task>.base.acc etc.") from None
    if overall is None and len(rows) == 1:
        overall = rows[0]
    return rows, overall, data.get("adapter_applied")


def _training(run: Path, config: dict[str, Any], notes: list[str], current: CurrentOutputs) -> list[TrainingRow]:
    train_dir = run / "train"
    if not train_dir.is_dir():
        return []
    planned = [m for m in config.get("methods") or [] if isinstance(m, str)]
    found = sorted(p.name for p in train_dir.iterdir() if p.is_dir() and current.keep(p))
    rows = []
    for method in [m for m in planned if m in found] + [m for m in found if m not in planned]:
        folder = train_dir / method
        curve = []
        if (folder / "metrics.jsonl").is_file():
            for i, log in enumerate(read_jsonl(folder / "metrics.jsonl")):
                values = {k: float(v) for k, v in log.items() if k != "step" and isinstance(v, (int, float))}
                curve.append(CurvePoint(step=int(log.get("step", i)), values=values))
        summary = read_json(folder / "train_summary.json") if (folder / "train_summary.json").is_file() else {}
        if not summary:
            notes.append(f"train/{method}: no train_summary.json; its cost is not shown.")
        keep = ("steps", "tokens", "wall_s", "tokens_per_s", "peak_memory_mb", "adapter_size_bytes")
        rows.append(TrainingRow(method=method, curve=curve, **{k: summary.get(k) for k in keep}))
    return rows


def _diversity(results: Results) -> list[DiversityRow]:
    rows = []
    for (eval_set, variant), items in sorted(results.items(), key=_order):
        outputs = [str(r.get("output", "")) for r in items]
        rows.append(
            DiversityRow(
                eval_set=eval_set,
                variant=variant,
                distinct_1=distinct_n(outputs, 1),
                distinct_2=distinct_n(outputs, 2),
                self_similarity=self_similarity(outputs),
                n=len(outputs),
            )
        )
    return rows


def _changed(
    results: Results, variants: list[VariantRow], primary: dict[str, str], best: dict[tuple[str, str], str]
) -> list[ChangedExample]:
    """The examples where the best fine-tuned variant moved most from the best baseline, both ways."""
    changed: list[ChangedExample] = []
    for eval_set, metric in primary.items():
        leader = best.get((eval_set, metric))
        tuned = [v for v in variants if v.eval_set == eval_set and v.variant in TUNED and metric in v.metrics]
        if leader is None:
            continue
        if not tuned:  # no training: show how the other baselines differ from the best one
            tuned = [v for v in variants if v.eval_set == eval_set and v.variant != leader and metric in v.metrics]
        if not tuned:
            continue
        top = max(tuned, key=lambda v: v.metrics[metric].mean).variant
        pairs = _paired_scores(results[(eval_set, leader)], results[(eval_set, top)], metric)
        # Largest change first; equal changes (every one of a 0/1 metric) in example order.
        worse = sorted((p for p in pairs if p[2] < p[1]), key=lambda p: (p[2] - p[1], p[0]))
        better = sorted((p for p in pairs if p[2] > p[1]), key=lambda p: (p[1] - p[2], p[0]))
        worse, better = worse[:CHANGED_PER_DIRECTION], better[:CHANGED_PER_DIRECTION]
        for direction, group in (("better", better), ("worse", worse)):
            for ident, x, y, base_row, row in group:
                changed.append(
                    ChangedExample(
                        eval_set=eval_set,
                        metric=metric,
                        id=ident,
                        variant=top,
                        baseline=leader,
                        direction=direction,
                        change=y - x,
                        prompt=_prompt_text(row),
                        reference=str(row.get("reference", "")),
                        baseline_output=str(base_row.get("output", "")),
                        variant_output=str(row.get("output", "")),
                    )
                )
    return changed


def _prompt_text(row: dict[str, Any]) -> str:
    prompt = row.get("prompt", "")
    if isinstance(prompt, list):  # a message list: show the last user turn
        users = [m.get("content", "") for m in prompt if isinstance(m, dict) and m.get("role") == "user"]
        return str(users[-1] if users else "")
    return str(prompt)

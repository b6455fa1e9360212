"""The proof: the exported model, run through ``posttrain eval``'s own function, against the run's outputs.

Each eval set of the run is evaluated again on the merged folder with the settings the tuned stage
used (system prompt, max new tokens, seed, retrieval), and every row is compared with what the run
recorded: the output text, the scores and the retrieved context ids. Greedy decoding on the same
device and dtype as the run (float32 on a CPU), on the same rows, must give the same text; another
device or dtype, or only some rows (``--check-rows``, which changes how rows are batched and padded),
may move a near-tie, so there ≥ 98% of rows must agree. Differing rows are always listed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from harness.export.source import RESULTS, RunSource

EXACT_DTYPE = "float32"
TOLERANT_SHARE = 0.98  # of rows identical, when precision or batching differs from the run's


class RowDiff(BaseModel):
    model_config = ConfigDict(extra="forbid")

    eval_set: str
    id: str
    recorded: str
    exported: str
    recorded_scores: dict[str, float]
    exported_scores: dict[str, float]
    recorded_context: list[str] = Field(default_factory=list, description="Retrieved chunk ids (RAG variant).")
    exported_context: list[str] = Field(default_factory=list)


class SetCheck(BaseModel):
    model_config = ConfigDict(extra="forbid")

    eval_set: str
    rows: int
    identical: int
    recorded_means: dict[str, float] = Field(description="Metric means the run recorded, over the compared rows.")
    exported_means: dict[str, float] = Field(description="The same metrics on the exported model.")
    results: str = Field(description="The exported model's results.jsonl.")


class ExportCheck(BaseModel):
    model_config = ConfigDict(extra="forbid")

    variant: str
    dtype: str
    ran_on: str | None = Field(description="device/dtype the export ran on for the check.")
    recorded_ran_on: str | None = Field(description="device/dtype of the run's recorded outputs.")
    all_rows: bool = Field(description="Every recorded row was compared (no --check-rows cut).")
    required_share: float = Field(description="1.0 on the run's device and dtype, on every row; 0.98 otherwise.")
    rows_compared: int
    rows_identical: int
    passed: bool
    sets: list[SetCheck]
    differing: list[RowDiff]

    @property
    def share(self) -> float:
        return self.rows_identical / self.rows_compared if self.rows_compared else 0.0

    def line(self) -> str:
        verdict = "reproduces the run" if self.passed else "does NOT reproduce the run"
        rule = "all rows must match" if self.required_share == 1.0 else f"≥ {self.required_share:.0%} must match"
        return (
            f"check: {self.rows_identical}/{self.rows_compared} rows identical ({self.variant}, {self.ran_on}; "
            f"{rule}): the export {verdict}"
        )


def _read_results(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _means(rows: list[dict[str, Any]], metrics: list[str]) -> dict[str, float]:
    means = {}
    for name in metrics:
        values = [float(r["scores"][name]) for r in rows if name in r.get("scores", {})]
        if values:
            means[name] = sum(values) / len(values)
    return means


def check_export(
    source: RunSource,
    model_dir: Path,
    out_dir: Path,
    *,
    dtype: str = EXACT_DTYPE,
    check_rows: int | None = None,
    retriever: Any = None,
    retriever_id: str | None = None,
) -> ExportCheck:
    """Evaluate ``model_dir`` on the run's eval sets and compare row by row with the recorded outputs."""
    from harness.evaluation.runner import EvalRequest, evaluate

    config = source.config
    sets: list[SetCheck] = []
    differing: list[RowDiff] = []
    all_rows = True
    ran_on: str | None = None
    for spec in config.evals:
        recorded = {str(r["id"]): r for r in _read_results(source.eval_dir(spec.name) / RESULTS)}
        limit = spec.limit
        if check_rows is not None and check_rows < len(recorded):
            limit, all_rows = check_rows, False
        extra: dict[str, Any] = {}
        if source.variant == "tuned_rag":
            extra = {"retriever": retriever, "retriever_id": retriever_id, "top_k": config.baselines.rag.top_k}
        # The tuned stage's request (harness.runner.stages._evaluate_variants) with the merged folder as the
        # model and no adapter; the cache is off so the exported weights really run.
        request = EvalRequest(
            data=str(source.data_path(spec.path)),
            model=str(model_dir),
            metrics=spec.metrics,
            variant=source.variant,  # type: ignore[arg-type]
            eval_set=spec.name,
            system_prompt=config.baselines.system_prompt,
            columns=spec.columns,  # evals[].columns, as the tuned stage read the set
            split=spec.split,
            limit=limit,
            max_new_tokens=spec.max_new_tokens,
            seed=config.training.seed,
            dtype=dtype,
            device=config.compute.device,
            out=str(out_dir / source.variant / spec.name),
            use_cache=False,
            **extra,
        )
        summary = evaluate(request)
        ran_on = ran_on or summary.ran_on
        exported = _read_results(Path(summary.out_dir) / RESULTS)
        compared: list[dict[str, Any]] = []
        same = 0
        for row in exported:
            before = recorded.get(str(row["id"]))
            if before is None:  # the eval file changed since the run: a row the run never saw
                differing.append(_diff(spec.name, {"id": row["id"], "output": "(not in the run)", "scores": {}}, row))
                continue
            compared.append(before)
            if _identical(before, row):
                same += 1
            else:
                differing.append(_diff(spec.name, before, row))
        sets.append(
            SetCheck(
                eval_set=spec.name,
                rows=len(exported),
                identical=same,
                recorded_means=_means(compared, spec.metrics),
                exported_means=_means(exported, spec.metrics),
                results=str(Path(summary.out_dir) / RESULTS),
            )
        )
    compared_n = sum(s.rows for s in sets)
    identical_n = sum(s.identical for s in sets)
    # Runs made before summaries recorded ran_on evaluated in float32 on the CPU.
    expected_on = source.ran_on or "cpu/float32"
    required = 1.0 if all_rows and ran_on == expected_on else TOLERANT_SHARE
    passed = compared_n > 0 and identical_n >= required * compared_n
    return ExportCheck(
        variant=source.variant,
        dtype=dtype,
        ran_on=ran_on,
        recorded_ran_on=source.ran_on,
        all_rows=all_rows,
        required_share=required,
        rows_compared=compared_n,
        rows_identical=identical_n,
        passed=passed,
        sets=sets,
        differing=differing,
    )


def _identical(recorded: dict[str, Any], exported: dict[str, Any]) -> bool:
    return (
        recorded.get("output") == exported.get("output")
        and recorded.get("scores") == exported.get("scores")
        and list(recorded.get("context_ids") or []) == list(exported.get("context_ids") or [])
    )


def _diff(eval_set: str, recorded: dict[str, Any], exported: dict[str, Any]) -> RowDiff:
    return RowDiff(
        eval_set=eval_set,
        id=str(exported["id"]),
        recorded=str(recorded.get("output")),
        exported=str(exported.get("output")),
        recorded_scores=recorded.get("scores") or {},
        exported_scores=exported.get("scores") or {},
        recorded_context=[str(c) for c in recorded.get("context_ids") or []],
        exported_context=[str(c) for c in exported.get("context_ids") or []],
    )

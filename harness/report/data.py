"""What a report holds: everything collected from a run directory, ready for the templates.

The templates only format these values; every number is computed in ``collect`` and ``stats``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

VARIANTS = ("prompt", "kshot", "rag", "tuned", "tuned_rag")
BASELINES = ("prompt", "kshot", "rag")
VARIANT_LABELS = {
    "prompt": "prompting",
    "kshot": "few-shot prompting",
    "rag": "RAG",
    "tuned": "fine-tuning",
    "tuned_rag": "fine-tuning + RAG",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MetricCell(_Strict):
    mean: float = Field(description="Mean score over the eval set.")
    ci95: tuple[float, float] = Field(description="95% bootstrap interval of the mean.")
    n: int = Field(description="Examples scored.")


class VariantRow(_Strict):
    eval_set: str
    variant: str
    metrics: dict[str, MetricCell]
    latency_s: float | None = Field(None, description="Mean generation latency per example, seconds.")


class Comparison(_Strict):
    eval_set: str
    metric: str
    variant: str
    baseline: str = Field(description="The best baseline on this eval set and metric.")
    difference: float = Field(description="variant − baseline, example by example (same units as the metric).")
    ci95: tuple[float, float]
    p_value: float
    test: str = Field(description="'McNemar exact' for pass/fail metrics, else 'paired bootstrap'.")
    n: int = Field(description="Examples present in both variants.")
    wins: int = Field(description="Examples where the variant scored higher.")
    losses: int = Field(description="Examples where the variant scored lower.")


class ForgettingRow(_Strict):
    task: str
    base_acc: float
    tuned_acc: float
    n: int
    delta: float
    ci95: tuple[float, float]
    p_value: float


class CurvePoint(_Strict):
    step: int
    values: dict[str, float] = Field(description="loss, reward, learning_rate … logged at this step.")


class TrainingRow(_Strict):
    method: str
    curve: list[CurvePoint] = Field(default_factory=list)
    steps: int | None = None
    tokens: int | None = None
    wall_s: float | None = None
    tokens_per_s: float | None = None
    peak_memory_mb: float | None = None
    adapter_size_bytes: int | None = None


class DiversityRow(_Strict):
    eval_set: str
    variant: str
    distinct_1: float
    distinct_2: float
    self_similarity: float
    n: int


class ChangedExample(_Strict):
    eval_set: str
    metric: str
    id: str
    variant: str
    baseline: str
    direction: str = Field(description="'better' or 'worse' for the variant.")
    change: float
    prompt: str
    reference: str
    baseline_output: str
    variant_output: str


class Verdict(_Strict):
    sentence: str = Field(description="The plain-language verdict.")
    advice: str | None = Field(None, description="Whether the advisor's recommendation held, in words.")
    advice_held: bool | None = None


class ReportData(_Strict):
    run_dir: str
    run_id: str
    experiment: str | None = None
    model: str | None = None
    advised_primary: str | None = None
    primary_metric: dict[str, str] = Field(default_factory=dict, description="eval set -> metric the verdict uses.")
    variants: list[VariantRow] = Field(default_factory=list)
    comparisons: list[Comparison] = Field(default_factory=list)
    forgetting: list[ForgettingRow] = Field(default_factory=list)
    forgetting_overall: ForgettingRow | None = None
    forgetting_adapter_applied: bool | None = None
    training: list[TrainingRow] = Field(default_factory=list)
    diversity: list[DiversityRow] = Field(default_factory=list)
    changed: list[ChangedExample] = Field(default_factory=list)
    verdict: Verdict
    notes: list[str] = Field(default_factory=list, description="What was missing or skipped, in words.")

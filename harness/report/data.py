"""What a report holds: everything collected from a run directory, ready for the templates.

The templates only format these values; every number is computed in ``collect`` and ``stats``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.evaluation.health import HealthCounts

VARIANTS = ("prompt", "kshot", "rag", "tuned", "tuned_rag")  # also the cost order, cheapest first
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
    prompt_tokens: float | None = Field(None, description="Mean prompt tokens per request (template included).")
    latency_bs1_s: float | None = Field(None, description="Median seconds per request at batch size 1 (sample).")
    health: HealthCounts | None = Field(None, description="Cut, repeated and hedged answers.")


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
    p_holm: float | None = Field(None, description="Holm–Bonferroni adjusted p, for the comparisons the verdict uses.")


class ForgettingRow(_Strict):
    task: str
    base_acc: float
    tuned_acc: float
    n: int
    delta: float
    ci95: tuple[float, float]
    p_value: float
    p_holm: float | None = Field(None, description="Holm–Bonferroni adjusted over the subtasks.")


class SeedSpread(_Strict):
    """The tuned variant's score across training seeds (``training.seeds``): training variance, beside the
    eval interval, which covers only the examples of one training run."""

    eval_set: str
    metric: str
    variant: str = Field("tuned", description="The variant retrained per seed.")
    seeds: list[int] = Field(description="The training seeds, the main run's first.")
    scores: list[float] = Field(description="The variant's mean score per seed, in the order of seeds.")
    mean: float
    low: float = Field(description="The lowest score over the seeds.")
    high: float = Field(description="The highest score over the seeds.")
    sd: float | None = Field(None, description="Sample standard deviation across seeds (n − 1); none for one seed.")
    n: int = Field(description="Seeds with a score.")


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
    advice_status: Literal["held", "tied", "did not hold", "not evaluated"] | None = None
    warnings: list[str] = Field(default_factory=list, description="Why some scores are not evidence (a weak judge).")


class JudgeAgreementRow(_Strict):
    eval_set: str
    n: int = Field(description="Answers people labelled 1 good / 0 bad, graded by the judge.")
    agreement: float = Field(description="Share where the judge's good/bad call (grade ≥ 0.5) matches the label.")
    kappa: float = Field(description="Cohen's kappa: agreement beyond chance (nan with one class only).")
    ci95: tuple[float, float] = Field(description="95% bootstrap interval of kappa.")
    weak: bool = Field(description="kappa < 0.4 (or undefined): the judge's scores are not evidence.")


class CostRow(_Strict):
    variant: str
    prompt_tokens: float | None = Field(None, description="Mean prompt tokens per request over the eval sets.")
    latency_bs1_s: float | None = Field(None, description="Median seconds per request at batch size 1.")
    train_wall_s: float | None = None
    train_tokens: int | None = None
    peak_memory_mb: float | None = Field(None, description="Peak training memory.")
    adapter_size_bytes: int | None = None
    usd_per_1k_requests: float | None = Field(None, description="Priced cost of a hosted endpoint, per 1,000 requests.")
    tokens_estimated: bool = Field(False, description="The endpoint sent no usage: tokens are estimated.")


class PowerRow(_Strict):
    eval_set: str
    metric: str
    n: int = Field(description="Paired examples.")
    variant: str
    other: str
    discordant: float | None = Field(None, description="Share of pairs where exactly one passed (pass/fail).")
    detectable: float | None = Field(None, description="Smallest difference detectable at 80% power, α = 0.05.")
    observed: float
    significant: bool
    pairs_needed: float | None = Field(None, description="Pairs that would detect the observed difference.")


class RagDiagnosis(_Strict):
    eval_set: str
    variant: str
    k: int = Field(description="Chunks retrieved per question.")
    n: int = Field(description="Rows that name a source.")
    hits: int = Field(description="Rows whose source was among the retrieved chunks.")
    misses: int = Field(description="Rows answered wrongly (first metric below 1, or below 0.5 when graded).")
    not_retrieved: int
    retrieved_not_used: int


class Decision(_Strict):
    status: Literal["ship", "undecided"]
    variant: str | None = Field(None, description="The variant to ship (status ship).")
    contender: str | None = Field(None, description="The cheaper variant it could not be told from (undecided).")
    margin_points: float
    why: str
    cost: str | None = None
    next_step: str
    more_rows: int | None = Field(None, description="Roughly how many more paired rows would decide it.")


class ReportData(_Strict):
    run_dir: str
    run_id: str
    experiment: str | None = None
    model: str | None = None
    sandbox: list[str] = Field(default_factory=list, description="Isolation modes unit_tests code ran under.")
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
    decision: Decision | None = None
    costs: list[CostRow] = Field(default_factory=list)
    verdict_tests: list[Comparison] = Field(
        default_factory=list, description="Advised variant vs each other one, first metric, Holm-corrected."
    )
    power: list[PowerRow] = Field(default_factory=list)
    rag: list[RagDiagnosis] = Field(default_factory=list)
    judge_agreement: list[JudgeAgreementRow] = Field(
        default_factory=list, description="Per eval set with judge.labels: does the judge grade as people do?"
    )
    seeds: list[SeedSpread] = Field(default_factory=list, description="Spread of the tuned variant across seeds.")
    notes: list[str] = Field(default_factory=list, description="What was missing or skipped, in words.")
    problems: list[str] = Field(
        default_factory=list,
        description="Stage outputs that could not be read ('file[:line]: what'); the report shows the rest.",
    )
    stale: list[str] = Field(
        default_factory=list, description="Outputs left out as stale ('folder: why'): not made by the current run."
    )
    not_run: list[str] = Field(default_factory=list, description="Requested variants that could not run, and why.")

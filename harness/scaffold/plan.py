"""What to generate: a ``ScaffoldPlan`` from advice or flags, and the defaults with their arithmetic.

Pure functions over values; rendering and writing live in ``harness.scaffold.render``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.config import Method
from harness.scaffold.advice import AdviceFile, Approach
from posttrain.errors import BadInput

Compute = Literal["cpu", "gpu_24gb", "gpu_80gb", "multi_gpu"]
# What `--method` accepts; "rl" is the advisor's word for grpo, "reward" a learned reward model before grpo.
METHOD_WORDS = ("prompting", "rag", "sft", "dpo", "grpo", "rl", "reward")
METHOD_CHOICES = ("prompting", "rag", "rag+sft", "sft", "dpo", "sft+dpo", "grpo", "reward+grpo")
DEFAULT_MODEL = "smollm2-135m"
DEFAULT_SYSTEM_PROMPT = (
    "You are the help desk of Harbor Lane Hardware. Work out the numbers step by step, "
    "then end with one line: 'Answer: <number>'."
)
STARTER_SFT_ROWS = 32  # rows in data/train.jsonl; the step arithmetic in experiment.yaml uses it
STARTER_EVAL_ROWS = 24  # rows in data/eval.jsonl


class ScaffoldPlan(BaseModel):
    """Everything the templates need, derived once from the advice or the flags."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Experiment name (report titles).")
    model: str = Field(DEFAULT_MODEL, description="Base model spec.")
    methods: list[Method] = Field(default_factory=list, description="Training stages in order.")
    rag: bool = Field(False, description="Knowledge documents and the RAG baseline are part of the plan.")
    reward_kind: Literal["verifiable", "learned"] = Field("verifiable", description="GRPO reward kind.")
    compute: Compute = Field("cpu", description="Hardware the defaults are sized for.")
    system_prompt: str = Field(DEFAULT_SYSTEM_PROMPT, description="System prompt of every variant.")
    forgetting_tolerance: Literal["low", "medium", "high"] = Field("medium", description="From the answers.")
    primary: Approach | None = Field(None, description="The advisor's primary recommendation.")
    advisor_plan: list[str] = Field(default_factory=list, description="The advisor's ordered plan.")
    sft_data_strategy: str | None = Field(None, description="The advisor's SFT data strategy.")
    reasons: list[str] = Field(default_factory=list, description="Why the primary approach was recommended.")
    cautions: list[str] = Field(default_factory=list, description="The advisor's cautions.")
    next_steps: list[str] = Field(default_factory=list, description="The advisor's next steps.")
    answers: dict[str, Any] | None = Field(None, description="Answers that produced the advice.")
    advice: dict[str, Any] | None = Field(None, description="The whole advice, copied into the scaffold.")


def parse_method_spec(spec: str) -> tuple[list[Method], bool, Literal["verifiable", "learned"]]:
    """``"rag+sft"`` → (methods, rag planned, reward kind).

    >>> parse_method_spec("sft+dpo")
    (['sft', 'dpo'], False, 'verifiable')
    >>> parse_method_spec("rag, rl")
    (['grpo'], True, 'verifiable')
    >>> parse_method_spec("reward+grpo")
    (['reward', 'grpo'], False, 'learned')
    >>> parse_method_spec("prompting")
    ([], False, 'verifiable')
    """
    words = [w for w in re.split(r"[+,\s]+", spec.strip().lower()) if w]
    unknown = [w for w in words if w not in METHOD_WORDS]
    if unknown or not words:
        raise BadInput(f"--method: unknown {unknown or [spec]}; choose from {', '.join(METHOD_CHOICES)}")
    methods: list[Method] = []
    for word in words:
        method: Method | None = {"sft": "sft", "dpo": "dpo", "grpo": "grpo", "rl": "grpo", "reward": "reward"}.get(word)  # type: ignore[assignment]
        if method is not None and method not in methods:
            methods.append(method)
    learned = "reward" in methods
    if learned and "grpo" in methods and methods.index("reward") > methods.index("grpo"):
        methods.remove("reward")
        methods.insert(methods.index("grpo"), "reward")
    return methods, "rag" in words, "learned" if learned else "verifiable"


def methods_from_advice(plan: Sequence[str], reward: str | None) -> list[Method]:
    """The interface mapping: sft→sft, dpo→dpo, rl→grpo (``reward`` first when learned), rag/prompting→none.

    >>> methods_from_advice(["rag", "sft"], None)
    ['sft']
    >>> methods_from_advice(["rl"], "learned")
    ['reward', 'grpo']
    """
    methods: list[Method] = []
    for step in plan:
        if step == "sft":
            methods.append("sft")
        elif step == "dpo":
            methods.append("dpo")
        elif step == "rl":
            methods.extend(["reward", "grpo"] if reward == "learned" else ["grpo"])
    return list(dict.fromkeys(methods))


def plan_from_advice(
    advice: AdviceFile,
    name: str,
    model: str | None = None,
    method: str | None = None,
    system_prompt: str | None = None,
) -> ScaffoldPlan:
    """A plan following the advice; ``method`` (a ``--method`` spec) overrides the advised steps."""
    rec = advice.recommendation
    reward_kind: Literal["verifiable", "learned"] = rec.rl.reward if rec.rl else "verifiable"
    if method:
        methods, rag, reward_kind = parse_method_spec(method)
    else:
        steps = rec.plan or [rec.primary]
        methods, rag = methods_from_advice(steps, reward_kind), "rag" in steps
    top = next((r for r in rec.ranking if r.approach == rec.primary), None)
    answers = advice.answers
    compute = answers.get("compute", "cpu")
    tolerance = answers.get("forgetting_tolerance", "medium")
    return ScaffoldPlan(
        name=name,
        model=model or DEFAULT_MODEL,
        methods=methods,
        rag=rag,
        reward_kind=reward_kind,
        compute=compute if compute in ("cpu", "gpu_24gb", "gpu_80gb", "multi_gpu") else "cpu",
        system_prompt=system_prompt or DEFAULT_SYSTEM_PROMPT,
        forgetting_tolerance=tolerance if tolerance in ("low", "medium", "high") else "medium",
        primary=rec.primary,
        advisor_plan=list(rec.plan),
        sft_data_strategy=rec.sft_data_strategy,
        reasons=[r.text for r in top.reasons] if top else [],
        cautions=[c.text for c in rec.cautions],
        next_steps=list(rec.next_steps),
        answers=answers,
        advice=advice.model_dump(mode="json"),
    )


def plan_from_flags(
    name: str, method: str, model: str | None = None, compute: str = "cpu", system_prompt: str | None = None
) -> ScaffoldPlan:
    """A plan without advice: the method spec and model the user chose."""
    methods, rag, reward_kind = parse_method_spec(method)
    if compute not in ("cpu", "gpu_24gb", "gpu_80gb", "multi_gpu"):
        raise BadInput(f"--compute: unknown {compute!r}; choose from cpu, gpu_24gb, gpu_80gb, multi_gpu")
    return ScaffoldPlan(
        name=name,
        model=model or DEFAULT_MODEL,
        methods=methods,
        rag=rag,
        reward_kind=reward_kind,
        compute=compute,  # type: ignore[arg-type]
        system_prompt=system_prompt or DEFAULT_SYSTEM_PROMPT,
    )


# Per compute class: (batch size, gradient accumulation, max length, precision, SFT steps, forgetting items).
# CPU sizes keep the starter run to minutes on two cores; GPU sizes follow common LoRA recipes.
_SIZES: dict[str, tuple[int, int, int, str, int, int]] = {
    "cpu": (4, 2, 256, "fp32", 30, 100),
    "gpu_24gb": (8, 2, 512, "bf16", 100, 300),
    "gpu_80gb": (8, 4, 512, "bf16", 100, 300),
    "multi_gpu": (8, 4, 512, "bf16", 100, 300),
}


def ci_half_width(n: int, p: float = 0.5) -> float:
    """Half-width of a 95% interval on a 0-1 score from n items, worst case p = 0.5: 1.96 × √(p(1−p)/n).

    >>> ci_half_width(24), ci_half_width(200), ci_half_width(100)
    (0.2, 0.07, 0.1)
    """
    return round(1.96 * math.sqrt(p * (1 - p) / n), 2)


def training_defaults(plan: ScaffoldPlan) -> dict[str, Any]:
    """The numbers experiment.yaml writes, with the arithmetic its comments quote.

    >>> d = training_defaults(ScaffoldPlan(name="x", methods=["sft"], compute="gpu_80gb"))
    >>> d["tokens_per_step"], d["steps_per_epoch"]
    (16384, 1)
    >>> training_defaults(ScaffoldPlan(name="x", methods=["sft"]))["tokens_per_step"]
    2048
    """
    batch, accumulation, max_length, precision, steps, forgetting_limit = _SIZES[plan.compute]
    processes = 2 if plan.compute == "multi_gpu" else 1
    examples_per_step = batch * accumulation * processes
    steps_per_epoch = math.ceil(STARTER_SFT_ROWS / examples_per_step)
    return {
        "batch_size": batch,
        "gradient_accumulation": accumulation,
        "max_length": max_length,
        "precision": precision,
        "num_processes": processes,
        "examples_per_step": examples_per_step,
        "tokens_per_step": examples_per_step * max_length,
        "starter_rows": STARTER_SFT_ROWS,
        "steps_per_epoch": steps_per_epoch,
        "max_steps": steps,
        "starter_epochs": round(steps / steps_per_epoch, 1),
        "examples_seen": steps * examples_per_step,
        "learning_rate": 2e-4,
        "dpo_learning_rate": 5e-5,
        "grpo_learning_rate": 5e-5,
        "num_generations": 4,
        # TRL counts GRPO batches in completions: each prompt is sampled num_generations (4) times.
        "grpo_prompts_per_step": max(1, examples_per_step // 4),
        "max_completion_length": 64 if plan.compute == "cpu" else 256,
        "replay": plan.forgetting_tolerance != "high" and bool(plan.methods),
        "replay_fraction": 0.2 if plan.forgetting_tolerance == "low" else 0.1,
        "forgetting_limit": forgetting_limit,
        "forgetting_ci": ci_half_width(forgetting_limit),
        "starter_eval_rows": STARTER_EVAL_ROWS,
        "starter_eval_ci": ci_half_width(STARTER_EVAL_ROWS),
        "eval_ci_200": ci_half_width(200),
        "lora_r": 16,
        "lora_alpha": 32,
    }

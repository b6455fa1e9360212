"""What to generate: a ``ScaffoldPlan`` from advice or flags, and the defaults with their arithmetic.

Pure functions over values; rendering and writing live in ``harness.scaffold.render``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.config import LoraSettings, Method, TrainingSettings
from harness.scaffold.advice import AdviceFile, Approach
from harness.scaffold.tasks import JUDGE_METRICS, JUDGE_NOTE, TASKS, Task, judge_rubric, task_for
from harness.training.methods.grpo import GrpoSettings
from posttrain.errors import BadInput

Compute = Literal["cpu", "gpu_24gb", "gpu_80gb", "multi_gpu"]
# What `--method` accepts; "rl" is the advisor's word for grpo, "reward" a learned reward model before RL.
METHOD_WORDS = ("prompting", "rag", "sft", "dpo", "kto", "grpo", "rloo", "ppo", "rl", "reward")
METHOD_CHOICES = (
    "prompting", "rag", "rag+sft", "sft", "dpo", "kto", "sft+dpo", "grpo", "rloo", "reward+grpo", "reward+rloo",
    "reward+ppo",
)  # fmt: skip
RL_METHODS = ("grpo", "rloo", "ppo")
DEFAULT_MODEL = "smollm2-135m"
DEFAULT_SYSTEM_PROMPT = TASKS["arithmetic"].system_prompt
# The judge of `human_judgment` plans: an OpenAI-compatible endpoint (Ollama serves one on this port), never
# the model being tuned; point `judge.model`/`judge.url` at your own, or at a local model directory.
DEFAULT_JUDGE_URL = "http://localhost:11434/v1"
DEFAULT_JUDGE_MODEL = "qwen2.5:7b-instruct"
STARTER_SFT_ROWS = 32  # rows in data/train.jsonl; the step arithmetic in experiment.yaml uses it
STARTER_EVAL_ROWS = 24  # rows in data/eval.jsonl
# The experiment.yaml values the plan sizes (hardware, starter data, the plan's own choices); every other
# value the scaffold writes is the schema's default (tests/test_scaffold.py holds the two to that).
SIZED_BY_PLAN = (
    "training.batch_size", "training.gradient_accumulation", "training.max_length", "training.max_steps",
    "compute.precision", "compute.launcher", "compute.num_processes", "compute.accelerate_config",
    "forgetting.limit", "data.replay.fraction",
    "dpo.learning_rate", "dpo.max_steps", "kto.learning_rate", "kto.max_steps",
    "grpo.learning_rate", "grpo.max_completion_length", "rloo.learning_rate", "rloo.max_completion_length",
    "rloo.beta", "ppo.max_completion_length",
    "lora.qlora", "training.gradient_checkpointing",  # the memory plan's choice for a big model on a GPU
)  # fmt: skip


class ScaffoldPlan(BaseModel):
    """Everything the templates need, derived once from the advice or the flags."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Experiment name (report titles).")
    model: str = Field(DEFAULT_MODEL, description="Base model spec.")
    methods: list[Method] = Field(default_factory=list, description="Training stages in order.")
    rag: bool = Field(False, description="Knowledge documents and the RAG baseline are part of the plan.")
    reward_kind: Literal["verifiable", "learned"] = Field("verifiable", description="RL reward kind.")
    task: Task = Field("arithmetic", description="The starter task, from the success check and the goals.")
    success_check: str = Field("none", description="How outputs are checked (the advice's success check).")
    metrics: list[str] = Field(default_factory=list, description="The task eval set's metrics (from the task).")
    judge: dict[str, str] | None = Field(None, description="Judge model, endpoint and rubric for the judge metric.")
    rl_algorithm: str | None = Field(None, description="grpo, rloo or ppo, when RL is planned.")
    preference_algorithm: str | None = Field(None, description="dpo or kto, when preference tuning is planned.")
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
    """``"rag+sft"`` → (methods, rag planned, reward kind); a reward stage moves before the RL it feeds.

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
        method: Method | None = None if word in ("prompting", "rag") else ("grpo" if word == "rl" else word)  # type: ignore[assignment]
        if method is not None and method not in methods:
            methods.append(method)
    if "ppo" in methods and "reward" not in methods:
        methods.insert(methods.index("ppo"), "reward")  # PPO's critic learns from a reward model
    learned = "reward" in methods
    rl = next((m for m in methods if m in RL_METHODS), None)
    if learned and rl and methods.index("reward") > methods.index(rl):
        methods.remove("reward")
        methods.insert(methods.index(rl), "reward")
    return methods, "rag" in words, "learned" if learned else "verifiable"


def methods_from_advice(
    plan: Sequence[str], reward: str | None, rl_algorithm: str | None = None, preference: str | None = None
) -> list[Method]:
    """The interface mapping: sft→sft, dpo→dpo or kto, rl→grpo/rloo/ppo (``reward`` first when learned).

    >>> methods_from_advice(["rag", "sft"], None)
    ['sft']
    >>> methods_from_advice(["rl"], "learned")
    ['reward', 'grpo']
    >>> methods_from_advice(["sft", "dpo", "rl"], "learned", "rloo", "kto")
    ['sft', 'kto', 'reward', 'rloo']
    """
    methods: list[Method] = []
    for step in plan:
        if step == "sft":
            methods.append("sft")
        elif step == "dpo":
            methods.append("kto" if preference == "kto" else "dpo")
        elif step == "rl":
            algorithm: Method = rl_algorithm if rl_algorithm in RL_METHODS else "grpo"  # type: ignore[assignment]
            methods.extend(["reward", algorithm] if reward == "learned" else [algorithm])
    return list(dict.fromkeys(methods))


def _task_settings(task: Task, success_check: str, goals: list[str]) -> tuple[list[str], dict[str, str] | None]:
    """The task eval set's metrics and, for a human judgement, the judge (never the tuned model)."""
    if success_check == "human_judgment":
        judge = {"url": DEFAULT_JUDGE_URL, "model": DEFAULT_JUDGE_MODEL, "rubric": judge_rubric(goals)}
        return list(JUDGE_METRICS), judge
    return list(TASKS[task].metrics), None


def metric_note(plan: ScaffoldPlan) -> str:
    return JUDGE_NOTE if plan.judge else TASKS[plan.task].metric_note


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
    rl_algorithm = rec.rl.algorithm if rec.rl else None
    preference = rec.preference.algorithm if rec.preference else None
    if method:
        methods, rag, reward_kind = parse_method_spec(method)
    else:
        steps = rec.plan or [rec.primary]
        methods, rag = methods_from_advice(steps, reward_kind, rl_algorithm, preference), "rag" in steps
    top = next((r for r in rec.ranking if r.approach == rec.primary), None)
    answers = advice.answers
    compute = answers.get("compute", "cpu")
    tolerance = answers.get("forgetting_tolerance", "medium")
    # The advice keeps the success check; an older advice.json only has it in its answers.
    check = rec.success_check or str(answers.get("success_check", "none"))
    goals = [str(g) for g in answers.get("goals", [])] if isinstance(answers.get("goals"), list) else []
    task = task_for(check, rec.answer_type or _answer_type(answers, goals), goals)
    if reward_kind == "verifiable" and {"grpo", "rloo"} & set(methods) and not TASKS[task].rewards:
        task = "arithmetic"  # `--method grpo` over advice without a verifiable check: a task a program can score
    metrics, judge = _task_settings(task, check, goals)
    return ScaffoldPlan(
        name=name,
        model=model or DEFAULT_MODEL,
        methods=methods,
        rag=rag,
        reward_kind=reward_kind,
        task=task,
        success_check=check,
        metrics=metrics,
        judge=judge,
        rl_algorithm=next((m for m in methods if m in RL_METHODS), None),
        preference_algorithm=next((m for m in methods if m in ("dpo", "kto")), None),
        compute=compute if compute in ("cpu", "gpu_24gb", "gpu_80gb", "multi_gpu") else "cpu",
        system_prompt=system_prompt or TASKS[task].system_prompt,
        forgetting_tolerance=tolerance if tolerance in ("low", "medium", "high") else "medium",
        primary=rec.primary,
        advisor_plan=list(rec.plan),
        sft_data_strategy=rec.sft_data_strategy,
        reasons=[r.text for r in top.reasons] if top else [],
        cautions=[c.text for c in rec.cautions],
        next_steps=list(rec.next_steps),
        answers=answers,
        advice=advice.model_dump(mode="json", exclude_unset=True),  # verbatim: no added fields
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
        metrics=list(TASKS["arithmetic"].metrics),
        rl_algorithm=next((m for m in methods if m in RL_METHODS), None),
        preference_algorithm=next((m for m in methods if m in ("dpo", "kto")), None),
        compute=compute,  # type: ignore[arg-type]
        system_prompt=system_prompt or DEFAULT_SYSTEM_PROMPT,
    )


def _answer_type(answers: dict[str, Any], goals: list[str]) -> str:
    """An older advice.json names no answer type: the advisor's rule (a format goal means JSON, ...)."""
    given = str(answers.get("answer_type", "auto"))
    if given != "auto":
        return given
    if "format" in goals:
        return "json"
    return "text" if {"knowledge", "identity", "style"} & set(goals) else "number"


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
    group = GrpoSettings.model_fields["num_generations"].default
    processes = 2 if plan.compute == "multi_gpu" else 1
    examples_per_step = batch * accumulation * processes
    steps_per_epoch = math.ceil(STARTER_SFT_ROWS / examples_per_step)
    from harness.runner.memory_plan import scaffold_choice  # pure arithmetic: nothing heavy is imported

    # A big model on a GPU class: the memory plan (`posttrain run --dry-run --compute ...`) decides whether
    # gradient checkpointing or 4-bit QLoRA is needed for one micro-batch of batch × max_length tokens.
    lora = LoraSettings.model_fields
    memory = scaffold_choice(plan.model, plan.compute, batch, max_length, lora["r"].default, lora["dropout"].default)
    return {
        "gradient_checkpointing": bool(memory and memory.gradient_checkpointing),
        "qlora": bool(memory and memory.qlora),
        "memory_note": f"{memory.label}, ~{memory.total_gib:.0f} GiB for one micro-batch" if memory else None,
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
        "learning_rate": TrainingSettings.model_fields["learning_rate"].default,
        # Preference and RL updates need gentler rates than SFT (the method sections' learning_rate).
        "dpo_learning_rate": 5e-5,
        "grpo_learning_rate": 5e-5,
        "num_generations": group,
        # TRL counts GRPO batches in completions: each prompt is sampled num_generations times.
        "grpo_prompts_per_step": max(1, examples_per_step // group),
        "max_completion_length": 64 if plan.compute == "cpu" else 256,
        "replay": plan.forgetting_tolerance != "high" and bool(plan.methods),
        "replay_fraction": 0.2 if plan.forgetting_tolerance == "low" else 0.1,
        "forgetting_limit": forgetting_limit,
        "forgetting_ci": ci_half_width(forgetting_limit),
        "starter_eval_rows": STARTER_EVAL_ROWS,
        "starter_eval_ci": ci_half_width(STARTER_EVAL_ROWS),
        "eval_ci_200": ci_half_width(200),
        "lora_r": LoraSettings.model_fields["r"].default,
        "lora_alpha": LoraSettings.model_fields["alpha"].default,
        # The starter task's pieces (harness.scaffold.tasks), so the templates never guess them.
        "rl_method": next((m for m in plan.methods if m in ("grpo", "rloo")), None),
        "task_rewards": [{"name": n, "weight": w, "note": note} for n, w, note in TASKS[plan.task].rewards],
        "metric_note": metric_note(plan),
        "eval_tokens": TASKS[plan.task].max_new_tokens,
        "tokens_note": TASKS[plan.task].tokens_note,
        "answer_column": TASKS[plan.task].answer_column,
        "task_describes": TASKS[plan.task].describes,
    }

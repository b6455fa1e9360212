"""The advisor's data: the answers a user gives and the recommendation the engine returns.

Every answer has a documented default, so an empty answers file is valid (it describes "nothing known
yet" and gets the cheapest advice: prompting). The defaults are the ``Field(default=...)`` values below;
``posttrain advise --help`` and the README list them.
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

Approach = Literal["prompting", "rag", "sft", "dpo", "rl"]
# Cheapest first: ties in score go to the cheaper approach, and plans run in this order.
APPROACHES: tuple[Approach, ...] = get_args(Approach)
PIPELINE_ORDER: tuple[Approach, ...] = ("prompting", "rag", "sft", "dpo", "rl")

Goal = Literal["knowledge", "style", "format", "capability", "identity", "distillation", "agent"]
SuccessCheck = Literal["exact_answer", "unit_tests", "reward_model", "human_judgment", "none"]
VERIFIABLE_CHECKS = ("exact_answer", "unit_tests")


class Answers(BaseModel):
    """What the user told the advisor. Keys and values are a public contract (scripts write them)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    goals: list[Goal] = Field(
        default=["capability"],
        min_length=1,
        description="What should change: knowledge, style, format, capability, identity, distillation, agent.",
    )
    instruction_complexity: Literal["few_simple", "comprehensive"] = Field(
        default="few_simple", description="A few simple rules, or a comprehensive set of instructions."
    )
    repeated_instructions: bool = Field(
        default=False, description="The same instructions are pasted into every prompt."
    )
    repeated_corrections: bool = Field(default=False, description="Outputs are corrected the same way again and again.")
    knowledge_changes: Literal["static", "monthly", "weekly_or_faster"] = Field(
        default="static", description="How often the facts the model needs change."
    )
    knowledge_docs: int = Field(default=0, ge=0, description="How many documents hold those facts.")
    sft_examples: int = Field(default=0, ge=0, description="(prompt, ideal response) pairs you have or can write.")
    preference_pairs: int = Field(default=0, ge=0, description="(prompt, chosen, rejected) triples you have.")
    success_check: SuccessCheck = Field(default="none", description="How a good output can be recognised.")
    teacher_model: bool = Field(default=False, description="A stronger model is available to generate data.")
    model_stage: Literal["base", "instruct", "sft_done"] = Field(
        default="instruct", description="The model you start from: base, instruct, or already fine-tuned (SFT)."
    )
    compute: Literal["cpu", "gpu_24gb", "gpu_80gb", "multi_gpu"] = Field(
        default="cpu", description="The hardware for training."
    )
    eval_examples: int = Field(default=0, ge=0, description="Held-out examples with known good answers.")
    forgetting_tolerance: Literal["low", "medium", "high"] = Field(
        default="medium", description="How much loss of general skills is acceptable."
    )

    @field_validator("goals")
    @classmethod
    def _unique_goals(cls, goals: list[str]) -> list[str]:
        # Order does not matter to the engine; a canonical order keeps advice.json stable.
        order = get_args(Goal)
        return sorted(set(goals), key=order.index)

    def has_goal(self, *goals: str) -> bool:
        """True when any of ``goals`` was chosen.

        >>> Answers(goals=["style", "format"]).has_goal("identity", "style")
        True
        """
        return any(goal in self.goals for goal in goals)

    @property
    def verifiable(self) -> bool:
        """A success check a program can run (known answers, unit tests)."""
        return self.success_check in VERIFIABLE_CHECKS


class Reason(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rule: str = Field(description="Id of the rule in advisor.rules.RULES that produced this reason.")
    text: str
    answers: list[str] = Field(description="The answer keys the rule read.")
    weight: float = Field(description="What the rule added to (or took from) the approach's score.")


class Ranked(BaseModel):
    model_config = ConfigDict(extra="forbid")

    approach: Approach
    score: float
    reasons: list[Reason]


class Caution(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["too_little_data", "forgetting", "data_quality", "diversity", "facts_in_rag", "eval_size", "compute"]
    text: str


class Counterfactual(BaseModel):
    model_config = ConfigDict(extra="forbid")

    change: dict[str, object] = Field(description="The answers to change (key -> new value).")
    primary: Approach
    text: str


class RLPlan(BaseModel):
    model_config = ConfigDict(extra="forbid")

    algorithm: Literal["grpo"] = "grpo"
    reward: Literal["verifiable", "learned"]


class Recommendation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    primary: Approach = Field(description="The approach with the highest score; the one that matters most.")
    plan: list[Approach] = Field(description="The steps to take, in order (retrieval before training, SFT first).")
    ranking: list[Ranked] = Field(description="All five approaches, best first.")
    cautions: list[Caution]
    next_steps: list[str]
    counterfactuals: list[Counterfactual]
    rl: RLPlan | None = None
    sft_data_strategy: Literal["expert_writing", "distillation", "best_of_n", "filtering"] | None = None

    def score(self, approach: str) -> float:
        return next(r.score for r in self.ranking if r.approach == approach)


class Advice(BaseModel):
    """What ``posttrain advise --out`` writes and ``posttrain new --from`` reads."""

    model_config = ConfigDict(extra="forbid")

    posttrain_version: str
    answers: Answers
    recommendation: Recommendation

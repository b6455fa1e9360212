"""The advisor's data: the answers a user gives and the recommendation the engine returns.

Every answer has a documented default, so an empty answers file is valid (it describes "nothing known
yet" and gets the cheapest advice: prompting). The defaults are the ``Field(default=...)`` values below;
``posttrain advise --help`` and the README list them.
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

from advisor.survey import DataSource

Approach = Literal["prompting", "rag", "sft", "dpo", "rl"]
# Cheapest first: ties in score go to the cheaper approach, and plans run in this order.
APPROACHES: tuple[Approach, ...] = get_args(Approach)
PIPELINE_ORDER: tuple[Approach, ...] = ("prompting", "rag", "sft", "dpo", "rl")

Goal = Literal["knowledge", "style", "format", "capability", "identity", "distillation", "agent"]
SuccessCheck = Literal["exact_answer", "unit_tests", "reward_model", "human_judgment", "none"]
VERIFIABLE_CHECKS = ("exact_answer", "unit_tests")
# What a known answer looks like; it picks the metric and reward (a number → numeric, the rest → exact match).
AnswerType = Literal["auto", "number", "label", "json", "text"]
PreferenceAlgorithm = Literal["dpo", "kto"]
RLAlgorithm = Literal["grpo", "rloo", "ppo"]


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
    feedback_labels: int = Field(
        default=0, ge=0, description="Unpaired good/bad labels on outputs (thumbs up/down), not pairs."
    )
    success_check: SuccessCheck = Field(default="none", description="How a good output can be recognised.")
    answer_type: AnswerType = Field(
        default="auto",
        description="What a known answer looks like: number, label, json or text; auto guesses it from the goals.",
    )
    rl_prompts: int = Field(
        default=0, ge=0, description="Training prompts you already have with known answers or unit tests (for RL)."
    )
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

    @property
    def resolved_answer_type(self) -> str:
        """``answer_type``, with ``auto`` read from the goals: a format goal means structured (JSON) answers,
        a knowledge goal short texts, anything else (maths, counting, agents) a number.

        >>> Answers(goals=["capability", "format"]).resolved_answer_type, Answers().resolved_answer_type
        ('json', 'number')
        """
        if self.answer_type != "auto":
            return self.answer_type
        if self.has_goal("format"):
            return "json"
        if self.has_goal("knowledge", "identity", "style"):
            return "text"
        return "number"


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
    missing: str | None = Field(None, description="A prerequisite that does not hold; it cannot come first.")


class Caution(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal[
        "too_little_data",
        "forgetting",
        "data_quality",
        "diversity",
        "facts_in_rag",
        "eval_size",
        "compute",
        "readiness",
    ]
    text: str


class Counterfactual(BaseModel):
    model_config = ConfigDict(extra="forbid")

    change: dict[str, object] = Field(description="The answers to change (key -> new value).")
    primary: Approach
    text: str


class RLPlan(BaseModel):
    model_config = ConfigDict(extra="forbid")

    algorithm: RLAlgorithm = Field("grpo", description="grpo, rloo or ppo (ppo: the CUDA hand-off to OpenRLHF).")
    reward: Literal["verifiable", "learned"]
    check: SuccessCheck = Field("none", description="The success check the reward comes from.")
    reason: str = Field("", description="Why this algorithm, against the other two.")


class PreferencePlan(BaseModel):
    model_config = ConfigDict(extra="forbid")

    algorithm: PreferenceAlgorithm = Field(description="dpo for (chosen, rejected) pairs, kto for unpaired labels.")
    reason: str = Field("", description="Why this algorithm.")


class Recommendation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    primary: Approach = Field(description="The approach with the highest score; the one that matters most.")
    plan: list[Approach] = Field(description="The steps to take, in order (retrieval before training, SFT first).")
    ranking: list[Ranked] = Field(description="All five approaches: those whose prerequisites hold, best first.")
    cautions: list[Caution]
    next_steps: list[str]
    counterfactuals: list[Counterfactual]
    success_check: SuccessCheck = Field(
        "none", description="How outputs are checked; the scaffold's metrics follow it."
    )
    answer_type: AnswerType = Field("number", description="What a known answer looks like (auto resolved).")
    preference: PreferencePlan | None = Field(None, description="The preference algorithm, when DPO/KTO is planned.")
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
    data_sources: list[DataSource] = Field(
        default_factory=list, description="With `advise --data`: which file gave which count."
    )

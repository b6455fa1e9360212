"""The recommendation engine: a pure, deterministic function of the answers.

``recommend(answers)`` scores the five approaches with the rules of ``advisor.rules``, picks the best
whose prerequisites hold (ties go to the cheaper approach), builds an ordered plan, names the algorithms,
and adds cautions, next steps and the smallest answer changes that would change the primary approach.

>>> rec = recommend(Answers(goals=["capability"], success_check="exact_answer"))
>>> rec.primary, rec.plan, rec.rl.reward, rec.rl.algorithm
('rl', ['rl'], 'verifiable', 'grpo')
>>> recommend(Answers()).primary
'prompting'
"""

from __future__ import annotations

from advisor.rules import RULES, SFT_SOME, missing_prerequisite
from advisor.schema import (
    PIPELINE_ORDER,
    Answers,
    Approach,
    Ranked,
    Reason,
    Recommendation,
    RLPlan,
)
from advisor.scoring import NAMES, blocked_of, rank, score  # shared with counterfactuals: no cycle

# A secondary approach joins the plan when it scores at least this much: one strong reason (3) plus
# supporting evidence (2). Below it, the approach has no real case of its own.
PLAN_MIN = 5.0
POST_TRAINING: tuple[Approach, ...] = ("sft", "dpo", "rl")


def step_name(step: str, rl: RLPlan | None = None, preference: str | None = None) -> str:
    """The name a plan step is shown with: the algorithm where one was chosen.

    >>> step_name("rl", RLPlan(algorithm="rloo", reward="learned")), step_name("dpo", preference="kto")
    ('RL (RLOO)', 'KTO')
    """
    if step == "rl" and rl is not None:
        return f"RL ({rl.algorithm.upper()})"
    if step == "dpo" and preference:
        return preference.upper()
    return NAMES[step]


def _cited(text: str, keys: list[str] | tuple[str, ...], answers: Answers) -> str:
    """A reason's text; the answers it rests on that the user did not give are marked as assumed defaults."""
    assumed = [key for key in keys if key not in answers.model_fields_set]
    if assumed:
        values = ", ".join(f"{key}={getattr(answers, key)}" for key in assumed)
        text += f" (assumed default: {values})"
    return text


def needs_sft_first(answers: Answers, steps: set[Approach]) -> bool:
    """DPO/RL need a model that already answers decently.

    A base model always gets SFT first; an instruct model gets it when demonstrations exist anyway, and
    before RL when a teacher can write worked solutions (GRPO learns nothing from prompts the model never
    solves, so distilled solutions lift the pass rate first). An ``sft_done`` model is not sent back to SFT.
    """
    if not steps & {"dpo", "rl"} or answers.model_stage == "sft_done":
        return False
    if answers.model_stage == "base":
        return True
    cold_start = "rl" in steps and answers.verifiable and answers.teacher_model
    return answers.sft_examples >= SFT_SOME or cold_start


def plan_of(answers: Answers, totals: dict[Approach, float], primary: Approach) -> list[Approach]:
    """The ordered steps: the primary, plus every other retrieval/training approach with a case of its own.

    Retrieval comes first (the tuned model is then trained and evaluated with the retrieved context), SFT
    comes before DPO and RL (they work best on a decent chat model), and prompting stands alone: it is the
    baseline every experiment measures anyway.

    >>> plan_of(Answers(model_stage="base", success_check="unit_tests"),
    ...         {"prompting": 0, "rag": 0, "sft": 0, "dpo": 0, "rl": 9}, "rl")
    ['sft', 'rl']
    """
    if primary == "prompting":
        return ["prompting"]
    blocked = blocked_of(answers)
    steps: set[Approach] = {primary}
    candidates: tuple[Approach, ...] = ("rag", *POST_TRAINING)
    steps.update(a for a in candidates if totals[a] >= PLAN_MIN and a not in blocked)
    if answers.model_stage == "sft_done" and primary != "sft":
        steps.discard("sft")  # no restart with SFT on a model that had it (its demonstrations were used)
    if needs_sft_first(answers, steps):
        steps.add("sft")
    return [a for a in PIPELINE_ORDER if a in steps]


def sft_data_strategy(answers: Answers) -> str:
    """Where SFT data should come from, given what the user has.

    >>> sft_data_strategy(Answers(goals=["distillation"], teacher_model=True))
    'distillation'
    >>> sft_data_strategy(Answers(success_check="unit_tests"))
    'best_of_n'
    """
    if answers.teacher_model and (answers.has_goal("distillation") or answers.sft_examples < SFT_SOME):
        return "distillation"
    # 5,000+ examples is a pool: keeping the best few thousand beats training on all of them.
    if answers.sft_examples >= 5000:
        return "filtering"
    if answers.sft_examples < SFT_SOME and answers.verifiable:
        return "best_of_n"
    return "expert_writing"


def recommend(answers: Answers, *, counterfactuals: bool = True) -> Recommendation:
    """The full recommendation for ``answers`` (pure: same answers, same recommendation)."""
    from advisor.algorithms import preference_plan, rl_plan
    from advisor.counterfactuals import find_counterfactuals
    from advisor.guidance import cautions_for, next_steps_for

    reasons: dict[Approach, list[Reason]] = {a: [] for a in PIPELINE_ORDER}
    for rule in RULES:
        if rule.when(answers):
            for approach, weight in rule.scores.items():
                reasons[approach].append(  # type: ignore[index]
                    Reason(
                        rule=rule.id,
                        text=_cited(rule.text(answers), rule.answers, answers),
                        answers=list(rule.answers),
                        weight=weight,
                    )
                )
    totals = score(answers)
    blocked = blocked_of(answers)
    order = rank(totals, blocked)
    primary = order[0]
    plan = plan_of(answers, totals, primary)
    rl = rl_plan(answers) if "rl" in plan else None
    if "sft" in plan and primary != "sft" and totals["sft"] < PLAN_MIN:
        # SFT joined the plan as a preparation step, not on its own score: say why (weight 0, score unchanged).
        keys = ["model_stage", "sft_examples"]
        start = "a base model" if answers.model_stage == "base" else f"your {answers.sft_examples:,} demonstrations"
        if answers.model_stage != "base" and answers.sft_examples < SFT_SOME:
            keys = ["model_stage", "teacher_model", "success_check"]
            start = "the teacher's worked solutions lift the pass rate, since RL learns only from prompts it solves"
        reasons["sft"].insert(
            0,
            Reason(
                rule="sft_first",
                text=_cited(
                    f"{step_name(primary, rl)} works best on a model tuned with SFT first ({start})", keys, answers
                ),
                answers=keys,
                weight=0.0,
            ),
        )
    strategy = sft_data_strategy(answers) if "sft" in plan else None
    return Recommendation(
        primary=primary,
        plan=plan,
        ranking=[
            # Strongest reasons first; the plan's own reason (weight 0) leads.
            Ranked(
                approach=a,
                score=totals[a],
                reasons=sorted(reasons[a], key=lambda r: (r.rule != "sft_first", -abs(r.weight))),
                missing=missing_prerequisite(answers, a),
            )
            for a in order
        ],
        cautions=cautions_for(answers, plan, strategy),
        next_steps=next_steps_for(answers, plan, strategy),
        counterfactuals=find_counterfactuals(answers, primary) if counterfactuals else [],
        success_check=answers.success_check,
        answer_type=answers.resolved_answer_type,  # type: ignore[arg-type]
        preference=preference_plan(answers) if "dpo" in plan else None,
        rl=rl,
        sft_data_strategy=strategy,  # type: ignore[arg-type]
    )

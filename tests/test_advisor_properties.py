"""Properties of the engine over every valid answers set (hypothesis).

On citations (decided here, documented in the README): a reason cites exactly the answer keys its
rule reads. A cited key is either an answer the user gave or a default, and a default is marked in the
reason's text ("assumed default: key=value"), so a reason never silently rests on something nobody said.
"""

from __future__ import annotations

from typing import Any, get_args

from hypothesis import given, settings
from hypothesis import strategies as st

from advisor.engine import recommend, score
from advisor.rules import RULES, missing_prerequisite
from advisor.schema import PIPELINE_ORDER, Answers, Goal, Recommendation

COUNTS = st.integers(min_value=0, max_value=20000)
VALUES: dict[str, Any] = {
    "goals": st.lists(st.sampled_from(get_args(Goal)), min_size=1, max_size=4),
    "instruction_complexity": st.sampled_from(["few_simple", "comprehensive"]),
    "repeated_instructions": st.booleans(),
    "repeated_corrections": st.booleans(),
    "knowledge_changes": st.sampled_from(["static", "monthly", "weekly_or_faster"]),
    "knowledge_docs": COUNTS,
    "sft_examples": COUNTS,
    "preference_pairs": COUNTS,
    "feedback_labels": COUNTS,
    "rl_prompts": COUNTS,
    "answer_type": st.sampled_from(["auto", "number", "label", "json", "text"]),
    "success_check": st.sampled_from(["exact_answer", "unit_tests", "reward_model", "human_judgment", "none"]),
    "teacher_model": st.booleans(),
    "model_stage": st.sampled_from(["base", "instruct", "sft_done"]),
    "compute": st.sampled_from(["cpu", "gpu_24gb", "gpu_80gb", "multi_gpu"]),
    "eval_examples": COUNTS,
    "forgetting_tolerance": st.sampled_from(["low", "medium", "high"]),
}
assert set(VALUES) == set(Answers.model_fields)
# Any subset of the keys: the rest take their defaults.
ANSWER_DICTS = st.fixed_dictionaries({}, optional=VALUES)
FULL_DICTS = st.fixed_dictionaries(VALUES)


@settings(max_examples=80, deadline=None)
@given(ANSWER_DICTS)
def test_every_valid_answers_set_gives_a_valid_recommendation(given_answers: dict) -> None:
    answers = Answers.model_validate(given_answers)
    rec = recommend(answers)
    Recommendation.model_validate_json(rec.model_dump_json())  # serialisable and schema-valid
    assert sorted(r.approach for r in rec.ranking) == sorted(PIPELINE_ORDER)
    # Approaches that can lead come first, best first; those missing a prerequisite follow, never in the plan.
    able = [r for r in rec.ranking if r.missing is None]
    assert rec.ranking[: len(able)] == able
    assert [r.score for r in able] == sorted((r.score for r in able), reverse=True)
    assert not {r.approach for r in rec.ranking if r.missing} & set(rec.plan)
    assert rec.primary == rec.ranking[0].approach and rec.primary in rec.plan
    assert not (answers.model_stage == "base" and rec.primary == "prompting")  # a base model is never prompted
    if answers.model_stage == "sft_done" and rec.primary != "sft":
        assert "sft" not in rec.plan  # no restart with SFT on a model that had it
    assert (rec.preference is not None) == ("dpo" in rec.plan)
    assert rec.plan == [a for a in PIPELINE_ORDER if a in rec.plan]  # ordered, no repeats
    assert "prompting" not in rec.plan or rec.plan == ["prompting"]
    assert (rec.rl is not None) == ("rl" in rec.plan)
    assert (rec.sft_data_strategy is not None) == ("sft" in rec.plan)
    for ranked in rec.ranking:  # a score is exactly the sum of its reasons
        assert abs(ranked.score - sum(r.weight for r in ranked.reasons)) < 1e-9
    assert rec.next_steps and any("eval" in step for step in rec.next_steps)
    for counterfactual in rec.counterfactuals:  # each counterfactual really changes the primary ...
        changed = answers.model_copy(update=counterfactual.change)
        assert recommend(changed, counterfactuals=False).primary == counterfactual.primary != rec.primary
        # ... by strengthening the approach it flips to, which then meets its prerequisites
        assert score(changed)[counterfactual.primary] > score(answers)[counterfactual.primary]
        assert missing_prerequisite(changed, counterfactual.primary) is None
    assert recommend(answers) == rec  # deterministic


@settings(max_examples=150, deadline=None)
@given(FULL_DICTS, COUNTS, COUNTS)
def test_more_preference_pairs_never_lower_dpo(given_answers: dict, a: int, b: int) -> None:
    low, high = sorted((a, b))
    fewer = score(Answers.model_validate({**given_answers, "preference_pairs": low}))
    more = score(Answers.model_validate({**given_answers, "preference_pairs": high}))
    assert more["dpo"] >= fewer["dpo"]


@settings(max_examples=150, deadline=None)
@given(FULL_DICTS, st.sampled_from(["exact_answer", "unit_tests"]))
def test_a_verifiable_check_never_lowers_rl(given_answers: dict, check: str) -> None:
    without = score(Answers.model_validate({**given_answers, "success_check": "none"}))
    verifiable = score(Answers.model_validate({**given_answers, "success_check": check}))
    assert verifiable["rl"] >= without["rl"]


@settings(max_examples=80, deadline=None)
@given(ANSWER_DICTS)
def test_reasons_cite_given_answers_or_marked_defaults(given_answers: dict) -> None:
    rec = recommend(Answers.model_validate(given_answers))
    for ranked in rec.ranking:
        for reason in ranked.reasons:
            assert reason.answers, reason.rule
            for key in reason.answers:
                assert key in Answers.model_fields
                if key not in given_answers:
                    assert f"{key}=" in reason.text and "assumed default" in reason.text, (reason, given_answers)


@settings(max_examples=150, deadline=None)
@given(FULL_DICTS, FULL_DICTS)
def test_rules_read_only_the_answers_they_cite(first: dict, second: dict) -> None:
    # Mixing in other values for every key a rule does not cite must not change whether it holds;
    # otherwise its reason would hide an answer it depends on.
    for rule in RULES:
        mixed = {**second, **{key: first[key] for key in rule.answers}}
        assert rule.when(Answers.model_validate(first)) == rule.when(Answers.model_validate(mixed)), rule.id

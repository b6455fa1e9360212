"""Which algorithm runs a planned preference or RL step, and why (pure functions of the answers).

Preference tuning: DPO learns from (chosen, rejected) pairs; KTO (TRL's ``KTOTrainer``) from unpaired
good/bad labels, the commonest feedback in production (thumbs up/down). Pairs carry the stronger signal,
so DPO wins whenever there are enough of them.

Online RL, the three algorithms the post-training literature names:

- GRPO scores each of a prompt's sampled completions against its group (reward minus the group mean,
  divided by the group's standard deviation). No critic; TRL 1.16's default ``beta = 0`` loads no
  reference model, so it fits one device. Right for a verifiable 0/1 reward.
- RLOO uses a leave-one-out baseline (the mean reward of the *other* samples) without dividing by the
  spread, so a learned reward model's small, noisy score differences are not magnified; TRL's default
  ``beta = 0.05`` keeps a KL pull towards a reference model (loaded, more memory), a guard against
  hacking a learned reward.
- PPO trains a critic (a value model) for lower-variance per-token advantages on a dense learned
  reward; it needs the memory of four models, so posttrain runs it only as the CUDA hand-off to
  OpenRLHF (Ray + DeepSpeed + vLLM), named where a learned reward model and several GPUs exist.
"""

from __future__ import annotations

from advisor.rules import LABELS_SOME, PAIRS_SOME
from advisor.schema import Answers, PreferencePlan, RLPlan

CHECK_WORDS = {
    "exact_answer": "known answers",
    "unit_tests": "unit tests",
    "reward_model": "a reward model",
    "human_judgment": "human judgement",
    "none": "no check",
}


def preference_plan(answers: Answers) -> PreferencePlan:
    """DPO for pairs, KTO for unpaired labels when pairs are too few.

    >>> preference_plan(Answers(feedback_labels=5000)).algorithm
    'kto'
    >>> preference_plan(Answers(feedback_labels=5000, preference_pairs=800)).algorithm
    'dpo'
    """
    pairs, labels = answers.preference_pairs, answers.feedback_labels
    if labels and pairs < PAIRS_SOME and (labels >= LABELS_SOME or labels > 2 * pairs):
        return PreferencePlan(
            algorithm="kto",
            reason=f"{labels:,} unpaired good/bad labels and only {pairs:,} pairs: KTO learns from each labelled "
            "answer on its own, so no pairs have to be built (TRL's KTOTrainer)",
        )
    source = "your repeated corrections (original rejected, corrected chosen)" if not pairs else f"{pairs:,} pairs"
    return PreferencePlan(
        algorithm="dpo",
        reason=f"(chosen, rejected) pairs from {source}: DPO learns the preference directly from each pair, "
        "the stronger signal per example",
    )


def rl_plan(answers: Answers) -> RLPlan:
    """GRPO for verifiable rewards; RLOO for a learned reward; PPO for a learned reward on several GPUs.

    >>> rl_plan(Answers(success_check="unit_tests")).algorithm
    'grpo'
    >>> rl_plan(Answers(success_check="reward_model")).algorithm, rl_plan(Answers(success_check="reward_model",
    ...     compute="multi_gpu")).algorithm
    ('rloo', 'ppo')
    """
    check = answers.success_check
    if answers.verifiable:
        return RLPlan(
            algorithm="grpo",
            reward="verifiable",
            check=check,
            reason=f"a verifiable 0/1 reward from {CHECK_WORDS[check]}: GRPO normalises each completion's reward "
            "within its group and needs no critic; TRL's default beta = 0 loads no reference model (RLOO's "
            "leave-one-out baseline with beta = 0.05 loads one; PPO needs a critic)",
        )
    if answers.compute == "multi_gpu":
        return RLPlan(
            algorithm="ppo",
            reward="learned",
            check=check,
            reason="a learned reward model and several GPUs: PPO's critic gives lower-variance advantages on a "
            "dense learned reward; posttrain hands it to OpenRLHF on CUDA machines (elsewhere run rloo or grpo)",
        )
    return RLPlan(
        algorithm="rloo",
        reward="learned",
        check=check,
        reason="a learned reward model: RLOO's leave-one-out baseline does not divide by the group's spread, so "
        "small noisy reward differences are not magnified, and its KL pull (beta = 0.05, a reference model) "
        "guards against reward hacking; PPO would need a critic and several GPUs",
    )

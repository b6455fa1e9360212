"""The starter task a scaffold ships, chosen from the advice's success check, answer type and goals.

One table (:data:`TASKS`) says, per task, the system prompt, the eval metrics, the RL rewards and the
column those rewards read; :func:`task_for` picks the task. The rows themselves come from
``harness.scaffold.starter`` (arithmetic) and ``harness.scaffold.starter_tasks`` (the others).

- ``unit_tests`` → ``code``: the sandboxed ``unit_tests`` metric, the unit-test reward, a ``tests`` column.
- ``exact_answer`` → by answer type: a number → ``arithmetic`` (``numeric``); a JSON object →
  ``extraction``, a label → ``routing``, a short text → ``lookup`` (``exact_match``, the exact-answer reward).
- ``human_judgment`` → ``helpdesk`` with the ``judge`` metric (a judge model that is not the tuned one).
- ``reward_model`` or no check → ``helpdesk`` for knowledge, style, format and identity goals (open answers,
  overlap metrics; a learned reward feeds RL), else ``arithmetic``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Task = Literal["arithmetic", "code", "extraction", "routing", "lookup", "helpdesk"]
OPEN_GOALS = ("knowledge", "style", "format", "identity")


@dataclass(frozen=True)
class TaskSpec:
    system_prompt: str
    metrics: tuple[str, ...]
    metric_note: str  # the comment beside `metrics:` in experiment.yaml
    rewards: tuple[tuple[str, float, str], ...]  # (name, weight, comment) for verifiable RL
    answer_column: str  # the prompts file's column the rewards read
    max_new_tokens: int
    tokens_note: str
    describes: str  # one line for data/README.md


SHOP = "Harbor Lane Hardware"
TASKS: dict[Task, TaskSpec] = {
    "arithmetic": TaskSpec(
        system_prompt=f"You are the help desk of {SHOP}. Work out the numbers step by step, "
        "then end with one line: 'Answer: <number>'.",
        metrics=("numeric",),
        metric_note="numeric: the final number equals the reference (math-verify, then the last number)",
        rewards=(
            ("rewards.py:numeric_answer", 1.0, "1.0 when the final number matches the answer column"),
            ("rewards.py:answer_line", 0.2, '0.2 for ending with one "Answer: <number>" line'),
        ),
        answer_column="answer",
        max_new_tokens=48,
        tokens_note='a worked line plus "Answer: N" is ~15 tokens; room for a short explanation',
        describes="arithmetic questions about purchases, answered with a worked line and a final "
        "`Answer: <number>` line",
    ),
    "code": TaskSpec(
        system_prompt="You are a Python coding assistant. Reply with one ```python code block that defines the "
        "requested function, and nothing else.",
        metrics=("unit_tests",),
        metric_note="unit_tests: the code followed by the row's tests exits 0 in the sandbox",
        rewards=(("rewards.py:unit_tests", 1.0, "1.0 when the code passes the row's tests column"),),
        answer_column="tests",
        max_new_tokens=96,
        tokens_note="a short function in a code block is ~30-60 tokens",
        describes="small Python functions, each with `tests` (assert lines) that the `unit_tests` metric and "
        "reward run in a sandbox",
    ),
    "extraction": TaskSpec(
        system_prompt=f"You extract order details for {SHOP}. Reply with one JSON object "
        '{"item": <item name>, "quantity": <number>} and nothing else.',
        metrics=("exact_match",),
        metric_note="exact_match: the JSON object equals the reference (normalised text)",
        rewards=(("rewards.py:exact_answer", 1.0, "1.0 when the JSON object equals the answer column"),),
        answer_column="answer",
        max_new_tokens=32,
        tokens_note='{"item": "...", "quantity": N} is ~15 tokens',
        describes="customer order messages and the JSON object (item, quantity) to extract from each",
    ),
    "routing": TaskSpec(
        system_prompt=f"You route customer messages for {SHOP}. Reply with exactly one label: returns, hours, "
        "services or prices.",
        metrics=("exact_match",),
        metric_note="exact_match: the label equals the reference",
        rewards=(("rewards.py:exact_answer", 1.0, "1.0 when the label equals the answer column"),),
        answer_column="answer",
        max_new_tokens=8,
        tokens_note="one label is 1-3 tokens",
        describes="customer messages and the department label (returns, hours, services, prices) each goes to",
    ),
    "lookup": TaskSpec(
        system_prompt=f"You answer questions about {SHOP}'s products with the shortest exact answer "
        "(a name or a number) and nothing else.",
        metrics=("exact_match", "contains"),
        metric_note="exact_match: the answer equals the reference; contains: the reference appears",
        rewards=(("rewards.py:exact_answer", 1.0, "1.0 when the answer equals the answer column"),),
        answer_column="answer",
        max_new_tokens=16,
        tokens_note="a short name or number is a few tokens",
        describes="questions about the shop's products answered with one short exact text",
    ),
    "helpdesk": TaskSpec(
        system_prompt=f"You are the help desk of {SHOP}. Answer customers' questions about the shop's "
        "policies, products and services in one or two friendly sentences; say so when you do not know.",
        metrics=("contains", "f1"),
        metric_note="contains: the key fact appears in the answer; f1: word overlap with the reference",
        rewards=(),
        answer_column="answer",
        max_new_tokens=64,
        tokens_note="one or two sentences are ~20-40 tokens",
        describes="customer questions about the shop's policies, products and services, answered in a sentence or two",
    ),
}
JUDGE_METRICS = ("judge", "f1")
JUDGE_NOTE = "judge: a judge model grades each answer with the rubric below; f1: word overlap, a cheap cross-check"


def task_for(success_check: str, answer_type: str, goals: list[str]) -> Task:
    """The starter task that fits the advice.

    >>> task_for("unit_tests", "number", ["capability"]), task_for("exact_answer", "json", ["format"])
    ('code', 'extraction')
    >>> task_for("human_judgment", "text", ["identity"]), task_for("none", "number", ["capability"])
    ('helpdesk', 'arithmetic')
    """
    if success_check == "unit_tests":
        return "code"
    if success_check == "exact_answer":
        return {"json": "extraction", "label": "routing", "text": "lookup"}.get(answer_type, "arithmetic")  # type: ignore[return-value]
    if success_check == "human_judgment" or any(goal in OPEN_GOALS for goal in goals):
        return "helpdesk"
    return "arithmetic"


def judge_rubric(goals: list[str]) -> str:
    """A grading rubric written from the goals (what the user wants to change).

    >>> judge_rubric(["identity", "style"])[:60]
    'Grade the answer from 0 to 10. It must be correct and comple'
    """
    parts = {
        "knowledge": "states the facts correctly, as the reference does, and invents none",
        "style": "has the tone and wording the reference shows",
        "format": "follows the required structure exactly",
        "identity": "speaks as the shop's assistant and keeps to what it will and will not do",
        "capability": "solves the task correctly",
        "distillation": "is as good as the reference written by the stronger model",
        "agent": "takes the right steps towards the goal",
    }
    wanted = "; ".join(parts[g] for g in goals if g in parts) or "helps the customer"
    return (
        "Grade the answer from 0 to 10. It must be correct and complete against the reference answer, and it "
        f"{wanted}. 10 = all of that, 5 = partly, 0 = wrong, unhelpful or off-topic."
    )

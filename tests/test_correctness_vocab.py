"""One vocabulary of correctness: the `numeric` metric and reward agree, metric names work as reward names."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.evaluation.metrics import METRICS
from harness.training.rewards import BUILTIN_REWARDS, REWARD_ALIASES, load_reward
from posttrain.errors import BadInput

CASES = [
    ("3 + 4 = 7", "7"),
    ("Answer: 12\nThen 5 more people came", "12"),
    ("Answer: 12\nThen 5 more people came", "5"),
    ("The total is 0.5", "1/2"),
    ("$\\frac{3}{4}$", "0.75"),
    ("It costs 1,250 dollars", "1250"),
    ("x = -3/4.", "-0.75"),
    ("seven", "7"),
    ("So 9 - 2 = 7. Answer: 7", "7"),
]


@pytest.mark.parametrize(("output", "reference"), CASES)
def test_numeric_metric_and_reward_agree(output: str, reference: str) -> None:
    metric = METRICS["numeric"].fn(output, {"reference": reference})
    reward = load_reward("numeric")([[{"role": "assistant", "content": output}]], answer=[reference])
    assert reward == [metric]


@settings(max_examples=40, deadline=None)
@given(st.integers(-5000, 5000), st.integers(-5000, 5000), st.booleans())
def test_agreement_on_generated_answers(a: int, b: int, stated: bool) -> None:
    output = f"We add things up.\nAnswer: {a}" if stated else f"so it is {a}"
    assert load_reward("numeric_answer")([output], answer=[str(b)]) == [METRICS["numeric"].fn(output, {"reference": b})]
    assert METRICS["numeric"].fn(output, {"reference": b}) == float(a == b)


def test_metric_names_are_reward_names() -> None:
    for alias, name in REWARD_ALIASES.items():
        assert load_reward(alias) is BUILTIN_REWARDS[name]
    assert load_reward("exact_match")(["The Nile."], answer=["nile"]) == [
        METRICS["exact_match"].fn("The Nile.", {"reference": "nile"})
    ]
    assert "unit_tests" in BUILTIN_REWARDS and "unit_tests" in METRICS  # same name, same sandbox check (sandbox.py)


def test_unknown_reward_says_did_you_mean() -> None:
    with pytest.raises(BadInput, match="reward 'numerc': unknown; did you mean numeric_answer\\?"):
        load_reward("numerc")


def test_reward_numeric_from_the_cli_request() -> None:
    from harness.training import build_request
    from harness.training.methods.grpo import reward_functions

    request = build_request(method="grpo", out="o", data=["p.jsonl"], rewards=["numeric"])
    funcs, weights = reward_functions(request, [{"prompt": "1+1?", "answer": "2"}])
    assert funcs == [BUILTIN_REWARDS["numeric_answer"]] and weights == [1.0]

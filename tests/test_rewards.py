"""Built-in rewards, experiment rewards loaded from a file, and the pre-training reward check."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.training.rewards import BUILTIN_REWARDS, check_reward, load_reward, numeric_answer
from posttrain.errors import BadInput


def test_builtins_follow_trl_signature() -> None:
    completions = [[{"role": "assistant", "content": "3 + 4 = 7\nAnswer: 7"}], [{"role": "assistant", "content": "8"}]]
    kwargs = {"answer": ["7", "7"], "prompts": ["a", "b"], "completion_ids": [[1], [2]], "trainer_state": None}
    assert BUILTIN_REWARDS["numeric_answer"](completions, **kwargs) == [1.0, 0.0]
    assert BUILTIN_REWARDS["format_answer_line"](completions, **kwargs) == [1.0, 0.0]
    assert BUILTIN_REWARDS["exact_answer"](completions, **kwargs) == [0.0, 0.0]


@given(st.integers(-10_000, 10_000), st.integers(-10_000, 10_000))
def test_numeric_answer_matches_only_the_right_number(a: int, b: int) -> None:
    assert numeric_answer([f"so the result is {a}"], answer=[str(b)]) == [float(a == b)]


def test_missing_reference_column_is_reported() -> None:
    with pytest.raises(BadInput, match="needs a reference column"):
        check_reward("numeric_answer", BUILTIN_REWARDS["numeric_answer"], [{"prompt": "1+1?"}])


def test_reward_from_experiment_file(tmp_path: Path) -> None:
    (tmp_path / "rewards.py").write_text(
        "def polite(completions, **kwargs):\n"
        "    '''1.0 when the reply says please.'''\n"
        "    return [float('please' in str(c).lower()) for c in completions]\n"
    )
    func = load_reward("rewards.py:polite", tmp_path)
    assert func(["Please sit", "Sit"]) == [1.0, 0.0]
    with pytest.raises(BadInput, match="defines no function 'rude'"):
        load_reward("rewards.py:rude", tmp_path)
    with pytest.raises(BadInput, match="no file"):
        load_reward("other.py:polite", tmp_path)


def test_unit_tests_reward_uses_the_sandbox() -> None:
    pytest.importorskip("harness.evaluation.sandbox")
    good = "```python\ndef add(a, b):\n    return a + b\n```"
    bad = "def add(a, b):\n    return a - b"
    tests = "assert add(2, 3) == 5"
    assert BUILTIN_REWARDS["unit_tests"]([good, bad], tests=[tests, tests]) == [1.0, 0.0]

"""Metrics: the registry, each metric's behaviour, and properties that must hold for any text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.evaluation.metrics import METRICS, check_rows, get_metric, score
from posttrain.errors import BadInput

NAMES = ["exact_match", "contains", "regex", "numeric", "f1", "rouge_l", "choice", "unit_tests", "judge"]


def test_registry_holds_every_metric_of_the_config_schema():
    assert list(METRICS) == NAMES


def test_unknown_metric_suggests_the_closest_and_lists_all():
    with pytest.raises(BadInput) as error:
        get_metric("rougel")
    message = str(error.value)
    assert "did you mean 'rouge_l'" in message and "exact_match" in message and "judge" in message
    with pytest.raises(BadInput, match="known metrics"):
        get_metric("bleu-4000")


@pytest.mark.parametrize(
    ("name", "output", "row", "expected"),
    [
        ("exact_match", "The Paris!", {"reference": "paris"}, 1.0),
        ("exact_match", "Paris, France", {"reference": "Paris"}, 0.0),
        ("contains", "The answer is Paris.", {"reference": "paris"}, 1.0),
        ("regex", "order #A-1234 shipped", {"reference": r"#A-\d{4}"}, 1.0),
        ("regex", "order #A-12 shipped", {"reference": r"#A-\d{4}"}, 0.0),
        ("numeric", "So she has 1,000 apples.", {"reference": "1000"}, 1.0),
        ("numeric", "The result is \\boxed{\\frac{1}{3}}", {"reference": "1/3"}, 1.0),
        ("numeric", "The result is 0.33", {"reference": "1/3"}, 0.0),
        ("numeric", "Step 1: 3+4=7. Answer: 12", {"reference": "12"}, 1.0),
        ("f1", "paris france", {"reference": "paris"}, pytest.approx(2 / 3, abs=1e-6)),
        ("rouge_l", "x y z w", {"reference": "x z w"}, pytest.approx(2 * 0.75 * 1 / 1.75, abs=1e-6)),
        ("choice", "C", {"reference": "banana", "choices": ["apple", "pear", "banana"]}, 1.0),
        ("choice", "apple", {"reference": "2", "choices": ["apple", "pear", "banana"]}, 0.0),
    ],
)
def test_metric_values(name, output, row, expected):
    assert score(name, output, row) == expected


def test_unit_tests_metric_runs_the_row_tests_in_the_sandbox():
    row = {"tests": "assert square(3) == 9"}
    assert score("unit_tests", "```python\ndef square(x):\n    return x * x\n```", row) == 1.0
    assert score("unit_tests", "def square(x):\n    return x + x\n", row) == 0.0


def test_check_rows_names_the_row_the_field_and_the_metric():
    rows = [{"prompt": "a", "reference": "b"}, {"prompt": "c", "reference": "d"}]
    check_rows(["exact_match", "f1"], rows)
    with pytest.raises(BadInput, match=r"eval.jsonl:6: field 'tests' is missing; metric 'unit_tests' needs it"):
        check_rows(["unit_tests"], rows, lambda i: f"eval.jsonl:{i + 6}")
    with pytest.raises(BadInput, match="field 'choices'"):
        check_rows(["choice"], rows)


text = st.text(alphabet=st.characters(codec="ascii", exclude_categories=["Cc"]), max_size=40)


@settings(max_examples=60, deadline=None)
@given(text)
def test_text_metrics_give_full_marks_to_the_reference_itself(reference):
    row = {"reference": reference}
    assert score("exact_match", reference, row) == 1.0
    assert score("contains", reference, row) == 1.0
    assert score("f1", reference, row) == 1.0
    assert score("rouge_l", reference, row) in (0.0, 1.0)  # 0.0 only when nothing survives normalisation


@settings(max_examples=60, deadline=None)
@given(text, text)
def test_text_metrics_stay_in_the_unit_interval(output, reference):
    row = {"reference": reference}
    for name in ("exact_match", "contains", "f1", "rouge_l"):
        assert 0.0 <= score(name, output, row) <= 1.0
    assert score("f1", output, row) == score("f1", reference, {"reference": output})  # F1 is symmetric


@settings(max_examples=40, deadline=None)
@given(st.integers(-(10**6), 10**6))
def test_numeric_finds_any_integer_answer(n):
    assert score("numeric", f"Thinking... the answer is {n}.", {"reference": str(n)}) == 1.0
    assert score("numeric", f"the answer is {n + 1}", {"reference": str(n)}) == 0.0

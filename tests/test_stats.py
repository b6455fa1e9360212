"""The report's statistics against known results."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binomtest

from harness.report.diversity import distinct_n, self_similarity
from harness.stats import bootstrap_ci, compare_paired, mcnemar_exact, paired_bootstrap, permutation_test

pass_fail = st.lists(st.tuples(st.integers(0, 1), st.integers(0, 1)), min_size=1, max_size=200)


@settings(max_examples=60, deadline=None)
@given(pass_fail)
def test_mcnemar_exact_equals_scipy_binomtest_on_discordant_pairs(pairs: list[tuple[int, int]]) -> None:
    a, b = [p[0] for p in pairs], [p[1] for p in pairs]
    gained = sum(1 for x, y in pairs if x == 0 and y == 1)
    lost = sum(1 for x, y in pairs if x == 1 and y == 0)
    expected = 1.0 if gained + lost == 0 else binomtest(gained, gained + lost, 0.5).pvalue
    assert mcnemar_exact(a, b) == pytest.approx(expected, rel=1e-9, abs=1e-15)


def test_mcnemar_known_value() -> None:
    # 3 of 13 discordant pairs went one way: 2 * P(X <= 3), X ~ Bin(13, 1/2) = 2 * 378 / 8192
    a = [1] * 10 + [0] * 3 + [1] * 5
    b = [0] * 10 + [1] * 3 + [1] * 5
    assert mcnemar_exact(a, b) == pytest.approx(2 * 378 / 8192)
    with pytest.raises(ValueError, match="0/1"):
        mcnemar_exact([0.5], [1.0])


@pytest.mark.parametrize("value", [0.0, 0.37, 1.0, 42.0])
def test_bootstrap_ci_of_a_constant_is_that_constant(value: float) -> None:
    assert bootstrap_ci([value] * 25) == (value, value)
    same = paired_bootstrap([value] * 25, [value + 1.0] * 25)
    assert same.difference == pytest.approx(1.0) and same.ci95 == pytest.approx((1.0, 1.0))


def test_identical_variants_give_p_of_one() -> None:
    rng = np.random.default_rng(1)
    scores = rng.random(60).tolist()
    flags = (rng.random(60) < 0.5).astype(float).tolist()
    assert paired_bootstrap(scores, scores).p == pytest.approx(1.0)
    assert permutation_test(scores, scores) == pytest.approx(1.0)
    assert mcnemar_exact(flags, flags) == 1.0
    result, test = compare_paired(flags, flags)
    assert (result.difference, result.p, test) == (0.0, 1.0, "McNemar exact")


def test_a_clear_difference_is_significant_and_inside_its_interval() -> None:
    rng = np.random.default_rng(2)
    a = (rng.random(200) < 0.4).astype(float)
    b = np.where(rng.random(200) < 0.35, 1.0, a)  # b fixes a third of a's failures
    result = paired_bootstrap(a, b)
    assert result.ci95[0] <= result.difference <= result.ci95[1]
    assert result.ci95[0] > 0 and result.p < 0.01
    assert permutation_test(a, b) < 0.01
    # the bootstrap interval of a fair coin's mean covers 0.5 and is about ±1.96 * 0.5 / sqrt(n) wide
    low, high = bootstrap_ci([0.0, 1.0] * 200)
    assert low < 0.5 < high and (high - low) == pytest.approx(2 * 1.96 * 0.5 / 20, abs=0.02)


def test_permutation_exact_enumeration_matches_hand_count() -> None:
    # differences (1, 1, 1, -1): of 16 sign patterns, |mean| >= 0.5 for 10 (all four same: 2; three same: 8)
    assert permutation_test([0, 0, 0, 1], [1, 1, 1, 0]) == pytest.approx(10 / 16)


def test_paired_samples_must_have_equal_length() -> None:
    with pytest.raises(ValueError, match="same length"):
        paired_bootstrap([1.0, 0.0], [1.0])


def test_diversity_drops_when_outputs_collapse() -> None:
    varied = [f"answer number {i} about topic {i * 7}" for i in range(20)]
    collapsed = ["please contact support for help"] * 20
    assert distinct_n(varied, 2) > 0.5 > distinct_n(collapsed, 2)
    assert self_similarity(collapsed) == 1.0 > 0.5 > self_similarity(varied)

"""Statistics for fair comparisons: bootstrap intervals and paired tests. Pure functions, no I/O.

Paired tests compare two systems on the *same* examples, so the example-to-example difficulty
cancels out and a few points of difference can be told apart from noise. Every function takes
plain sequences and returns plain numbers; a fixed ``seed`` makes resampling reproducible.

A leaf module (numpy, scipy and the standard library only): evaluation, the forgetting check and the
report all import it, so it must import none of them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np


class PairedResult(NamedTuple):
    """``difference`` = mean(b) − mean(a); ``ci95`` its interval; ``p`` two-sided."""

    difference: float
    ci95: tuple[float, float]
    p: float


def bootstrap_ci(
    values: Sequence[float] | np.ndarray, confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean.

    >>> bootstrap_ci([1.0, 1.0, 1.0])
    (1.0, 1.0)
    >>> low, high = bootstrap_ci([0.0, 1.0] * 50)
    >>> 0.35 < low < 0.5 < high < 0.65
    True
    >>> bootstrap_ci([])
    (nan, nan)
    """
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(n_resamples, data.size))].mean(axis=1)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    # Clamp into the observed range so a constant sample gives exactly that constant (the mean of
    # 25 copies of 0.37 is 0.36999999999999994 in floating point).
    lo, hi = float(data.min()), float(data.max())
    return (float(min(max(low, lo), hi)), float(min(max(high, lo), hi)))


def _paired(a: Sequence[float], b: Sequence[float]) -> np.ndarray:
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"paired samples need the same length, got {x.size} and {y.size}")
    return y - x


def paired_bootstrap(
    a: Sequence[float], b: Sequence[float], confidence: float = 0.95, n_resamples: int = 5000, seed: int = 0
) -> PairedResult:
    """Difference of means (b − a) over paired examples, its bootstrap interval and a two-sided p.

    The interval resamples examples (pairs stay together). The p-value resamples the differences
    after shifting them to mean zero (the null of no difference) and counts how often the
    resampled mean is at least as far from zero as the observed one, with the +1 correction so
    p is never exactly 0.

    >>> paired_bootstrap([1, 0, 1, 0], [1, 0, 1, 0])
    PairedResult(difference=0.0, ci95=(0.0, 0.0), p=1.0)
    >>> r = paired_bootstrap([0] * 50 + [1] * 50, [1] * 100)
    >>> r.difference, r.ci95[0] > 0.35, r.p < 0.001
    (0.5, True, True)
    """
    diff = _paired(a, b)
    if diff.size == 0:
        return PairedResult(float("nan"), (float("nan"), float("nan")), float("nan"))
    observed = float(diff.mean())
    low, high = bootstrap_ci(diff, confidence, n_resamples, seed)
    rng = np.random.default_rng(seed + 1)
    centred = diff - observed
    null_means = centred[rng.integers(0, diff.size, size=(n_resamples, diff.size))].mean(axis=1)
    # A tolerance so float noise in "equal" means counts as equal (identical variants give p = 1).
    extreme = int(np.sum(np.abs(null_means) >= abs(observed) - 1e-12))
    return PairedResult(observed, (low, high), min(1.0, (extreme + 1) / (n_resamples + 1)))


def permutation_test(a: Sequence[float], b: Sequence[float], n_resamples: int = 5000, seed: int = 0) -> float:
    """Two-sided paired permutation (sign-flip) test of mean(b) − mean(a) = 0.

    Under the null each pair's difference is as likely to have either sign; exact enumeration is
    used when there are at most 2^12 = 4,096 sign patterns.

    >>> permutation_test([1, 2, 3], [1, 2, 3])
    1.0
    >>> permutation_test([0] * 12, [1] * 12)  # only the observed and the mirrored pattern: 2 / 4096
    0.00048828125
    """
    diff = _paired(a, b)
    if diff.size == 0:
        return float("nan")
    observed = abs(float(diff.mean()))
    if diff.size <= 12:
        signs = np.array(np.meshgrid(*[[-1.0, 1.0]] * diff.size)).reshape(diff.size, -1).T
        means = np.abs((signs * diff).mean(axis=1))
        return float(np.mean(means >= observed - 1e-12))
    rng = np.random.default_rng(seed)
    signs = rng.choice([-1.0, 1.0], size=(n_resamples, diff.size))
    means = np.abs((signs * diff).mean(axis=1))
    return min(1.0, (int(np.sum(means >= observed - 1e-12)) + 1) / (n_resamples + 1))


def mcnemar_exact(a: Sequence[float], b: Sequence[float]) -> float:
    """Exact McNemar test for paired pass/fail outcomes: a two-sided binomial test on the
    discordant pairs (a passed and b failed, or the reverse) with success probability 1/2.

    p = min(1, 2 × P(X ≤ min(n01, n10))), X ~ Binomial(n01 + n10, 1/2).

    >>> mcnemar_exact([1, 1, 0, 0], [1, 1, 0, 0])  # no discordant pairs: no evidence
    1.0
    >>> mcnemar_exact([0] * 10, [1] * 10)  # 10 of 10 discordant pairs favour b: 2 / 2^10
    0.001953125
    """
    diff = _paired(a, b)
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if not (is_binary(x) and is_binary(y)):
        raise ValueError("mcnemar_exact needs 0/1 outcomes; use paired_bootstrap for graded scores")
    gained = int(np.sum(diff > 0))  # b passed where a failed
    lost = int(np.sum(diff < 0))
    n = gained + lost
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(gained, lost) + 1)) / 2**n
    return min(1.0, 2.0 * tail)


def is_binary(values: Sequence[float] | np.ndarray) -> bool:
    """True when every value is 0 or 1 (a pass/fail metric).

    >>> is_binary([0, 1, 1.0]), is_binary([0.5, 1])
    (True, False)
    """
    data = np.asarray(values, dtype=float)
    return bool(np.all((data == 0.0) | (data == 1.0)))


def compare_paired(a: Sequence[float], b: Sequence[float], seed: int = 0) -> tuple[PairedResult, str]:
    """The paired comparison the report prints: bootstrap difference and interval, and the p-value
    of McNemar's exact test for 0/1 metrics or of the paired bootstrap otherwise.

    >>> result, test = compare_paired([0, 0, 1, 1], [1, 1, 1, 1])
    >>> result.difference, round(result.p, 3), test
    (0.5, 0.5, 'McNemar exact')
    """
    result = paired_bootstrap(a, b, seed=seed)
    if is_binary(a) and is_binary(b):
        return result._replace(p=mcnemar_exact(a, b)), "McNemar exact"
    return result, "paired bootstrap"

"""Statistics for fair comparisons: bootstrap intervals and paired tests. Pure functions, no I/O."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def bootstrap_ci(
    values: Sequence[float], confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0
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
    # Clamp to the observed range so a constant sample gives exactly that constant.
    return (float(max(low, data.min())), float(min(high, data.max())))

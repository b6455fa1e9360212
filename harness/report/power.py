"""How many examples settle a comparison: Holm–Bonferroni correction and paired power. Pure functions.

McNemar power (pass/fail metrics, paired): with ψ = p01 + p10 the share of discordant pairs and
δ = p10 − p01 the difference in pass rates, the pairs needed for a two-sided level-α test to have
power 1 − β are (Connor 1987, Biometrics 43:207–211, eq. 3; Lachin 1992 gives the same form)

    n = (z_{1−α/2} √ψ + z_{1−β} √(ψ − δ²))² / δ²

For graded metrics the paired differences' standard deviation σ_d gives the familiar
n = ((z_{1−α/2} + z_{1−β}) σ_d / δ)². scipy supplies the normal quantiles; it has no McNemar power.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

ALPHA = 0.05
POWER = 0.80


def _z(p: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(p))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values, in the input order (step-down, monotone, capped at 1).

    The i-th smallest p is multiplied by (m − i + 1); each adjusted value is at least the previous one.

    >>> holm([0.01, 0.04, 0.03])
    [0.03, 0.06, 0.06]
    >>> holm([0.2]), holm([])
    ([0.2], [])
    """
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = round(running, 12)
    return adjusted


def mcnemar_pairs_needed(discordant: float, difference: float, alpha: float = ALPHA, power: float = POWER) -> float:
    """Paired examples a two-sided McNemar test needs to detect ``difference`` with ``power``.

    ``discordant`` is ψ, the share of pairs where exactly one side passed; ``difference`` is δ.
    Returns inf when δ is 0 or impossible (|δ| > ψ).

    >>> round(mcnemar_pairs_needed(0.3, 0.1))  # ψ = 0.3, δ = 0.1
    233
    >>> mcnemar_pairs_needed(0.2, 0.0)
    inf
    """
    d = abs(difference)
    if d == 0 or d > discordant or discordant <= 0:
        return math.inf
    za, zb = _z(1 - alpha / 2), _z(power)
    return (za * math.sqrt(discordant) + zb * math.sqrt(discordant - d * d)) ** 2 / (d * d)


def mcnemar_detectable(n: int, discordant: float, alpha: float = ALPHA, power: float = POWER) -> float:
    """The smallest |δ| that ``n`` pairs detect with ``power`` when a share ``discordant`` of pairs disagree.

    Solves :func:`mcnemar_pairs_needed` for δ by bisection (n falls as δ grows on (0, ψ]).

    >>> round(mcnemar_detectable(233, 0.3), 3)
    0.1
    >>> mcnemar_detectable(20, 0.0)
    nan
    """
    if n <= 0 or discordant <= 0:
        return math.nan
    low, high = 1e-9, discordant
    if mcnemar_pairs_needed(discordant, high, alpha, power) > n:
        return discordant  # even the largest possible difference needs more pairs: at least ψ
    for _ in range(60):
        mid = (low + high) / 2
        if mcnemar_pairs_needed(discordant, mid, alpha, power) > n:
            low = mid
        else:
            high = mid
    return high


def graded_pairs_needed(sd_difference: float, difference: float, alpha: float = ALPHA, power: float = POWER) -> float:
    """Pairs a paired z-test needs: ((z_{1−α/2} + z_{1−β}) σ_d / δ)².

    >>> round(graded_pairs_needed(1.0, 0.5))  # (1.96 + 0.84)² × 4 = 31.4
    31
    """
    if difference == 0:
        return math.inf
    return ((_z(1 - alpha / 2) + _z(power)) * sd_difference / abs(difference)) ** 2


def graded_detectable(n: int, sd_difference: float, alpha: float = ALPHA, power: float = POWER) -> float:
    """The smallest |δ| ``n`` pairs detect: (z_{1−α/2} + z_{1−β}) σ_d / √n.

    >>> round(graded_detectable(100, 1.0), 3)
    0.28
    """
    if n <= 0:
        return math.nan
    return (_z(1 - alpha / 2) + _z(power)) * sd_difference / math.sqrt(n)


def pairs_to_decide(n: int, difference: float, ci95: tuple[float, float], margin: float) -> float | None:
    """Total pairs at which the 95% interval of (cheaper − best) would clear −margin or 0, whichever is nearer.

    A non-inferiority question is settled once the interval lies above −margin (the cheaper variant is
    good enough) or below 0 (it is worse). The interval's half-width shrinks as 1/√n, so the pairs
    needed are n × (half-width / gap)², with the gap the distance from the estimate to the nearer
    bound. None when the estimate sits exactly on both bounds' wrong side (cannot be decided).

    >>> pairs_to_decide(20, -0.10, (-0.30, 0.10), margin=0.05)  # half-width 0.2, gap to 0: 0.1 → 80 pairs
    80.0
    """
    half = (ci95[1] - ci95[0]) / 2
    gap = max(difference + margin, -difference)
    if gap <= 0 or half <= 0:
        return None
    return n * (half / gap) ** 2

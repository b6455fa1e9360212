"""Power and multiple-comparison figures against published values and a seeded simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.report.power import (
    graded_detectable,
    holm,
    mcnemar_detectable,
    mcnemar_pairs_needed,
    pairs_to_decide,
)


def test_mcnemar_pairs_match_connors_published_example() -> None:
    # Connor (1987), Biometrics 43:207-211, p. 209: p01 = 0.45, p10 = 0.05, two-sided α = 0.05,
    # power 0.80 → 23 pairs (also the worked example of powerandsamplesize.com's McNemar calculator).
    assert math.ceil(mcnemar_pairs_needed(0.45 + 0.05, 0.05 - 0.45)) == 23


def test_mcnemar_power_at_the_computed_size_is_80_percent_by_simulation() -> None:
    psi, delta = 0.30, 0.10
    n = math.ceil(mcnemar_pairs_needed(psi, delta))
    rng = np.random.default_rng(20260101)
    trials = 4000
    # each pair: b passes alone with p10 = (ψ + δ)/2, a alone with p01 = (ψ − δ)/2, else concordant
    draws = rng.multinomial(n, [(psi + delta) / 2, (psi - delta) / 2, 1 - psi], size=trials)
    gained, lost = draws[:, 0], draws[:, 1]
    z = np.abs(gained - lost) / np.sqrt(np.maximum(gained + lost, 1))  # McNemar's z, as the formula assumes
    power = float(np.mean(z > 1.959964))
    assert power == pytest.approx(0.80, abs=0.025)


def test_detectable_difference_inverts_the_pairs_needed() -> None:
    for psi, n in ((0.2, 50), (0.35, 120), (0.6, 400)):
        d = mcnemar_detectable(n, psi)
        assert mcnemar_pairs_needed(psi, d) == pytest.approx(n, rel=1e-6)
    assert mcnemar_detectable(10, 0.05) == 0.05  # too few pairs: nothing below ψ is detectable
    assert math.isnan(mcnemar_detectable(20, 0.0))
    # graded: (1.96 + 0.84) σ / √n
    assert graded_detectable(64, 0.4) == pytest.approx((1.959964 + 0.841621) * 0.4 / 8, rel=1e-5)


def test_holm_matches_hand_computation_and_is_monotone() -> None:
    p = [0.010, 0.040, 0.030, 0.005]
    # sorted 0.005×4 = 0.02, 0.010×3 = 0.03, 0.030×2 = 0.06, 0.040×1 → max(0.06, 0.04) = 0.06
    assert holm(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.9, 0.3]) == [0.9, 0.6] and holm([0.9, 0.8]) == [1.0, 1.0]  # capped at 1


def test_pairs_to_decide_scales_with_the_interval() -> None:
    # estimate −2 points, CI −12 to 8 (half-width 10), margin 5: gap to −5 is 3 → n × (10/3)²
    assert pairs_to_decide(50, -0.02, (-0.12, 0.08), 0.05) == pytest.approx(50 * (0.10 / 0.03) ** 2)
    assert pairs_to_decide(50, -0.05, (-0.1, 0.0), 0.05) == pytest.approx(50 * (0.05 / 0.05) ** 2)

"""The measures of scoring/metrics.py against figures worked by hand and against
scipy's own implementations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binomtest, ks_2samp, mannwhitneyu  # type: ignore[import-untyped]

from scoring import metrics


def test_psi_by_hand():
    # Shares 0.5/0.5 then 0.25/0.75:
    # (0.25 - 0.5) ln(0.25/0.5) + (0.75 - 0.5) ln(0.75/0.5) = 0.25 ln 2 + 0.25 ln 1.5
    assert metrics.psi([50, 50], [25, 75]) == pytest.approx(
        0.25 * math.log(2) + 0.25 * math.log(1.5)
    )
    assert metrics.psi([50, 50], [25, 75]) == pytest.approx(0.274653, abs=1e-6)
    # The same distribution, whatever the totals, has none.
    assert metrics.psi([10, 20, 70], [100, 200, 700]) == pytest.approx(0.0)
    # Symmetric in its two arguments.
    assert metrics.psi([30, 70], [60, 40]) == pytest.approx(metrics.psi([60, 40], [30, 70]))


def test_psi_floors_an_empty_bin_instead_of_dividing_by_zero():
    # Bin 2 empty in the baseline: its share counts as 0.0001.
    expected = (0.5 - 0.0001) * math.log(0.5 / 0.0001) + (0.5 - 1.0) * math.log(0.5 / 1.0)
    assert metrics.psi([10, 0], [5, 5]) == pytest.approx(expected)


def test_psi_refuses_mismatched_or_empty_distributions():
    with pytest.raises(ValueError, match="same bins"):
        metrics.psi([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="no accounts"):
        metrics.psi([0, 0], [1, 2])


@pytest.mark.parametrize(
    ("value", "band"),
    [
        (0.0, "stable"),
        (0.0999, "stable"),
        (0.10, "watch"),
        (0.2499, "watch"),
        (0.25, "act"),
        (1.3, "act"),
    ],
)
def test_stability_bands(value, band):
    assert metrics.stability(value) == band


def test_auc_and_gini_by_hand():
    # Goods score 3 and 4, bads 1 and 3. Pairs (good, bad): (3,1) 1, (3,3) ½, (4,1) 1,
    # (4,3) 1 → 3.5 of 4.
    scores = np.array([3, 4, 1, 3])
    bad = np.array([False, False, True, True])
    assert metrics.auc(scores, bad) == pytest.approx(0.875)
    assert metrics.gini(metrics.auc(scores, bad)) == pytest.approx(0.75)
    # A score that puts every bad above every good ranks backwards.
    assert metrics.auc(np.array([1, 2, 8, 9]), np.array([False, False, True, True])) == 0.0


def test_ks_by_hand():
    # Bads at 1 and 2, goods at 3 and 4: by 2 all bads and no goods, a gap of 1.
    assert metrics.ks(np.array([1, 2, 3, 4]), np.array([True, True, False, False])) == 1.0
    # Bads 1, 3; goods 2, 4. Cumulative at 1: ½ vs 0; at 2: ½ vs ½; at 3: 1 vs ½; gap ½.
    assert metrics.ks(np.array([1, 3, 2, 4]), np.array([True, True, False, False])) == 0.5


def test_separation_needs_both_goods_and_bads():
    with pytest.raises(ValueError, match="good and one bad"):
        metrics.auc(np.array([1, 2]), np.array([True, True]))
    with pytest.raises(ValueError, match="good and one bad"):
        metrics.ks(np.array([1, 2]), np.array([False, False]))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_auc_and_ks_agree_with_scipy_on_tied_scores(seed):
    rng = np.random.default_rng(seed)
    n = 5_000
    # Integer scores with plenty of ties; the bad rate falls as the score rises.
    scores = rng.integers(350, 951, n) // 10 * 10
    bad = rng.random(n) < 1 / (1 + np.exp((scores - 600) / 60))
    goods, bads = scores[~bad], scores[bad]
    u_goods = mannwhitneyu(goods, bads, alternative="two-sided").statistic
    assert metrics.auc(scores, bad) == pytest.approx(u_goods / (len(goods) * len(bads)), rel=1e-12)
    assert metrics.ks(scores, bad) == pytest.approx(ks_2samp(goods, bads).statistic, rel=1e-12)
    assert 0.5 < metrics.auc(scores, bad) < 1.0


def test_wilson_by_hand_and_against_scipy():
    # 0 of 10: p = 0, the interval starts at 0 and ends at z²/(n + z²).
    z = metrics.Z_95
    low, high = metrics.wilson(0, 10)
    assert low == 0.0
    assert high == pytest.approx(z * z / (10 + z * z))
    for successes, trials in [(7, 20), (1, 1000), (999, 1000), (50, 50), (3, 7)]:
        expected = binomtest(successes, trials).proportion_ci(method="wilson")
        assert metrics.wilson(successes, trials) == pytest.approx(
            (expected.low, expected.high), abs=1e-12
        )
    with pytest.raises(ValueError, match="no trials"):
        metrics.wilson(0, 0)


def test_difference_interval_is_newcombes_worked_example():
    # Newcombe (1998), Statistics in Medicine 17:873, table II example (a):
    # 56/70 - 48/80 = 0.2, method 10 interval 0.0524 to 0.3339.
    low, high = metrics.difference_interval(56, 70, 48, 80)
    assert (round(low, 4), round(high, 4)) == (0.0524, 0.3339)
    # It holds the difference and is built from the two Wilson intervals.
    low_a, high_a = metrics.wilson(56, 70)
    low_b, high_b = metrics.wilson(48, 80)
    assert low == pytest.approx(0.2 - math.hypot(0.8 - low_a, high_b - 0.6))
    assert high == pytest.approx(0.2 + math.hypot(high_a - 0.8, 0.6 - low_b))
    with pytest.raises(ValueError, match="no trials"):
        metrics.difference_interval(1, 0, 1, 2)


def test_adverse_impact_by_hand():
    impacts = {
        i.cohort: i
        for i in metrics.adverse_impact({"A": (100, 10), "B": (100, 40), "C": (10, 9), "D": (0, 0)})
    }
    # A is the most favoured (90 % neither cut nor closed); B's 60 % is 0.667 of it.
    assert impacts["A"].ratio == pytest.approx(1.0)
    assert impacts["A"].flagged is False
    assert impacts["B"].favourable_rate == pytest.approx(0.6)
    assert impacts["B"].ratio == pytest.approx(0.6 / 0.9)
    assert impacts["B"].flagged is True
    # C is too small to judge (and is not the reference, though its rate is lower).
    assert impacts["C"].ratio is None
    assert impacts["C"].flagged is False
    assert impacts["D"].ratio is None


def test_adverse_impact_flags_strictly_below_four_fifths():
    impacts = metrics.adverse_impact({"A": (100, 0), "B": (100, 20), "C": (100, 21)})
    by = {i.cohort: i for i in impacts}
    assert by["B"].ratio == pytest.approx(0.8)
    assert by["B"].flagged is False
    assert by["C"].flagged is True

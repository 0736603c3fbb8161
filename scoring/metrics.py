"""Measures of a scorecard and a policy on a population: stability (PSI, CSI),
separation (KS, AUC, Gini), fairness (adverse impact ratio) and confidence
intervals of rates. Pure Python and numpy: no ORM, no I/O
(docs/architecture.md, "Portfolio history").
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

# Usual reading of a population stability index: below 0.10 stable, 0.10-0.25 a
# moderate shift to watch, above 0.25 a shift to act on.
PSI_WATCH = 0.10
PSI_ACT = 0.25
# A share of a bin never taken as zero (ln 0): a bin empty on one side counts as this.
PSI_FLOOR = 0.0001
# The four-fifths rule: a cohort whose favourable rate is below 80 % of the most
# favoured cohort's is flagged.
AIR_FLAG = 0.8
Z_95 = 1.959963984540054


def psi(expected: Sequence[int], actual: Sequence[int]) -> float:
    """Population stability index of `actual` against `expected`, both counts per
    bin: sum over bins of (a - e) * ln(a / e), with shares floored at PSI_FLOOR."""
    if len(expected) != len(actual):
        raise ValueError("both distributions need the same bins")
    e_total, a_total = sum(expected), sum(actual)
    if not e_total or not a_total:
        raise ValueError("a distribution with no accounts has no stability index")
    total = 0.0
    for e_count, a_count in zip(expected, actual, strict=True):
        e = max(e_count / e_total, PSI_FLOOR)
        a = max(a_count / a_total, PSI_FLOOR)
        total += (a - e) * math.log(a / e)
    return total


def stability(value: float) -> str:
    """ "stable", "watch" or "act" for a PSI or CSI."""
    if value >= PSI_ACT:
        return "act"
    if value >= PSI_WATCH:
        return "watch"
    return "stable"


def auc(scores: np.ndarray, bad: np.ndarray) -> float:
    """Area under the ROC curve of the score separating goods (high scores) from bads:
    the chance a random good scores above a random bad, ties counting half."""
    scores = np.asarray(scores, dtype=np.float64)
    bad = np.asarray(bad, dtype=bool)
    n_bad, n_good = int(bad.sum()), int((~bad).sum())
    if not n_bad or not n_good:
        raise ValueError("AUC needs at least one good and one bad")
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    # Average ranks, ties sharing the mean of their positions (1-based).
    _unique, first, tie_counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    mean_rank = first + (tie_counts + 1) / 2.0
    ranks = np.empty(len(scores), dtype=np.float64)
    ranks[order] = np.repeat(mean_rank, tie_counts)
    good_rank_sum = ranks[~bad].sum()
    u_good = good_rank_sum - n_good * (n_good + 1) / 2.0
    return float(u_good / (n_good * n_bad))


def gini(auc_value: float) -> float:
    return 2.0 * auc_value - 1.0


def ks(scores: np.ndarray, bad: np.ndarray) -> float:
    """Kolmogorov-Smirnov statistic: the largest gap between the cumulative score
    distributions of goods and bads."""
    scores = np.asarray(scores, dtype=np.float64)
    bad = np.asarray(bad, dtype=bool)
    n_bad, n_good = int(bad.sum()), int((~bad).sum())
    if not n_bad or not n_good:
        raise ValueError("KS needs at least one good and one bad")
    values = np.unique(scores)
    cum_bad = np.searchsorted(np.sort(scores[bad]), values, side="right") / n_bad
    cum_good = np.searchsorted(np.sort(scores[~bad]), values, side="right") / n_good
    return float(np.max(np.abs(cum_bad - cum_good)))


def wilson(successes: int, trials: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval of a proportion (95 % by default)."""
    if trials <= 0:
        raise ValueError("no trials, no interval")
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def difference_interval(
    successes_a: int, trials_a: int, successes_b: int, trials_b: int, z: float = Z_95
) -> tuple[float, float]:
    """Newcombe's hybrid score interval of p_a - p_b (method 10), from the two
    Wilson intervals."""
    if trials_a <= 0 or trials_b <= 0:
        raise ValueError("no trials, no interval")
    p_a, p_b = successes_a / trials_a, successes_b / trials_b
    low_a, high_a = wilson(successes_a, trials_a, z)
    low_b, high_b = wilson(successes_b, trials_b, z)
    diff = p_a - p_b
    low = diff - math.sqrt((p_a - low_a) ** 2 + (high_b - p_b) ** 2)
    high = diff + math.sqrt((high_a - p_a) ** 2 + (p_b - low_b) ** 2)
    return low, high


@dataclass(frozen=True)
class Impact:
    """One cohort's adverse outcomes and its adverse impact ratio."""

    cohort: str
    accounts: int
    adverse: int
    favourable_rate: float
    ratio: float | None  # None when the cohort is too small to judge
    flagged: bool


def adverse_impact(cohorts: Mapping[str, tuple[int, int]], min_accounts: int = 30) -> list[Impact]:
    """Adverse impact ratio of each cohort ({label: (accounts, adverse outcomes)}):
    its favourable rate (not cut, not closed) over the most favoured cohort's.
    Cohorts under `min_accounts` get no ratio and are not the reference."""
    rates = {
        label: (accounts - adverse) / accounts
        for label, (accounts, adverse) in cohorts.items()
        if accounts > 0
    }
    judged = [rate for label, rate in rates.items() if cohorts[label][0] >= min_accounts]
    best = max(judged, default=0.0)
    out = []
    for label, (accounts, adverse) in cohorts.items():
        rate = rates.get(label, 0.0)
        ratio = rate / best if best > 0 and accounts >= min_accounts else None
        out.append(
            Impact(label, accounts, adverse, rate, ratio, ratio is not None and ratio < AIR_FLAG)
        )
    return out

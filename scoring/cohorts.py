"""Fairness cohorts: the age bands and the counts of cuts and closures per cohort
that simulations, back-tests and snapshots report, with each cohort's adverse
impact ratio. Pure numpy, no ORM (docs/architecture.md, "Fairness in simulations
and back-tests").
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from scoring.metrics import adverse_impact

# Age bands of the fairness cohorts: <25, 25-34, 35-44, 45-54, 55-64, 65+.
AGE_EDGES: tuple[float, ...] = (25.0, 35.0, 45.0, 55.0, 65.0)
AGE_LABELS: tuple[str, ...] = ("18-24", "25-34", "35-44", "45-54", "55-64", "65+")


def age_band(age: float) -> str:
    return AGE_LABELS[bisect_right(AGE_EDGES, age)]


def age_index(ages: np.ndarray) -> np.ndarray:
    """Each age's position in AGE_LABELS."""
    return np.searchsorted(np.asarray(AGE_EDGES), np.asarray(ages, dtype=np.float64), side="right")


def cohort_counts(
    index: np.ndarray, labels: Sequence[str], cut: np.ndarray, closed: np.ndarray
) -> dict[str, dict[str, int]]:
    """{label: {"accounts", "cut", "closed"}} for the cohorts with accounts; `index`
    is each row's position in `labels` (rows outside them, as -1 for unknown, are
    left out), `cut` and `closed` boolean per row."""
    index = np.asarray(index, dtype=np.int64)
    size = len(labels)
    known = (index >= 0) & (index < size)
    index = index[known]
    accounts = np.bincount(index, minlength=size)
    cuts = np.bincount(index, weights=np.asarray(cut, dtype=np.float64)[known], minlength=size)
    closes = np.bincount(index, weights=np.asarray(closed, dtype=np.float64)[known], minlength=size)
    return {
        label: {
            "accounts": int(accounts[i]),
            "cut": int(cuts[i]),
            "closed": int(closes[i]),
        }
        for i, label in enumerate(labels)
        if accounts[i]
    }


def merge_counts(
    into: Mapping[str, Mapping[str, Mapping[str, int]]],
    part: Mapping[str, Mapping[str, Mapping[str, int]]],
) -> dict[str, dict[str, dict[str, int]]]:
    """Two {kind: {label: counts}} added up."""
    out = {kind: {label: dict(row) for label, row in rows.items()} for kind, rows in into.items()}
    for kind, rows in part.items():
        mine = out.setdefault(kind, {})
        for label, row in rows.items():
            counts = mine.setdefault(label, {})
            for key, n in row.items():
                counts[key] = counts.get(key, 0) + n
    return out


@dataclass(frozen=True)
class CohortRow:
    """One cohort under one version: its cut and closure rates and its adverse impact
    ratio (favourable = neither cut nor closed) against the most favoured cohort."""

    cohort: str
    accounts: int
    cut: int
    closed: int
    ratio: float | None  # None when the cohort is under 30 accounts
    flagged: bool

    @property
    def cut_rate(self) -> float:
        return self.cut / self.accounts if self.accounts else 0.0

    @property
    def closure_rate(self) -> float:
        return self.closed / self.accounts if self.accounts else 0.0


def fairness_rows(
    counts: Mapping[str, Mapping[str, int]], order: Sequence[str] | None = None
) -> list[CohortRow]:
    """The cohorts of {label: {"accounts", "cut", "closed"}} in `order` (else as given)."""
    labels = [label for label in (order or list(counts)) if label in counts]
    impacts = {
        impact.cohort: impact
        for impact in adverse_impact(
            {
                label: (counts[label]["accounts"], counts[label]["cut"] + counts[label]["closed"])
                for label in labels
            }
        )
    }
    return [
        CohortRow(
            cohort=label,
            accounts=counts[label]["accounts"],
            cut=counts[label]["cut"],
            closed=counts[label]["closed"],
            ratio=impacts[label].ratio,
            flagged=impacts[label].flagged,
        )
        for label in labels
    ]


@dataclass(frozen=True)
class CohortComparison:
    """One cohort under two versions side by side."""

    cohort: str
    before: CohortRow | None
    after: CohortRow | None


def compare(
    before: Mapping[str, Any], after: Mapping[str, Any], order: Sequence[str]
) -> list[CohortComparison]:
    """The cohorts of two versions' counts ({label: counts}) side by side, in `order`
    then any other label."""
    rows_before = {row.cohort: row for row in fairness_rows(before, order)}
    rows_after = {row.cohort: row for row in fairness_rows(after, order)}
    labels = [label for label in order if label in rows_before or label in rows_after]
    return [
        CohortComparison(label, rows_before.get(label), rows_after.get(label)) for label in labels
    ]

"""Realized outcomes of each snapshot: how the accounts a run saw fared in the 3, 6
and 12 months after it, kept in `Snapshot.outcomes` so the Monitoring page reads a
few numbers, never the rows (docs/architecture.md, "Outcomes and performance").

Vectorised: each snapshot is read once, only the columns needed
(`history.snapshots.snapshot_outcome_columns`; kept as three light columns while
a pass needs them as a later snapshot) and joined by account id with
numpy; what a window shows is what `history.snapshots.outcomes_after` says (a test
holds them equal).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
from django.db import transaction
from django.utils import timezone

import scoring
from history.models import Snapshot
from history.snapshots import snapshot_outcome_columns
from policies.models import Policy
from scoring import metrics

HORIZONS = (3, 6, 12)
# Separation (KS, AUC, Gini) is measured on these horizons only: three months is
# too short for 90+ days past due to show.
SEPARATION_HORIZONS = (6, 12)
BAD_30, BAD_90 = 30, 90
# A horizon has matured when a snapshot exists this close to the window's end or after it.
MATURITY_SLACK = timedelta(days=7)
NO_BAND = "—"


def add_months(day: date, months: int) -> date:
    """`day` plus whole months, the day clamped to the month's end (as PostgreSQL's
    `date + interval 'n months'`, which `outcomes_after` uses)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class Rows:
    """The columns of a snapshot the outcomes read (history.snapshots.
    snapshot_outcome_columns), one entry per account in id order."""

    account_id: np.ndarray
    score: np.ndarray
    band: np.ndarray
    policy_version: np.ndarray
    action: np.ndarray
    days_past_due: np.ndarray
    status_after: np.ndarray

    def __len__(self) -> int:
        return len(self.account_id)


def rows_on(day: date) -> Rows:
    return Rows(**snapshot_outcome_columns(day))


def band_names(rows: Rows) -> tuple[np.ndarray, list[str]]:
    """Each row's band as an index into the returned names: the names of the bands of
    the version that scored the row (scoring.parse_policy of its rules), in the order
    of the versions' bands; rows with no band get NO_BAND."""
    versions = np.unique(rows.policy_version).astype(int).tolist()
    rules = {p.version: p.rules for p in Policy.objects.filter(version__in=versions)}
    names: list[str] = []
    index = np.full(len(rows), -1, dtype=np.int64)
    for version in versions:
        mine = rows.policy_version == version
        bands = (
            [band.name for band in scoring.parse_policy(rules[version]).bands]
            if version in rules
            else []
        )
        for position, name in enumerate(bands):
            if name not in names:
                names.append(name)
            index[mine & (rows.band == position)] = names.index(name)
    if (index < 0).any():
        names.append(NO_BAND)
        index[index < 0] = len(names) - 1
    return index, names


@dataclass(frozen=True)
class Observed:
    """What one later snapshot showed of its accounts (kept light: three columns)."""

    account_id: np.ndarray
    days_past_due: np.ndarray
    closed: np.ndarray


def observed(rows: Rows) -> Observed:
    return Observed(
        rows.account_id.astype(np.int64),
        rows.days_past_due.astype(np.int16),
        rows.status_after == scoring.STATUS_CODES["closed"],
    )


def observed_on(day: date, cache: dict[date, Observed] | None = None) -> Observed:
    """The accounts of the snapshot of `day`: id, days past due, closed after the run."""
    if cache is not None and day in cache:
        return cache[day]
    found = observed(rows_on(day))
    if cache is not None:
        cache[day] = found
    return found


def windows(
    account_id: np.ndarray,
    taken_on: date,
    horizons: list[int],
    later: list[date],
    cache: dict[date, Observed] | None = None,
) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """For each horizon in months, per account (in `account_id`'s order): whether a
    later snapshot in (taken_on, taken_on + months] saw it, the worst days past due
    and whether the line was closed there — what `history.snapshots.outcomes_after`
    says, in one pass over the later snapshots (each read once)."""
    n = len(account_id)
    worst = np.full(n, -1, dtype=np.int64)
    closed = np.zeros(n, dtype=bool)
    ends = sorted((add_months(taken_on, months), months) for months in horizons)
    out: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def record(until: date | None) -> None:
        while ends and (until is None or ends[0][0] < until):
            _end, months = ends.pop(0)
            seen = worst >= 0
            out[months] = (seen, np.where(seen, worst, 0), closed.copy())

    for day in sorted(d for d in later if d > taken_on):
        record(day)
        if not ends:
            break
        seen_then = observed_on(day, cache)
        position = np.searchsorted(seen_then.account_id, account_id)
        inside = position < len(seen_then.account_id)
        match = np.zeros(n, dtype=bool)
        match[inside] = seen_then.account_id[position[inside]] == account_id[inside]
        at = position[match]
        worst[match] = np.maximum(worst[match], seen_then.days_past_due[at])
        closed[match] |= seen_then.closed[at]
    record(None)
    return out


def horizon_outcomes(
    rows: Rows,
    band_index: np.ndarray,
    names: list[str],
    months: int,
    window: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> dict[str, Any]:
    """The figures of one horizon (see docs/architecture.md, "Outcomes and performance")."""
    seen, worst, closed_later = window
    bad30 = seen & (worst >= BAD_30)
    bad90 = seen & (worst >= BAD_90)
    codes = scoring.ACTION_CODES
    adverse = (rows.action == codes[scoring.REDUCE]) | (rows.action == codes[scoring.CLOSE])
    bands = []
    for i, name in enumerate(names):
        mine = band_index == i
        bands.append(
            {
                "band": name,
                "accounts": int(mine.sum()),
                "seen": int((mine & seen).sum()),
                "bad30": int((mine & bad30).sum()),
                "bad90": int((mine & bad90).sum()),
            }
        )
    out: dict[str, Any] = {
        "accounts": len(rows),
        "seen": int(seen.sum()),
        "bad30": int(bad30.sum()),
        "bad90": int(bad90.sum()),
        "bands": bands,
        "cut_or_closed": int((adverse & seen).sum()),
        "good_cut": int((adverse & seen & (worst < BAD_30)).sum()),
        "bads_missed": int((~adverse & bad90).sum()),
        "closures": int((seen & closed_later).sum()),
        "ks": None,
        "auc": None,
        "gini": None,
    }
    n_bad = out["bad90"]
    if months in SEPARATION_HORIZONS and 0 < n_bad < out["seen"]:
        scores = rows.score[seen].astype(np.float64)
        bad = bad90[seen]
        auc = metrics.auc(scores, bad)
        out.update(ks=metrics.ks(scores, bad), auc=auc, gini=metrics.gini(auc))
    return out


def _matured(taken_on: date, months: int, later: list[date]) -> bool:
    end = add_months(taken_on, months)
    return any(day >= end - MATURITY_SLACK for day in later)


def outcomes_pending(snapshot: Snapshot, latest: date | None) -> bool:
    """Whether the snapshot's outcomes need deriving: a horizon not stored or not
    matured, and a snapshot taken since they were last derived."""
    stored = snapshot.outcomes or {}
    if all(stored.get(str(m), {}).get("matured") for m in HORIZONS):
        return False
    return latest is not None and stored.get("through") != latest.isoformat()


def derive_snapshot_outcomes(
    *, snapshot_id: int, cache: dict[date, Observed] | None = None
) -> Snapshot:
    """Derive and store one complete snapshot's outcomes for every horizon; a horizon
    already matured and stored is kept as it is. `cache` keeps the later snapshots
    read, for the next snapshot derived in the same pass."""
    snapshot = Snapshot.objects.get(pk=snapshot_id, state=Snapshot.State.COMPLETE)
    later = list(
        Snapshot.objects.filter(state=Snapshot.State.COMPLETE, taken_on__gt=snapshot.taken_on)
        .order_by("taken_on")
        .values_list("taken_on", flat=True)
    )
    stored = dict(snapshot.outcomes or {})
    todo = [m for m in HORIZONS if not stored.get(str(m), {}).get("matured")]
    if todo:
        rows = rows_on(snapshot.taken_on)
        band_index, names = band_names(rows)
        found = windows(rows.account_id, snapshot.taken_on, todo, later, cache)
        if cache is not None:
            cache[snapshot.taken_on] = observed(rows)  # a later one for the next derived
        for months in todo:
            figures = horizon_outcomes(rows, band_index, names, months, found[months])
            figures["matured"] = _matured(snapshot.taken_on, months, later)
            figures["window_end"] = add_months(snapshot.taken_on, months).isoformat()
            stored[str(months)] = figures
    stored["through"] = max(later).isoformat() if later else None
    stored["derived_at"] = timezone.now().isoformat()
    with transaction.atomic():
        Snapshot.objects.filter(pk=snapshot.pk).update(outcomes=stored)
    snapshot.outcomes = stored
    return snapshot


def derive_outcomes() -> list[date]:
    """Derive the outcomes of every complete snapshot that needs it (outcomes_pending),
    newest first, so each snapshot is read once: in full when it is derived, and
    kept light for the earlier ones it is a later snapshot of; the dates derived."""
    snapshots = list(
        Snapshot.objects.filter(state=Snapshot.State.COMPLETE)
        .order_by("-taken_on")
        .only("id", "taken_on", "state", "outcomes")
    )
    done = []
    cache: dict[date, Observed] = {}
    for snapshot in snapshots:
        # Beyond the longest window of this snapshot, a later one is never read again.
        horizon_end = add_months(snapshot.taken_on, max(HORIZONS))
        for day in [day for day in cache if day > horizon_end]:
            del cache[day]
        if snapshot.state != Snapshot.State.COMPLETE:
            continue
        later = [s.taken_on for s in snapshots if s.taken_on > snapshot.taken_on]
        if outcomes_pending(snapshot, max(later) if later else None):
            derive_snapshot_outcomes(snapshot_id=snapshot.pk, cache=cache)
            done.append(snapshot.taken_on)
    return done

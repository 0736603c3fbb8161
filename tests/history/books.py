"""Small books of snapshot rows for the history tests, written as a portfolio run
writes them: rows by COPY, the stats beside them."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date
from typing import Any

import numpy as np
import pytest
from django.db import connection, transaction

import scoring
from accounts.book import SEGMENTS
from history import snapshots, stats
from history.models import Snapshot
from history.snapshots import SnapshotRows

DEFAULT_BANDS = scoring.parse_policy(scoring.DEFAULT_POLICY).bands


def band_of(score: int) -> int:
    """The band index of a score under the default policy (v1's bands)."""
    for position, band in enumerate(DEFAULT_BANDS):
        if score >= band.min_score:
            return position
    return len(DEFAULT_BANDS) - 1


def book(
    ids: Sequence[int],
    *,
    score: Sequence[int] | int = 700,
    dpd: Sequence[int] | int = 0,
    action: Sequence[str] | str = "keep",
    closed: Sequence[bool] | bool = False,
    age: Sequence[float] | float = 40,
    utilization: Sequence[float] | float = 0.1,
    segment: int = 0,
) -> SnapshotRows:
    """Rows for these accounts; every other signal is the same for all of them."""
    n = len(ids)

    def column(value: Any, dtype: Any) -> np.ndarray:
        if isinstance(value, (list, tuple, np.ndarray)):
            assert len(value) == n
            return np.asarray(value, dtype=dtype)
        return np.full(n, value, dtype=dtype)

    scores = column(score, np.int64)
    signals = np.full((n, len(scoring.INPUT_SIGNALS)), 1.0)
    signals[:, scoring.INPUT_SIGNALS.index("age")] = column(age, np.float64)
    signals[:, scoring.INPUT_SIGNALS.index("utilization")] = column(utilization, np.float64)
    signals[:, scoring.INPUT_SIGNALS.index("days_past_due")] = column(dpd, np.int64)
    actions = column(action, object)
    is_closed = column(closed, bool)
    return SnapshotRows(
        account_id=np.asarray(ids, dtype=np.int64),
        segment=np.full(n, segment),
        status_before=np.zeros(n, dtype=np.int64),
        limit_before=np.full(n, 1_000_000),
        good_cycles=np.zeros(n, dtype=np.int64),
        in_cooldown=np.zeros(n, dtype=bool),
        days_since_restoration=np.full(n, scoring.NEVER_RESTORED),
        days_past_due=column(dpd, np.int64),
        score=scores,
        band=np.asarray([band_of(int(s)) for s in scores]),
        policy_version=np.full(n, 1),
        action=np.asarray([scoring.ACTION_CODES[a] for a in actions]),
        limit_after=np.full(n, 1_000_000),
        status_after=np.where(is_closed, scoring.STATUS_CODES["closed"], 0),
        signals=signals,
    )


def take(
    day: date,
    rows: SnapshotRows,
    *,
    triggers: Sequence[int] | None = None,
    state: str = Snapshot.State.COMPLETE,
) -> Snapshot:
    """A snapshot of `rows` taken on `day`, its stats as a run merges them."""
    with transaction.atomic():
        snapshots.partition_ensure(day)
        snapshot = Snapshot.objects.create(
            taken_on=day,
            policy_version=1,
            state=state,
            accounts=len(rows),
            stats=stats.merge(
                [
                    stats.row_stats(
                        rows,
                        SEGMENTS,
                        None if triggers is None else np.asarray(triggers, dtype=np.int64),
                    )
                ]
            ),
        )
        snapshots.snapshot_rows_write(day, rows)
    return snapshot


@pytest.fixture
def fresh_partitions() -> Iterator[None]:
    """Drop the month partitions a test made: a flush empties them but leaves them,
    and other tests count the partitions there are."""
    before = {name for name, _month in snapshots.partitions()}
    yield
    made = [name for name, _month in snapshots.partitions() if name not in before]
    with connection.cursor() as cursor:
        for name in made:
            cursor.execute(f"DROP TABLE IF EXISTS {name}")

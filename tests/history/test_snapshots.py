"""Snapshot rows go into the partitioned table by COPY and come back the same."""

from datetime import date

import numpy as np
import pytest
from django.db import connection, transaction

import scoring
from history import snapshots
from history.models import Snapshot
from history.snapshots import SnapshotRows, snapshot_load, snapshot_rows_write

pytestmark = pytest.mark.django_db(transaction=True)


def rows(ids: list[int], dpd: list[int]) -> SnapshotRows:
    n = len(ids)
    signals = np.arange(n * len(scoring.INPUT_SIGNALS), dtype=np.float64).reshape(n, -1) / 7
    signals[:, scoring.INPUT_SIGNALS.index("days_past_due")] = dpd
    return SnapshotRows(
        account_id=np.asarray(ids),
        segment=np.full(n, 2),
        status_before=np.zeros(n),
        limit_before=np.full(n, 1_234_567_89),
        good_cycles=np.arange(n),
        in_cooldown=np.asarray([i % 2 == 0 for i in range(n)]),
        days_since_restoration=np.full(n, scoring.NEVER_RESTORED),
        days_past_due=np.asarray(dpd),
        score=np.full(n, 612),
        band=np.full(n, 3),
        policy_version=np.full(n, 1),
        action=np.full(n, scoring.ACTION_CODES[scoring.REDUCE]),
        limit_after=np.full(n, 900_000),
        status_after=np.asarray([2 if d >= 90 else 0 for d in dpd]),
        signals=signals,
    )


def taken(day: date, written: SnapshotRows) -> None:
    with transaction.atomic():
        snapshots.partition_ensure(day)
        Snapshot.objects.create(taken_on=day, policy_version=1, state="complete")
        snapshot_rows_write(day, written)


def test_rows_come_back_as_written_into_the_months_partition():
    written = rows([3, 1, 2], [0, 40, 0])
    taken(date(2026, 3, 1), written)
    back = snapshot_load(date(2026, 3, 1))
    order = np.argsort(written.account_id)
    for name in ("account_id", "limit_before", "in_cooldown", "score", "action", "status_after"):
        assert getattr(back, name).tolist() == getattr(written, name)[order].tolist(), name
    assert np.array_equal(back.signals, written.signals[order])
    assert back.limit_before[0] == 123456789  # cents, unchanged
    # Other partitions may exist: a run in a transactional test commits its month's.
    assert ("history_accountsnapshot_p202603", date(2026, 3, 1)) in snapshots.partitions()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM history_accountsnapshot_p202603")
        assert cursor.fetchone()[0] == 3
    assert len(snapshot_load(date(2026, 3, 1), first_id=2, last_id=3)) == 2


def test_outcomes_are_the_worst_later_days_past_due_within_the_window():
    taken(date(2026, 1, 1), rows([1, 2, 3], [0, 0, 0]))
    taken(date(2026, 2, 1), rows([1, 2, 3], [35, 0, 0]))
    taken(date(2026, 4, 1), rows([1, 2, 3], [0, 95, 0]))
    taken(date(2026, 9, 1), rows([1, 2, 3], [0, 0, 120]))
    three = snapshots.outcomes_after(date(2026, 1, 1), 3)
    assert three.account_id.tolist() == [1, 2, 3]
    assert three.worst_dpd.tolist() == [35, 95, 0]
    assert three.closed.tolist() == [False, True, False]
    twelve = snapshots.outcomes_after(date(2026, 1, 1), 12)
    assert twelve.worst_dpd.tolist() == [35, 95, 120]

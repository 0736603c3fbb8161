"""A snapshot's life beside its portfolio run, and the partitions' retention
(docs/architecture.md, "Snapshots in a run").

A portfolio run (decisions) calls these with plain values: history sits below
decisions and knows nothing of runs.

- `snapshot_begin` when the run is created: whether it writes a snapshot, under
  the cadence; the Snapshot row (state writing) and the month's partition.
- `snapshot_writing` in each chunk's transaction: the day to COPY the rows under.
- `snapshot_complete` when every chunk is scored: the merged stats, complete.
- `snapshot_discard` when a person discards the run.
- `partitions_maintain` daily: next month's partition ahead, old ones dropped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from history.models import Backtest, Snapshot
from history.snapshots import month_start, next_month, partition_ensure, partitions

logger = logging.getLogger(__name__)

MONTHLY, EVERY_RUN = "monthly", "every-run"
CADENCES = (MONTHLY, EVERY_RUN)
# How long dropping a partition may wait for its lock on the snapshot table; beyond
# that the drop fails and the next day's task tries again.
DROP_LOCK_WAIT_SECONDS = 5


def snapshot_due(*, day: date, cadence: str) -> bool:
    """Whether a portfolio run started on `day` writes a snapshot: every run (one a
    day), or under "monthly" the first while the month has no complete snapshot."""
    if cadence not in CADENCES:
        raise ValueError(f"unknown snapshot cadence {cadence!r}")
    if Snapshot.objects.filter(taken_on=day).exists():
        return False  # one a day (taken_on is unique), whatever became of it
    if cadence == EVERY_RUN:
        return True
    return not Snapshot.objects.filter(
        state=Snapshot.State.COMPLETE,
        taken_on__gte=month_start(day),
        taken_on__lt=next_month(day),
    ).exists()


def snapshot_begin(
    *,
    run_id: int,
    day: date,
    cadence: str,
    policy_version: int,
    candidate_version: int | None,
    rollout_share: int,
) -> Snapshot | None:
    """The snapshot a portfolio run starting now writes, or None when it writes none.

    Called in the transaction that creates the run. A snapshot left being written by
    an earlier run (that run stopped and was not taken up again) is given up: this
    one replaces it. Race-free: taken_on and run_id are unique, so of two runs
    starting at once one gets the day and the other writes none."""
    if not snapshot_due(day=day, cadence=cadence):
        return None
    try:
        with transaction.atomic():
            partition_ensure(day)
            Snapshot.objects.filter(state=Snapshot.State.WRITING).exclude(run_id=run_id).update(
                state=Snapshot.State.DISCARDED
            )
            return Snapshot.objects.create(
                taken_on=day,
                run_id=run_id,
                policy_version=policy_version,
                candidate_version=candidate_version,
                rollout_share=rollout_share if candidate_version is not None else 0,
                state=Snapshot.State.WRITING,
            )
    except IntegrityError:
        return None  # another run took the day at the same moment


def snapshot_writing(*, run_id: int) -> date | None:
    """The day under which this run's chunks write their rows, while its snapshot is
    being written; None when it writes none (or it was given up)."""
    return (
        Snapshot.objects.filter(run_id=run_id, state=Snapshot.State.WRITING)
        .values_list("taken_on", flat=True)
        .first()
    )


def snapshot_of_run(*, run_id: int) -> Snapshot | None:
    return Snapshot.objects.filter(run_id=run_id).first()


def snapshot_complete(*, run_id: int, stats: dict[str, Any]) -> Snapshot | None:
    """Complete the run's snapshot with the stats merged from its chunks (every chunk
    scored); None when the run writes none. Idempotent."""
    with transaction.atomic():
        snapshot = (
            Snapshot.objects.select_for_update()
            .filter(run_id=run_id, state=Snapshot.State.WRITING)
            .first()
        )
        if snapshot is None:
            return None
        snapshot.stats = stats
        snapshot.accounts = int(stats.get("accounts", 0))
        snapshot.state = Snapshot.State.COMPLETE
        snapshot.completed_at = timezone.now()
        snapshot.save(update_fields=["stats", "accounts", "state", "completed_at"])
    return snapshot


def snapshot_forget(*, run_id: int) -> None:
    """The run was never started (the queue was away): its empty snapshot goes, and
    the day is free again."""
    Snapshot.objects.filter(run_id=run_id, state=Snapshot.State.WRITING).delete()


def snapshot_discard(*, run_id: int) -> None:
    """The run was discarded: its snapshot is kept but read by nothing."""
    Snapshot.objects.filter(run_id=run_id).exclude(state=Snapshot.State.DISCARDED).update(
        state=Snapshot.State.DISCARDED
    )


# --------------------------------------------------------------------------
# Retention
# --------------------------------------------------------------------------


@dataclass
class Maintained:
    """What the daily partition task did."""

    created: list[date] = field(default_factory=list)
    dropped: list[date] = field(default_factory=list)
    kept: list[date] = field(default_factory=list)  # past retention, but back-tested


def retention_cutoff(*, today: date, months: int) -> date:
    """The first month kept: partitions of months before it are dropped."""
    index = today.year * 12 + today.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def partitions_maintain(*, months: int, now: datetime | None = None) -> Maintained:
    """This month's and next month's partitions made; every month older than `months`
    months dropped whole with its snapshots, unless a back-test points at one of them
    (its rows are what the back-test replayed: the month is kept, and logged)."""
    today = timezone.localdate(now)
    done = Maintained()
    for day in (today, next_month(today)):
        with transaction.atomic():
            if partition_ensure(day):
                done.created.append(month_start(day))
    cutoff = retention_cutoff(today=today, months=months)
    for _name, month in partitions():
        if month >= cutoff:
            continue
        in_month = Snapshot.objects.filter(taken_on__gte=month, taken_on__lt=next_month(month))
        if Backtest.objects.filter(snapshot__in=in_month).exists():
            logger.info("snapshot partition of %s kept: a back-test replayed it", month)
            done.kept.append(month)
            continue
        with transaction.atomic():
            in_month.delete()  # their drift alerts go with them
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT history_partition_drop(%s, make_interval(secs => %s))",
                    [month, DROP_LOCK_WAIT_SECONDS],
                )
        done.dropped.append(month)
    return done

"""Re-score requests: accounts whose signals changed wait here and are re-scored in
batches, one single-account-style run per batch (docs/architecture.md, "Signals")."""

from __future__ import annotations

import contextlib
import time
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone
from redis.exceptions import RedisError

import scoring
from accounts.book import load_accounts
from config import queue
from decisions.chunks import (
    apply_arrays,
    compiled_rules,
    lock_accounts,
    scored_arrays,
    slot_counts,
    tally,
    versions_of,
)
from decisions.models import RescoreRequest, RescoreRun
from decisions.selectors import require_active_policy
from policies import selectors as policy_selectors

RESCORE_SCHEDULED_KEY = "limitdesk:rescore-requested"
RESCORE_SCHEDULED_SECONDS = 60  # and the beat looks every minute besides
# One task takes batches for this long at most, then queues its successor: under a
# steady feed it must not hold a worker away from runs and other tasks for good.
RESCORE_TASK_SECONDS = 20
# Batches of signal re-scores are taken one at a time (an advisory lock): a second
# task finds it held and leaves the work to the first, which always looks again.
RESCORE_BATCH_LOCK = 7_310_001


def rescore_requests_schedule() -> None:
    """Queue the task that carries out the requests, unless one is queued already and
    has not started taking them."""
    try:
        fresh = cache.add(RESCORE_SCHEDULED_KEY, 1, RESCORE_SCHEDULED_SECONDS)
    except RedisError:
        fresh = True  # without the cache, one task per transaction
    if fresh:
        queue.send("decisions.tasks.rescore_requested")


def rescore_requested(
    *, batch: int | None = None, seconds: float = RESCORE_TASK_SECONDS
) -> list[int]:
    """Carry out the waiting re-score requests, a batch per run, until none is left
    (or another task is taking them, or `seconds` are up: then a successor is
    queued). Returns the runs' ids."""
    # From here on a new request queues a new task: none is missed.
    with contextlib.suppress(RedisError):
        cache.delete(RESCORE_SCHEDULED_KEY)
    deadline = time.monotonic() + seconds
    done = []
    while (run := rescore_requested_batch(limit=batch or settings.RESCORE_CHUNK_SIZE)) is not None:
        done.append(run.pk)
        if time.monotonic() > deadline:
            rescore_requests_schedule()
            break
    return done


_TAKE_REQUESTS_SQL = f"""
    WITH taken AS (
        SELECT id, account_id FROM {RescoreRequest._meta.db_table}
        ORDER BY requested_at, id LIMIT %s FOR UPDATE SKIP LOCKED
    ), same_accounts AS (
        SELECT id FROM {RescoreRequest._meta.db_table}
        WHERE account_id IN (SELECT account_id FROM taken) FOR UPDATE SKIP LOCKED
    )
    DELETE FROM {RescoreRequest._meta.db_table}
    WHERE id IN (SELECT id FROM taken UNION SELECT id FROM same_accounts)
    RETURNING account_id
"""  # noqa: S608 - the table name comes from the model


def rescore_requested_batch(*, limit: int) -> RescoreRun | None:
    """Re-score the accounts of the oldest waiting requests (at most `limit`) in one
    transaction: a signal run, scored and applied at once; None when none waits.

    The requests are deleted in the transaction that writes the decisions, so a
    worker that dies leaves them for the next task. Another task skips the
    requests this one holds. No circuit breaker: each account is re-scored on its
    own news, as a single-account re-score is."""
    with transaction.atomic(durable=True):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [RESCORE_BATCH_LOCK])
            if not cursor.fetchone()[0]:
                return None  # another task is taking batches, and looks again after each
            cursor.execute(_TAKE_REQUESTS_SQL, [limit])
            ids = sorted({row[0] for row in cursor.fetchall()})
        if not ids:
            return None
        # Locked before they are read: no writer can move them between the scoring
        # and the writing, so no request is used up by a skipped account.
        lock_accounts(ids)
        active = require_active_policy()
        candidate = policy_selectors.version_in_rollout()
        now = timezone.now()
        run = RescoreRun.objects.create(
            trigger=RescoreRun.Trigger.SIGNAL,
            policy=active,
            candidate=candidate,
            rollout_share=candidate.rollout_share if candidate else 0,
            state=RescoreRun.State.APPLYING,
            compute_started_at=now,
            apply_started_at=now,
        )
        compiled, other = compiled_rules(run)
        bands = [band.name for band in compiled.rules.bands]
        data = load_accounts(ids, bands, buckets=other is not None)
        # Between cycles: bad news cuts at once; raises wait for the nightly run.
        result, slot = scoring.score_with_rollout(
            compiled, other, run.rollout_share, data, cycle=False
        )
        scored = timezone.now()
        applied = apply_arrays(run, scored_arrays(data, result, slot))
        active_before = data.status == scoring.STATUS_CODES["active"]
        RescoreRun.objects.filter(pk=run.pk).update(
            **tally(result),
            state=RescoreRun.State.DONE,
            accounts_total=len(data.ids),
            accounts_done=len(data.ids),
            skipped=applied.skipped,
            held_cuts=applied.held,
            decisions_written=applied.written,
            exposure_change=applied.exposure_change,
            by_policy=slot_counts(result, slot, versions_of(run)),
            exposure_before=Decimal(int(data.limit[active_before].sum())) / 100,
            compute_finished_at=scored,
            finished_at=timezone.now(),
        )
    run.refresh_from_db()
    return run

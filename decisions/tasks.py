"""Celery tasks: thin, they take ids and call a service. All are idempotent."""

from __future__ import annotations

import socket
from collections.abc import Callable
from datetime import datetime, timedelta

import psycopg
from celery import Task, shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from config import metrics
from decisions import chunks, errors, rescore_requests, runs, services


@shared_task(bind=True)
def record_heartbeat(self, source: str, requested_at: str | None = None) -> int:  # type: ignore[no-untyped-def]
    beat = services.heartbeat_record(
        request_id=str(self.request.id),
        source=source,
        worker=self.request.hostname or socket.gethostname(),
        requested_at=datetime.fromisoformat(requested_at) if requested_at else timezone.now(),
    )
    return beat.pk


# A database error that a moment later may not recur: a connection terminated or
# lost in a restart, a lock not granted in time. The chunk's transaction rolled back
# whole, so the task is sent again, after 2, 4, 8, 16 and 32 s.
TRANSIENT_DATABASE_ERRORS = (OperationalError, InterfaceError, psycopg.OperationalError)
CHUNK_RETRIES = 5


def _chunk_step(task: Task, step: Callable[..., bool], run_id: int, index: int, phase: str) -> bool:
    try:
        with metrics.CHUNK_SECONDS.labels(phase).time():
            return step(
                run_id=run_id, index=index, worker=task.request.hostname or socket.gethostname()
            )
    except Exception as error:
        retries_left = not task.request.called_directly and task.request.retries < CHUNK_RETRIES
        if isinstance(error, TRANSIENT_DATABASE_ERRORS) and retries_left:
            raise task.retry(exc=error, countdown=2 ** (task.request.retries + 1)) from error
        # A bug, bad data or a fault that outlasted the retries must show on the run,
        # not leave it "computing" forever (docs/architecture.md, "Runs"). A connection
        # that died was dropped when its transaction could not roll back; the pool
        # checks the one it hands out next.
        runs.run_fail(run_id=run_id, error=error, phase=phase, chunk=index)
        raise


@shared_task(bind=True)
def compute_chunk(self: Task, run_id: int, index: int) -> bool:
    return _chunk_step(self, chunks.run_compute_chunk, run_id, index, "compute")


@shared_task(bind=True)
def apply_chunk(self: Task, run_id: int, index: int) -> bool:
    return _chunk_step(self, chunks.run_apply_chunk, run_id, index, "apply")


@shared_task
def nightly_rescore() -> int | None:
    try:
        return runs.run_start(trigger="schedule").pk
    except errors.DecisionError:
        return None  # a run is already going; tomorrow night then


@shared_task
def rescore_requested() -> list[int]:
    return rescore_requests.rescore_requested()


@shared_task
def resume_stalled_runs() -> list[int]:
    return runs.runs_resume_stalled(quiet_for=timedelta(seconds=settings.RESCORE_STALL_SECONDS))


@shared_task
def revert_run(run_id: int, actor_id: int, justification: str) -> int:
    from django.contrib.auth import get_user_model

    actor = get_user_model().objects.get(pk=actor_id)
    try:
        return runs.run_revert(
            run_id=run_id, actor=actor, justification=justification, queued=True
        ).pk
    except Exception as error:
        runs.run_revert_failed(run_id=run_id, error=f"{type(error).__name__}: {error}")
        raise


@shared_task
def audit_checkpoint() -> str:
    """Daily (beat): a signed checkpoint of every chain head, in a file outside the
    database (docs/architecture.md, "Who can rewrite the audit trail")."""
    return str(services.audit_checkpoint_write().path)


@shared_task
def ensure_decision_partitions() -> list[str]:
    """Daily (beat): next month's partition of the decisions made ahead."""
    return [month.isoformat() for month in services.decision_partitions_ensure()]

"""Celery tasks: thin, they take ids and call a service. All are idempotent."""

from __future__ import annotations

import socket
from collections.abc import Callable
from datetime import datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from decisions import runs, services


@shared_task(bind=True)
def record_heartbeat(self, source: str, requested_at: str | None = None) -> int:  # type: ignore[no-untyped-def]
    beat = services.heartbeat_record(
        request_id=str(self.request.id),
        source=source,
        worker=self.request.hostname or socket.gethostname(),
        requested_at=datetime.fromisoformat(requested_at) if requested_at else timezone.now(),
    )
    return beat.pk


def _failing_run_is_recorded(
    step: Callable[..., bool], run_id: int, index: int, phase: str
) -> bool:
    try:
        return step(run_id=run_id, index=index)
    except Exception as error:
        # A bug or bad data must show on the run, not leave it "computing" forever.
        runs.run_fail(run_id=run_id, error=error, phase=phase, chunk=index)
        raise


@shared_task
def compute_chunk(run_id: int, index: int) -> bool:
    return _failing_run_is_recorded(runs.run_compute_chunk, run_id, index, "compute")


@shared_task
def apply_chunk(run_id: int, index: int) -> bool:
    return _failing_run_is_recorded(runs.run_apply_chunk, run_id, index, "apply")


@shared_task
def nightly_rescore() -> int | None:
    try:
        return runs.run_start(trigger="schedule").pk
    except services.DecisionError:
        return None  # a run is already going; tomorrow night then


@shared_task
def rescore_requested() -> list[int]:
    return runs.rescore_requested()


@shared_task
def resume_stalled_runs() -> list[int]:
    return runs.runs_resume_stalled(quiet_for=timedelta(seconds=settings.RESCORE_STALL_SECONDS))


@shared_task
def revert_run(run_id: int, actor_id: int, justification: str) -> int:
    from django.contrib.auth import get_user_model

    actor = get_user_model().objects.get(pk=actor_id)
    try:
        return runs.run_revert(run_id=run_id, actor=actor, justification=justification).pk
    except Exception as error:
        runs.run_revert_failed(run_id=run_id, error=f"{type(error).__name__}: {error}")
        raise

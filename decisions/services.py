"""Writes of the decisions app. Each runs in one transaction."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from decisions.models import WorkerHeartbeat

HEARTBEATS_KEPT = timedelta(days=7)


def heartbeat_record(
    *, request_id: str, source: str, worker: str, requested_at: datetime
) -> WorkerHeartbeat:
    """Record that a worker ran a heartbeat task; a repeated request id changes nothing."""
    with transaction.atomic(durable=True):
        beat, _created = WorkerHeartbeat.objects.get_or_create(
            request_id=request_id,
            defaults={"source": source, "worker": worker, "requested_at": requested_at},
        )
        WorkerHeartbeat.objects.filter(recorded_at__lt=timezone.now() - HEARTBEATS_KEPT).delete()
    return beat

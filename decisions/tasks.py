"""Celery tasks: thin, they take plain values and call a service."""

from __future__ import annotations

import socket
from datetime import datetime

from celery import shared_task
from django.utils import timezone

from decisions import services


@shared_task(bind=True)
def record_heartbeat(self, source: str, requested_at: str | None = None) -> int:  # type: ignore[no-untyped-def]
    beat = services.heartbeat_record(
        request_id=str(self.request.id),
        source=source,
        worker=self.request.hostname or socket.gethostname(),
        requested_at=datetime.fromisoformat(requested_at) if requested_at else timezone.now(),
    )
    return beat.pk

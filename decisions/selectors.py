"""Reads of the decisions app for pages."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from decisions.models import WorkerHeartbeat


@dataclass(frozen=True)
class WorkerStatus:
    last: WorkerHeartbeat | None
    healthy: bool


def worker_status() -> WorkerStatus:
    """The latest heartbeat; healthy when it is newer than two beat intervals."""
    last = WorkerHeartbeat.objects.order_by("-recorded_at").first()
    healthy = (
        last is not None and last.recorded_at >= timezone.now() - 2 * settings.HEARTBEAT_INTERVAL
    )
    return WorkerStatus(last=last, healthy=healthy)

"""Celery tasks of retention: thin, a service each."""

from __future__ import annotations

from celery import shared_task

from retention import services
from retention.models import RetentionPrune


@shared_task
def prune_retention() -> dict[str, int]:
    """Daily: every category's records past their period removed in batches
    (retention.services.retention_prune); category → records removed."""
    done = services.retention_prune(trigger=RetentionPrune.Trigger.BEAT)
    return {item.category: item.removed for item in done}

"""Celery tasks of the evidence packs: thin, a service each."""

from __future__ import annotations

from celery import shared_task

from compliance import services


@shared_task
def build_evidence_pack(pack_id: int) -> bool:
    """Build a queued evidence pack (compliance.services.pack_build)."""
    try:
        return services.pack_build(pack_id=pack_id)
    except Exception as error:
        # A failure shows on the pack instead of leaving it building forever.
        services.pack_fail(pack_id=pack_id, error=error)
        raise

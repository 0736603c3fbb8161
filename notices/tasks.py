"""Celery tasks of the customer notices: thin, a service each."""

from __future__ import annotations

from celery import shared_task

from notices import services


@shared_task
def deliver_notices() -> dict[str, int]:
    """Deliver the notices that are due (notices.services.deliver_due); by beat every
    few seconds, when a portfolio run finishes and when a person retries a dead letter."""
    tally = services.deliver_due()
    return {"delivered": tally.delivered, "retrying": tally.retrying, "dead": tally.dead}

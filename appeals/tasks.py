"""Celery tasks of the appeals app: thin, they call a service."""

from __future__ import annotations

from celery import shared_task

from appeals import services


@shared_task
def flag_sla_breaches() -> int:
    return services.appeals_flag_sla_breaches()

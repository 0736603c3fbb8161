"""Celery tasks of the accounts app: thin, they call a service."""

from __future__ import annotations

from celery import shared_task

from accounts import services


@shared_task
def refresh_portfolio_figures() -> int:
    return services.portfolio_figures_refresh().accounts

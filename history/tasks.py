"""Celery tasks of the portfolio history: thin, a service each."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from history import backtests, drift, performance, services


@shared_task
def derive_outcomes() -> int:
    """Derive the outcomes of every snapshot that needs it (history.performance)."""
    return len(performance.derive_outcomes())


@shared_task
def check_drift() -> int:
    """Raise the drift alerts the latest snapshot calls for (history.drift)."""
    return len(drift.check_drift())


@shared_task
def run_backtest(backtest_id: int) -> bool:
    """Replay a back-test (history.backtests)."""
    try:
        return backtests.backtest_run(backtest_id=backtest_id)
    except Exception as error:
        # A failure shows on the back-test instead of leaving it running forever.
        backtests.backtest_fail(backtest_id=backtest_id, error=error)
        raise


@shared_task
def maintain_partitions() -> dict[str, list[str]]:
    """Daily: next month's snapshot partition made ahead, those past
    PORTFOLIO_HISTORY_MONTHS dropped (history.services.partitions_maintain)."""
    done = services.partitions_maintain(months=settings.PORTFOLIO_HISTORY_MONTHS)
    return {
        "created": [str(day) for day in done.created],
        "dropped": [str(day) for day in done.dropped],
        "kept": [str(day) for day in done.kept],
    }

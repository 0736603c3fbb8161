"""A portfolio run's cuts reach the receiver: the run, once done, sends the outbox."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from decisions import tasks
from decisions.models import Notice, RescoreRun
from tests.base import make_account, make_signals, open_the_breaker

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_the_cuts_of_a_run_are_delivered_when_it_finishes(receiver, worker_factory):
    open_the_breaker()
    shoppers = []
    for _ in range(2):
        account = make_account(current_limit=Decimal("8000.00"), score=640, band="C")
        make_signals(
            account, credit_score=640, lender_applications_30d=14, lender_applications_90d=17
        )
        shoppers.append(account)
    make_signals(make_account())  # healthy: no cut, no notice
    worker_factory()  # after `receiver`: the worker posts to it; no beat runs here
    run_id = tasks.nightly_rescore()
    assert run_id is not None
    run = RescoreRun.objects.get(pk=run_id)

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        delivered = Notice.objects.filter(state=Notice.State.DELIVERED).count()
        if delivered == 2:
            break
        time.sleep(0.2)
    run.refresh_from_db()
    assert run.state == RescoreRun.State.DONE and run.reduced == 2
    notices = Notice.objects.filter(account__in=shoppers)
    assert sorted(notices.values_list("state", flat=True)) == ["delivered", "delivered"]
    keys = sorted(record["idempotency_key"] for record in receiver.records())
    assert keys == sorted(notices.values_list("idempotency_key", flat=True))

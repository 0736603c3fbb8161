"""Redis stopped and started again under the real web process and worker: the buttons
that queue work answer within a second or two that nothing was started, leave no run
behind for the watchdog to start later, and work again once Redis is back."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from accounts.models import Account
from decisions.models import RescoreRun, WorkerHeartbeat
from tests.base import make_user, open_the_breaker
from tests.faults import invariants
from tests.faults.conftest import Person, text_of, wait_until

pytestmark = [pytest.mark.fault, pytest.mark.django_db(transaction=True)]


def test_with_redis_down_nothing_is_started_and_everything_works_once_it_is_back(
    own_redis, processes, settings
):
    call_command("seed_demo", "--accounts", "600", "--seed", "5", verbosity=0)
    open_the_breaker()
    make_user("lin", "Risk analyst")
    before = invariants.book()
    stack = processes(own_redis.url)
    url = stack.web()
    stack.worker()
    lin = Person(url, "lin")
    account = Account.objects.order_by("pk").first()
    assert account is not None

    own_redis.stop()
    started = lin.post("/runs/start/", {"confirm": "1"})
    assert "The task queue (Redis) is unavailable: nothing was started." in text_of(started)
    rescored = lin.post(f"/accounts/{account.reference}/rescore/", {})
    assert "The task queue (Redis) is unavailable: nothing was started." in text_of(rescored)
    checked = lin.post("/worker-status/check/", {})
    assert "cannot be reached" in text_of(checked)
    for method, path, status, seconds in lin.answers[-3:]:
        assert status == 200, (method, path, status)
        assert seconds < 3, f"{method} {path} took {seconds:.1f} s with Redis down"
    assert not RescoreRun.objects.exists(), "a run row was left for the watchdog to start"

    own_redis.start()
    started = lin.post("/runs/start/", {"confirm": "1"})
    run = RescoreRun.objects.get()
    assert f"Run #{run.pk} started." in text_of(started)
    wait_until(lambda: RescoreRun.objects.get(pk=run.pk).state == "done", 120, 0.2)
    lin.post("/worker-status/check/", {})
    wait_until(lambda: WorkerHeartbeat.objects.filter(source="button").exists(), 60, 0.2)

    assert lin.server_errors() == []
    assert stack.server_errors() == [], stack.log("web")[-6000:]
    invariants.check(before)

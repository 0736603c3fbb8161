"""A run spread over two worker processes named as two hosts (docs/architecture.md,
"Runs"): each chunk scored once and written once, whoever takes it."""

from __future__ import annotations

import socket
import time

import pytest
import redis
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db.models import Count

from accounts import roles
from config import queue
from config.celery import app
from decisions import runs
from decisions.audit_trail import audit_chain_report
from decisions.models import LimitDecision, RescoreRun, RunChunk
from tests.base import ensure_roles, make_user, open_the_breaker
from tests.faults import invariants

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
HOSTS = ("worker-a", "worker-b")


def wait_until(condition, seconds: float = 120.0, step: float = 0.05) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(step)
    raise AssertionError(f"not true after {seconds} s")


def answering() -> set[str]:
    return {name for reply in app.control.ping(timeout=1.0) or [] for name in reply}


def drained() -> bool:
    """No message waits in the queue and no worker is working on one."""
    if redis.Redis.from_url(django_settings.REDIS_URL).llen("celery"):
        return False
    active = app.control.inspect(timeout=1.0).active()
    return active is not None and not any(active.values())


def test_two_workers_share_a_run_and_no_chunk_is_done_twice(worker_factory, client, settings):
    ensure_roles()
    settings.RESCORE_CHUNK_SIZE = 100
    call_command("seed_demo", "--accounts", "4000", "--seed", "5", verbosity=0)
    open_the_breaker()
    before = invariants.book()
    for host in HOSTS:
        worker_factory(host)
    names = {f"{host}@{socket.gethostname()}" for host in HOSTS}
    wait_until(lambda: names <= answering(), 60, 0.5)

    run = runs.run_start(trigger="button")
    assert run.chunks_total >= 40
    # Every scoring task once more, as a message redelivered after a worker's loss is.
    for index in range(run.chunks_total):
        queue.send("decisions.tasks.compute_chunk", run.pk, index)
    wait_until(lambda: RescoreRun.objects.get(pk=run.pk).state == "done")
    # And every writing task again after the end: each finds its chunk written.
    for index in range(run.chunks_total):
        queue.send("decisions.tasks.apply_chunk", run.pk, index)
    wait_until(drained, 60, 0.5)  # the duplicates were taken and found done

    run.refresh_from_db()
    assert run.accounts_done == run.accounts_total  # no chunk counted twice
    chunks = RunChunk.objects.filter(run=run)
    assert set(chunks.values_list("computed_by", flat=True)) == names  # both worked
    assert set(chunks.values_list("applied_by", flat=True)) <= names
    assert not chunks.filter(applied_by="").exists()
    decisions = LimitDecision.objects.filter(run=run)
    assert decisions.count() == run.decisions_written > 0
    assert not decisions.values("account").annotate(n=Count("id")).filter(n__gt=1).exists()
    assert audit_chain_report().broken == []
    invariants.check(before)

    # The run page says who did the work.
    client.force_login(make_user("alice-w", roles.RISK_ANALYST))
    page = client.get(f"/runs/{run.pk}/", secure=True).content.decode()
    for name in names:
        scored = chunks.filter(computed_by=name).count()
        assert f"{name}: {scored} chunk{'s' if scored != 1 else ''} scored" in page

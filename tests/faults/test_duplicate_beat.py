"""Three `celery beat` processes: one sends, the others stand by and take over when it
dies; and however runs are started, at most one portfolio run moves at a time."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import psycopg
import pytest
import redis
from django.db import IntegrityError, connection, transaction

from decisions import runs
from decisions.errors import DecisionError
from decisions.models import RescoreRun
from policies.models import Policy
from tests.base import make_account, make_signals
from tests.faults import invariants
from tests.faults.conftest import database_url_for_processes, wait_until

pytestmark = [pytest.mark.fault, pytest.mark.django_db(transaction=True)]

BEAT_APPLICATION = "limitdesk beat "


def heartbeats_sent(url: str) -> int:
    """Heartbeat tasks waiting in the queue (no worker takes them in this test)."""
    messages = redis.Redis.from_url(url).lrange("celery", 0, -1)
    return sum(
        json.loads(m)["headers"]["task"] == "decisions.tasks.record_heartbeat" for m in messages
    )


def active_beat_pid() -> int | None:
    """The process holding the scheduler's lock, by the name its connection carries."""
    with psycopg.connect(database_url_for_processes()) as conn:
        row = conn.execute(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
            "WHERE l.locktype = 'advisory' AND l.granted AND a.application_name LIKE %s "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            [BEAT_APPLICATION + "%"],
        ).fetchone()
    return int(row[0].removeprefix(BEAT_APPLICATION)) if row else None


def test_three_beats_send_each_periodic_task_once_and_a_standby_takes_over(own_redis, processes):
    stack = processes(own_redis.url)
    beats = [stack.beat(f"beat{i}", HEARTBEAT_SECONDS="1") for i in range(3)]
    wait_until(lambda: heartbeats_sent(own_redis.url) >= 2, 60, 0.2)
    first = heartbeats_sent(own_redis.url)
    time.sleep(8)
    sent = heartbeats_sent(own_redis.url) - first
    assert 5 <= sent <= 10, f"{sent} heartbeats in 8 s from three beats: one should send"

    holder = active_beat_pid()
    assert holder is not None and holder in {beat.pid for beat in beats}
    os.killpg(holder, signal.SIGKILL)  # the active scheduler's host dies
    wait_until(lambda: active_beat_pid() not in (None, holder), 30, 0.2)
    first = heartbeats_sent(own_redis.url)
    time.sleep(8)
    sent = heartbeats_sent(own_redis.url) - first
    assert 5 <= sent <= 10, f"{sent} heartbeats in 8 s after the takeover"
    assert "another scheduler is active; this one stands by" in "".join(
        stack.log(f"beat{i}") for i in range(3)
    )


def test_the_database_lets_one_portfolio_run_move_at_a_time():
    make_signals(make_account())
    before = invariants.book()
    policy = Policy.objects.get(state="active")
    RescoreRun.objects.create(trigger="schedule", policy=policy, state="computing")
    with pytest.raises(IntegrityError, match="one_moving_portfolio_run"), transaction.atomic():
        RescoreRun.objects.create(trigger="button", policy=policy, state="queued")
    # A single account's re-score and the signal runs are not portfolio runs.
    account_run = RescoreRun.objects.create(
        trigger="button", policy=policy, state="queued", account_id=make_account().pk
    )
    RescoreRun.objects.filter(pk=account_run.pk).update(state="done")
    RescoreRun.objects.all().update(state="done")
    invariants.check(before)


def test_two_schedulers_starting_the_nightly_run_at_once_make_one_run():
    make_signals(make_account())
    before = invariants.book()
    # The check before the insert passes for both, as when two beats fire together;
    # the database's index decides.
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def start() -> None:
        try:
            barrier.wait()
            runs.run_start(trigger="schedule")
            outcomes.append("started")
        except DecisionError as error:
            outcomes.append(str(error))
        finally:
            connection.close()

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert outcomes.count("started") == 1, outcomes
    assert set(outcomes) - {"started"} == {
        "A portfolio re-score is already running; wait for it to finish."
    }
    assert RescoreRun.objects.filter(account__isnull=True).count() == 1
    RescoreRun.objects.all().update(state="done")
    invariants.check(before)

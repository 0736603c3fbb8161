"""Pages read from the streaming replica that `make test` starts beside PostgreSQL
(config/replica.py; docs/architecture.md, "The read replica")."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any
from urllib.parse import unquote

import psycopg
import pytest
from django.contrib.auth.models import User
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.http import HttpResponse
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext

from accounts import roles
from accounts.models import Account
from config import replica
from tests.base import make_account, make_user

SITE = {"secure": True, "HTTP_HOST": "limitdesk.example"}


@pytest.fixture(autouse=True)
def _site(settings):
    settings.ALLOWED_HOSTS = ["limitdesk.example"]


@pytest.fixture
def reads_on(settings):
    """The replica's reads on, as in production, and its health asked afresh."""
    settings.DATABASE_REPLICA_READS = True
    settings.REPLICA_CHECK_SECONDS = 0
    replica.health.forget()
    yield
    replica.health.forget()


def on_replica(func):
    """What a request's view would do while its reads may use the replica."""
    token = replica._reads_replica.set(True)
    try:
        return func()
    finally:
        replica._reads_replica.reset(token)


# --------------------------------------------------------------------------
# The router and the middleware, without the replica's data
# --------------------------------------------------------------------------


def test_the_router_reads_the_replica_only_inside_a_request_that_may():
    router = replica.ReplicaRouter()
    assert router.db_for_read(Account) == "default"  # a worker, a command
    assert on_replica(lambda: router.db_for_read(Account)) == "replica"
    # Sign-in's models are read where they were written.
    assert on_replica(lambda: router.db_for_read(User)) == "default"
    assert router.db_for_write(Account) == "default"
    assert router.allow_migrate("replica", "accounts") is False
    assert router.allow_migrate("default", "accounts") is True


def test_after_a_write_the_request_reads_the_primary():
    router = replica.ReplicaRouter()

    def write_then_read() -> str:
        router.db_for_write(Account)
        return router.db_for_read(Account)

    assert on_replica(write_then_read) == "default"


@pytest.mark.django_db
def test_inside_a_transaction_on_the_primary_reads_stay_there():
    router = replica.ReplicaRouter()

    def in_transaction() -> str:
        with transaction.atomic():
            return router.db_for_read(Account)

    assert on_replica(in_transaction) == "default"


def seen_by_view(method: str, cookies: dict[str, str] | None = None) -> tuple[bool, HttpResponse]:
    seen: list[bool] = []

    def view(_request) -> HttpResponse:
        seen.append(replica.reading_from_replica())
        return HttpResponse("ok")

    request = getattr(RequestFactory(), method.lower())("/accounts/")
    request.COOKIES.update(cookies or {})
    response = replica.ReplicaReads(view)(request)
    return seen[0], response


def test_a_get_reads_the_replica_and_a_change_keeps_its_author_on_the_primary(
    settings, monkeypatch
):
    settings.DATABASE_REPLICA_READS = True
    settings.REPLICA_STICKY_SECONDS = 10
    monkeypatch.setattr(replica.health, "healthy", lambda: True)
    assert seen_by_view("GET")[0] is True
    wrote, response = seen_by_view("POST")
    assert wrote is False
    sticky = response.cookies[replica.STICKY_COOKIE]
    assert sticky["max-age"] == 10 and sticky["httponly"]
    assert int(sticky.value) > time.time() + 8
    # The same person's next pages, within the 10 s: the primary.
    assert seen_by_view("GET", {replica.STICKY_COOKIE: sticky.value})[0] is False
    # Once the time is over (or with a cookie that means nothing): the replica again.
    assert seen_by_view("GET", {replica.STICKY_COOKIE: str(int(time.time()) - 1)})[0] is True
    assert seen_by_view("GET", {replica.STICKY_COOKIE: "soon"})[0] is True


def test_a_replica_away_or_behind_sends_every_read_to_the_primary(settings, monkeypatch):
    settings.DATABASE_REPLICA_READS = True
    monkeypatch.setattr(replica.health, "healthy", lambda: False)
    assert seen_by_view("GET")[0] is False


def test_with_the_replica_reads_off_nothing_changes(settings, monkeypatch):
    settings.DATABASE_REPLICA_READS = False
    monkeypatch.setattr(replica.health, "healthy", lambda: True)
    reading, response = seen_by_view("POST")
    assert reading is False and replica.STICKY_COOKIE not in response.cookies
    assert seen_by_view("GET")[0] is False


# --------------------------------------------------------------------------
# The real replica: data streamed from the primary, pages served from it
# --------------------------------------------------------------------------

both = pytest.mark.django_db(transaction=True, databases=["default", "replica"])


def replicated(account_id: int, limit: Decimal | None = None, seconds: float = 30) -> None:
    """Wait until the replica has replayed the account (at this limit)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = Account.objects.using("replica").filter(pk=account_id).first()
        if found is not None and (limit is None or found.current_limit == limit):
            return
        time.sleep(0.05)
    raise AssertionError(f"account {account_id} never reached the replica")


def superuser_on_replica() -> psycopg.Connection:
    """The replica's server as its superuser (its own unix socket, as `make test` made it)."""
    host = unquote(connections["replica"].settings_dict["HOST"])
    return psycopg.connect(host=host, user="postgres", dbname="postgres", autocommit=True)


@both
def test_the_replica_is_a_standby_that_streams_the_primarys_writes(reads_on):
    with connections["replica"].cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery()")
        assert cursor.fetchone()[0] is True
    account = make_account(reference="LD-REPL-1")
    replicated(account.pk)
    assert replica.replica_state() == (True, "caught up")


@both
def test_a_page_is_read_from_the_replica_and_its_author_reads_their_change(client, reads_on):
    account = make_account(reference="LD-REPL-2", current_limit=Decimal("10000.00"))
    alice = make_user("alice", roles.RISK_ANALYST)
    replicated(account.pk)
    client.force_login(alice)

    with CaptureQueriesContext(connections["replica"]) as on_the_replica:
        page = client.get("/accounts/LD-REPL-2/", **SITE)
    assert page.status_code == 200 and b"LD-REPL-2" in page.content
    assert any("accounts_account" in query["sql"] for query in on_the_replica.captured_queries)

    changed = client.post(
        "/accounts/LD-REPL-2/override/",
        {
            "version": str(account.version),
            "new_limit": "7000.00",
            "justification": "Bureau check: two new loans elsewhere.",
        },
        **SITE,
    )
    assert changed.status_code in (200, 302), changed.content
    assert replica.STICKY_COOKIE in changed.cookies
    with CaptureQueriesContext(connections["replica"]) as on_the_replica:
        again = client.get("/accounts/LD-REPL-2/", **SITE)
    assert on_the_replica.captured_queries == []  # the author reads the primary
    assert "7,000.00" in again.content.decode()


@both
def test_a_replica_that_stopped_replaying_is_not_read(client, reads_on, settings):
    settings.REPLICA_MAX_LAG_SECONDS = 0
    account = make_account(reference="LD-REPL-3", current_limit=Decimal("10000.00"))
    make_user("carol", roles.APPEAL_LEAD)
    replicated(account.pk)
    with superuser_on_replica() as admin:
        admin.execute("SELECT pg_wal_replay_pause()")
        try:
            Account.objects.filter(pk=account.pk).update(current_limit=Decimal("3000.00"))
            state = replica.replica_state()
            assert state[0] is False and "behind" in state[1]
            client.force_login(User.objects.get(username="carol"))
            replica.health.forget()
            with CaptureQueriesContext(connections["replica"]) as on_the_replica:
                page = client.get("/accounts/LD-REPL-3/", **SITE)
            assert "3,000.00" in page.content.decode()  # fresh, from the primary
            assert not any(
                "accounts_account" in query["sql"] for query in on_the_replica.captured_queries
            )
        finally:
            admin.execute("SELECT pg_wal_replay_resume()")
    replicated(account.pk, Decimal("3000.00"))


@both
def test_a_replica_that_cannot_be_reached_is_reported_and_not_read(reads_on):
    standby: Any = connections["replica"]
    host = standby.settings_dict["HOST"]
    standby.close()
    if standby.pool is not None:  # the pooled connections know the old address
        standby.close_pool()
    standby.settings_dict["HOST"] = "/nonexistent-socket-dir"
    try:
        healthy, reason = replica.replica_state()
    finally:
        standby.settings_dict["HOST"] = host
        standby.close()
        if standby.pool is not None:
            standby.close_pool()
    assert healthy is False
    assert reason.startswith("the replica cannot be reached")
    assert connections[DEFAULT_DB_ALIAS].is_usable()


@both
def test_readiness_says_whether_pages_read_the_replica(client, reads_on):
    from django.utils import timezone

    from decisions.models import WorkerHeartbeat

    WorkerHeartbeat.objects.create(
        source=WorkerHeartbeat.Source.TEST,
        worker="w@test",
        requested_at=timezone.now(),
        request_id="replica-ready",
    )
    account = make_account(reference="LD-REPL-4")
    replicated(account.pk)
    body = client.get("/readyz", HTTP_HOST="10.0.0.7:8000").json()
    assert body["status"] == "ready"
    assert body["checks"]["replica"] == {"ok": True, "detail": "pages read it (caught up)"}

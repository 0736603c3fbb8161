"""/healthz and /readyz as a load balancer asks them: by the instance's address, over
plain HTTP, with no cookie (desk/probes.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import OperationalError
from django.utils import timezone

from config.stack import free_port
from decisions.models import LimitDecision, WorkerHeartbeat
from desk import probes

pytestmark = pytest.mark.django_db

PROBE = {"HTTP_HOST": "10.0.0.7:8000"}  # an address, not a name in ALLOWED_HOSTS


@pytest.fixture(autouse=True)
def _production_like(settings, monkeypatch):
    settings.SECURE_SSL_REDIRECT = True
    settings.ALLOWED_HOSTS = ["limitdesk.example"]
    monkeypatch.setattr(probes, "_migrated", False)


def beat(ago: timedelta) -> None:
    at = timezone.now() - ago
    WorkerHeartbeat.objects.create(
        source=WorkerHeartbeat.Source.TEST,
        worker="w@test",
        requested_at=at,
        recorded_at=at,
        request_id=f"probe-{at.timestamp()}",
    )


def test_healthz_answers_ok_without_redirect_session_or_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz", **PROBE)
    assert response.status_code == 200
    assert response.content == b"ok\n"
    assert response["Cache-Control"] == "no-store"
    assert not response.cookies


def test_readyz_is_ready_when_every_check_passes(client):
    beat(timedelta(seconds=5))
    response = client.get("/readyz", **PROBE)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ready"
    assert {name: check["ok"] for name, check in body["checks"].items()} == {
        "database": True,
        "redis": True,
        "migrations": True,
        "worker": True,
    }
    assert body["checks"]["worker"]["detail"].startswith("last heartbeat ")
    assert not response.cookies


@pytest.mark.parametrize(
    ("ago", "detail"),
    [
        (None, "no worker heartbeat yet"),
        (timedelta(minutes=10), "last heartbeat 600 s ago (fresh: within 120 s)"),
    ],
)
def test_readyz_is_not_ready_without_a_fresh_worker_heartbeat(client, settings, ago, detail):
    settings.HEARTBEAT_INTERVAL = timedelta(seconds=60)
    if ago is not None:
        beat(ago)
    response = client.get("/readyz", **PROBE)
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready"
    assert body["checks"]["worker"] == {"ok": False, "detail": detail}
    assert body["checks"]["database"]["ok"] and body["checks"]["redis"]["ok"]


def test_readyz_is_not_ready_when_redis_cannot_be_reached(client, settings):
    beat(timedelta(seconds=5))
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    response = client.get("/readyz", **PROBE)
    assert response.status_code == 503
    assert response.json()["checks"]["redis"] == {
        "ok": False,
        "detail": "Redis (the task queue and the cache) cannot be reached",
    }


def test_readyz_is_not_ready_with_a_migration_not_applied(client, monkeypatch):
    beat(timedelta(seconds=5))
    monkeypatch.setattr(
        probes.MigrationExecutor, "migration_plan", lambda self, targets: [("m", False)] * 2
    )
    response = client.get("/readyz", **PROBE)
    assert response.status_code == 503
    assert response.json()["checks"]["migrations"] == {"ok": False, "detail": "2 not applied"}


def test_readyz_is_not_ready_when_the_database_cannot_be_reached(client, monkeypatch):
    class Down:
        def cursor(self):
            raise OperationalError("connection refused")

    monkeypatch.setattr(probes, "connections", {"default": Down()})
    monkeypatch.setattr(
        probes.decision_selectors,
        "worker_status",
        lambda: (_ for _ in ()).throw(OperationalError("connection refused")),
    )
    response = client.get("/readyz", **PROBE)
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"] == {"ok": False, "detail": "PostgreSQL cannot be reached"}
    assert checks["worker"]["ok"] is False
    assert "connection refused" not in response.content.decode()  # no error text leaks


def test_probes_take_only_get_and_head_and_change_nothing(client):
    decisions = LimitDecision.objects.count()
    for path in ("/healthz", "/readyz"):
        response = client.post(path, **PROBE)
        assert response.status_code == 405
        assert response["Allow"] == "GET, HEAD"
        assert client.head(path, **PROBE).status_code in (200, 503)
    assert LimitDecision.objects.count() == decisions

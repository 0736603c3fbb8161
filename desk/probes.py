"""Health and readiness for load balancers (docs/architecture.md, "Health and
readiness").

`/healthz`: the process is up and answers; it reads nothing. `/readyz`: this
instance can serve: the database answers, Redis (the queue and the cache) answers,
every migration is applied, and a worker's heartbeat is fresh. Both are answered by
`ProbeMiddleware`, first in the chain, before host validation, the HTTPS redirect,
sessions and the API call log: a load balancer asks by the instance's address, over
plain HTTP, with no cookie, and must not fill the session table or the log.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import redis
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone

from config import replica
from decisions import selectors as decision_selectors
from desk import metrics

PROBE_TIMEOUT_SECONDS = 2


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def _database() -> Check:
    try:
        connection = connections[DEFAULT_DB_ALIAS]
        with transaction.atomic(using=DEFAULT_DB_ALIAS), connection.cursor() as cursor:
            # SET LOCAL lasts as long as this transaction (outside one it does nothing).
            cursor.execute(f"SET LOCAL statement_timeout = '{PROBE_TIMEOUT_SECONDS}s'")
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        return Check("database", False, "PostgreSQL cannot be reached")
    return Check("database", True, "PostgreSQL answers")


def _redis() -> Check:
    client = redis.Redis.from_url(
        settings.REDIS_URL,
        socket_connect_timeout=PROBE_TIMEOUT_SECONDS,
        socket_timeout=PROBE_TIMEOUT_SECONDS,
    )
    try:
        client.ping()
    except redis.RedisError:
        return Check("redis", False, "Redis (the task queue and the cache) cannot be reached")
    finally:
        client.close()
    return Check("redis", True, "Redis answers")


_migrated = False  # once every migration is applied, this process stops asking


def _migrations() -> Check:
    global _migrated
    if not _migrated:
        try:
            connection = connections[DEFAULT_DB_ALIAS]
            executor = MigrationExecutor(connection)
            waiting = executor.migration_plan(executor.loader.graph.leaf_nodes())
        except DatabaseError:
            return Check("migrations", False, "not known: the database cannot be reached")
        if waiting:
            return Check("migrations", False, f"{len(waiting)} not applied")
        _migrated = True
    return Check("migrations", True, "all applied")


def _worker() -> Check:
    try:
        status = decision_selectors.worker_status()
    except DatabaseError:
        return Check("worker", False, "not known: the database cannot be reached")
    if status.last is None:
        return Check("worker", False, "no worker heartbeat yet")
    age = int((timezone.now() - status.last.recorded_at).total_seconds())
    limit = int(2 * settings.HEARTBEAT_INTERVAL.total_seconds())
    if not status.healthy:
        return Check("worker", False, f"last heartbeat {age} s ago (fresh: within {limit} s)")
    return Check("worker", True, f"last heartbeat {age} s ago")


def _replica() -> Check | None:
    """Whether pages read the streaming replica now. Never fails readiness: when the
    replica is away or behind, reads go to the primary (config/replica.py)."""
    if not replica.configured():
        return None
    serving, reason = replica.replica_state()
    if serving:
        return Check("replica", True, f"pages read it ({reason})")
    return Check("replica", True, f"not read, pages read the primary: {reason}")


def readiness() -> list[Check]:
    """Every check, in order; the database's first (the others read through it)."""
    checks = [_database(), _redis(), _migrations(), _worker(), _replica()]
    return [check for check in checks if check is not None]


def healthz(request: HttpRequest) -> HttpResponse:
    """The process is up: 200, nothing read."""
    response = HttpResponse("ok\n", content_type="text/plain; charset=utf-8")
    response["Cache-Control"] = "no-store"
    return response


def readyz(request: HttpRequest) -> HttpResponse:
    """200 when every check passes, else 503; the checks as JSON either way."""
    started = time.perf_counter()
    checks = readiness()
    ready = all(check.ok for check in checks)
    response = JsonResponse(
        {
            "status": "ready" if ready else "not ready",
            "checks": {check.name: {"ok": check.ok, "detail": check.detail} for check in checks},
            "seconds": round(time.perf_counter() - started, 3),
        },
        status=200 if ready else 503,
    )
    response["Cache-Control"] = "no-store"
    return response


# Prometheus scrapes `/metrics` as a load balancer probes: by the instance's address,
# over plain HTTP, no cookie (desk/metrics.py says who may).
PROBES: dict[str, Callable[[HttpRequest], HttpResponse]] = {
    "/healthz": healthz,
    "/readyz": readyz,
    "/metrics": metrics.metrics,
}


class ProbeMiddleware:
    """Answers GET and HEAD of the probe paths before anything else runs."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        probe = PROBES.get(request.path_info)
        if probe is None:
            return self.get_response(request)
        if request.method not in ("GET", "HEAD"):
            response = HttpResponse(status=405)
            response["Allow"] = "GET, HEAD"
            return response
        return probe(request)

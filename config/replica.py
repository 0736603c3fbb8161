"""Reads of pages from a streaming replica (docs/architecture.md, "The read replica").

With a `replica` database configured (DATABASE_REPLICA_URL) and its reads on
(DATABASE_REPLICA_READS), a GET or HEAD request reads through the replica, unless:

- the person changed something a moment ago: any other method sets a cookie that
  sends their reads to the primary for REPLICA_STICKY_SECONDS (read your writes);
- the request already wrote, or reads inside a transaction on the primary (the row
  it locked or just wrote is there, not on the replica);
- the model is one of the sign-in's (sessions, users and groups, lockouts): a
  session made a moment ago must be found;
- the replica is away or behind: a process asks it at most every
  REPLICA_CHECK_SECONDS whether it has replayed what the primary has written, or
  lags by no more than REPLICA_MAX_LAG_SECONDS; when not, reads go to the primary.

Everything else (workers, beat, commands, raw SQL on `django.db.connection`) uses
the primary. Writes always do.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.http import HttpRequest, HttpResponse

logger = logging.getLogger(__name__)

REPLICA = "replica"
# Sign-in's models: read where they were written.
PRIMARY_ONLY_APPS = frozenset({"sessions", "auth", "axes", "contenttypes", "admin"})
STICKY_COOKIE = "ld_primary_until"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# Whether this request may read from the replica (False outside requests).
_reads_replica: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "reads_replica", default=False
)


def configured() -> bool:
    return REPLICA in settings.DATABASES and bool(settings.DATABASE_REPLICA_READS)


class ReplicaRouter:
    """Django's database router: the replica for a page's plain reads, else the primary."""

    def db_for_read(self, model: Any, **hints: Any) -> str:
        if not _reads_replica.get() or model._meta.app_label in PRIMARY_ONLY_APPS:
            return DEFAULT_DB_ALIAS
        if connections[DEFAULT_DB_ALIAS].in_atomic_block:
            return DEFAULT_DB_ALIAS
        return REPLICA

    def db_for_write(self, model: Any, **hints: Any) -> str:
        # From the first write on, this request reads what it wrote: the primary.
        _reads_replica.set(False)
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return True  # one database, two copies

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return db == DEFAULT_DB_ALIAS


class ReplicaHealth:
    """Whether the replica may serve reads now: asked at most every
    REPLICA_CHECK_SECONDS per process, never from inside a request's own queries."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._checked = float("-inf")
        self._healthy = False
        self.reason = "not checked yet"

    def healthy(self) -> bool:
        now = time.monotonic()
        if now - self._checked < settings.REPLICA_CHECK_SECONDS:
            return self._healthy
        with self._lock:
            if now - self._checked >= settings.REPLICA_CHECK_SECONDS:
                self._healthy, self.reason = replica_state()
                self._checked = time.monotonic()
                if not self._healthy:
                    logger.warning("Reads go to the primary: %s", self.reason)
        return self._healthy

    def forget(self) -> None:
        self._checked = float("-inf")


def replica_state() -> tuple[bool, str]:
    """(may serve, why): the replica answers, is in recovery (a standby), and has
    replayed everything the primary had written when asked, or lags by at most
    REPLICA_MAX_LAG_SECONDS."""
    try:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute("SELECT pg_current_wal_lsn()")
            primary_lsn = cursor.fetchone()[0]
        with connections[REPLICA].cursor() as cursor:
            cursor.execute(
                "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn() >= %s::pg_lsn, "
                "EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())",
                [primary_lsn],
            )
            recovering, caught_up, lag = cursor.fetchone()
    except DatabaseError as error:
        connections[REPLICA].close()
        return False, f"the replica cannot be reached ({type(error).__name__})"
    if not recovering:
        return False, "the replica database is not a standby"
    if caught_up:
        return True, "caught up"
    if lag is not None and lag <= settings.REPLICA_MAX_LAG_SECONDS:
        return True, f"{lag:.1f} s behind"
    return False, f"the replica is behind the primary ({lag or 0:.0f} s since its last replay)"


health = ReplicaHealth()


def reading_from_replica() -> bool:
    """Whether the current request's reads may go to the replica now."""
    return _reads_replica.get()


class ReplicaReads:
    """Middleware: opens the replica to a request's reads, or keeps it on the primary."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        safe = request.method in SAFE_METHODS
        use = safe and configured() and not _acted_lately(request) and health.healthy()
        token = _reads_replica.set(use)
        try:
            response = self.get_response(request)
        finally:
            _reads_replica.reset(token)
        if not safe and configured():
            # Whatever it changed, this person reads it back from the primary a while.
            seconds = settings.REPLICA_STICKY_SECONDS
            response.set_cookie(
                STICKY_COOKIE,
                str(int(time.time()) + seconds),
                max_age=seconds,
                secure=settings.SESSION_COOKIE_SECURE,
                httponly=True,
                samesite="Lax",
            )
        return response


def _acted_lately(request: HttpRequest) -> bool:
    try:
        return int(request.COOKIES.get(STICKY_COOKIE, "0")) > time.time()
    except ValueError:
        return False

"""One Celery beat sends the periodic tasks, however many are started.

A second `celery beat` (a second host, a restarted supervisor, an operator's
mistake) would send every periodic task again: two nightly runs, two of every
heartbeat. Each beat therefore holds a PostgreSQL advisory lock on a connection of
its own while it sends. A beat that does not get the lock stands by and tries again
every few seconds; when the active one stops, dies or loses its connection, the
server drops its lock and a standby takes over. See docs/architecture.md, "One
scheduler".
"""

from __future__ import annotations

import logging
import os
from typing import Any

import psycopg
from celery.beat import PersistentScheduler
from django.conf import settings
from psycopg.conninfo import make_conninfo

logger = logging.getLogger(__name__)

BEAT_LOCK = 7_310_002  # beside decisions.rescore_requests.RESCORE_BATCH_LOCK
STANDBY_SECONDS = 5.0


class SchedulerLock:
    """The advisory lock, on a connection apart from Django's (it must outlive
    every task and transaction of this process)."""

    def __init__(self) -> None:
        self.connection: psycopg.Connection[Any] | None = None
        self.holding = False

    def _connect(self) -> psycopg.Connection[Any]:
        database = settings.DATABASES["default"]
        params = {
            "dbname": database["NAME"],
            "user": database["USER"],
            "password": database["PASSWORD"],
            "host": database["HOST"],
            "port": database["PORT"],
        }
        conninfo = make_conninfo(
            "",
            **{name: str(value) for name, value in params.items() if value},
            connect_timeout="5",
            application_name=f"limitdesk beat {os.getpid()}",
        )
        return psycopg.connect(conninfo, autocommit=True)

    def held(self) -> bool:
        """True while this process holds the lock: still held on a live connection, or
        taken now. False (after closing a dead connection) otherwise."""
        try:
            if self.holding and self.connection is not None and not self.connection.closed:
                self.connection.execute("SELECT 1")  # alive, so the lock is still ours
                return True
            self.holding = False
            if self.connection is None or self.connection.closed:
                self.connection = self._connect()
            row = self.connection.execute("SELECT pg_try_advisory_lock(%s)", [BEAT_LOCK]).fetchone()
            self.holding = bool(row and row[0])
        except psycopg.Error as error:
            logger.warning("beat: the scheduler lock cannot be checked: %s", error)
            self.close()
        return self.holding

    def close(self) -> None:
        self.holding = False
        if self.connection is not None:
            self.connection.close()
            self.connection = None


class SingleScheduler(PersistentScheduler):
    """The persistent scheduler, sending only while it holds the lock."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.lock = SchedulerLock()
        self.active: bool | None = None  # not known until the first tick
        super().__init__(*args, **kwargs)

    def tick(self, *args: Any, **kwargs: Any) -> float:
        if not self.lock.held():
            if self.active is not False:
                logger.warning(
                    "beat: another scheduler is active; this one stands by and sends nothing"
                )
            self.active = False
            return STANDBY_SECONDS
        if not self.active:
            logger.info("beat: this scheduler is the active one")
            self.active = True
        interval: float = super().tick(*args, **kwargs)
        return min(interval, STANDBY_SECONDS)

    def close(self) -> None:
        super().close()
        self.lock.close()

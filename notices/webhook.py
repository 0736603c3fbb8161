"""Posting notices to the messaging service's webhook. No ORM: bytes in, outcomes out
(docs/architecture.md, "Notices: the outbox and the receiver").

Each request is signed (`X-Signature: sha256=<hex HMAC-SHA256 of the body>`) and carries
the notice's `Idempotency-Key`. A batch goes out concurrently over a small pool of
threads, each keeping its own HTTP/1.1 connection alive across the batch.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

DELIVERED, RETRY, DEAD = "delivered", "retry", "dead"
# Answers worth trying again: the service is busy, down or timed out.
RETRYABLE_STATUSES = frozenset({408, 429})


def signature(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verdict(status: int) -> str:
    """2xx delivered; 5xx, 408 and 429 worth a retry; any other answer final."""
    if 200 <= status < 300:
        return DELIVERED
    if status >= 500 or status in RETRYABLE_STATUSES:
        return RETRY
    return DEAD


def backoff_seconds(attempts: int, *, base: int, cap: int) -> int:
    """The wait after the `attempts`-th failed attempt: base, doubling, capped."""
    return int(min(cap, base * 2 ** max(0, attempts - 1)))


@dataclass(frozen=True)
class Outcome:
    verdict: str
    status: int | None = None
    error: str = ""


class Sender:
    """POSTs bodies to one URL; use `post_all` for a batch, then `close`."""

    def __init__(self, url: str, secret: str, *, concurrency: int, timeout: float) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"NOTICE_WEBHOOK_URL must be an http(s) URL, not {url!r}")
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.secret = secret
        self.timeout = timeout
        self.local = threading.local()
        self.connections: list[http.client.HTTPConnection] = []
        self.guard = threading.Lock()
        self.pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="notice")

    def _connection(self) -> http.client.HTTPConnection:
        connection: http.client.HTTPConnection | None = getattr(self.local, "connection", None)
        if connection is None:
            kind = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
            connection = kind(self.host, self.port, timeout=self.timeout)
            self.local.connection = connection
            with self.guard:
                self.connections.append(connection)
        return connection

    def _drop(self) -> None:
        connection = getattr(self.local, "connection", None)
        if connection is not None:
            connection.close()
            self.local.connection = None

    def post(self, key: str, body: bytes) -> Outcome:
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Idempotency-Key": key,
            "X-Signature": signature(body, self.secret),
        }
        # A kept-alive connection the server closed meanwhile fails at once: one more
        # try on a fresh one (the key makes a repeat harmless).
        for fresh in (False, True):
            reused = getattr(self.local, "connection", None) is not None
            try:
                connection = self._connection()
                connection.request("POST", self.path, body=body, headers=headers)
                response = connection.getresponse()
                answer = response.read()
            except TimeoutError as error:
                self._drop()
                return Outcome(RETRY, None, f"timed out: {error}")
            except (OSError, http.client.HTTPException) as error:
                self._drop()
                if reused and not fresh:
                    continue
                return Outcome(RETRY, None, f"{type(error).__name__}: {error}")
            if response.will_close:
                self._drop()
            found = verdict(response.status)
            said = (
                ""
                if found == DELIVERED
                else f"HTTP {response.status}: {answer[:300].decode('utf-8', 'replace')}"
            )
            return Outcome(found, response.status, said)
        return Outcome(RETRY, None, "no connection")  # not reached

    def post_all(self, items: Sequence[tuple[str, bytes]]) -> list[Outcome]:
        """(idempotency key, body) each; the outcomes in the same order."""
        return list(self.pool.map(lambda item: self.post(*item), items))

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        with self.guard:
            for connection in self.connections:
                connection.close()
            self.connections.clear()

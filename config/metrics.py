"""Prometheus metrics counted by the processes themselves (docs/architecture.md,
"Metrics and logs").

Web, worker and beat record into prometheus-client's metrics. Under several
processes (gunicorn's workers, Celery's pool) each writes its own files in
PROMETHEUS_MULTIPROC_DIR, which must be set before prometheus-client is imported
(scripts/serve does); `/metrics` adds them up (`desk.metrics`). Without it (one
process: the tests, `manage.py`) they live in the process's default registry.

What is read from the database or Redis when scraped (queue depth, backlogs) is
not here: `desk.metrics` reads it at each scrape, so it is right whichever host
did the work.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from datetime import datetime

from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector

# Seconds: a page is aimed at 0.05-0.2 s, a chunk at seconds, a run at minutes.
REQUEST_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
CHUNK_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
RUN_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0)

REQUESTS = Counter(
    "limitdesk_http_requests",
    "HTTP requests answered, by view (URL name), method and status.",
    ["view", "method", "status"],
)
REQUEST_SECONDS = Histogram(
    "limitdesk_http_request_duration_seconds",
    "Time to answer an HTTP request, by view (URL name).",
    ["view"],
    buckets=REQUEST_BUCKETS,
)
API_CALLS = Counter(
    "limitdesk_api_calls",
    "Calls to the integration API, by key name (none: no valid key) and status.",
    ["key", "status"],
)
CHUNK_SECONDS = Histogram(
    "limitdesk_chunk_duration_seconds",
    "Time a worker took to score (compute) or write (apply) one chunk of a run.",
    ["phase"],
    buckets=CHUNK_BUCKETS,
)
RUN_SECONDS = Histogram(
    "limitdesk_run_duration_seconds",
    "A re-scoring run from its start to its end, by trigger and how it ended.",
    ["trigger", "state"],
    buckets=RUN_BUCKETS,
)
DECISIONS = Counter(
    "limitdesk_decisions_written",
    "Limit decisions written (committed), by source and action.",
    ["source", "action"],
)


def after_commit(record: Callable[[], object]) -> None:
    """Count once the surrounding transaction commits: a rolled-back write counts nothing."""
    transaction.on_commit(record)


def decisions_written(counts: Iterable[tuple[tuple[str, str], int]]) -> None:
    """((source, action), count) of decisions written in the current transaction."""
    made = [(labels, count) for labels, count in counts if count]

    def record() -> None:
        for labels, count in made:
            DECISIONS.labels(*labels).inc(count)

    if made:
        after_commit(record)


def run_ended(*, trigger: str, state: str, started: datetime, ended: datetime) -> None:
    """A run reached an end (done, discarded, failed) in the current transaction."""
    seconds = max(0.0, (ended - started).total_seconds())
    after_commit(lambda: RUN_SECONDS.labels(trigger, state).observe(seconds))


def worker_endpoint(*, port: int, addr: str) -> None:
    """Serve this worker's figures (and its pool processes') at http://addr:port/metrics,
    from a thread of the worker's main process: a host with workers only has no web
    process for Prometheus to scrape. What the web's /metrics reads from the database
    and Redis at each scrape is not here; scrape one web process for it."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    if not directory:
        raise ImproperlyConfigured(
            "WORKER_METRICS_PORT is set but PROMETHEUS_MULTIPROC_DIR is not: the pool's "
            "processes would count where this endpoint cannot read. Set it to an empty "
            "directory of this host (scripts/serve does for make run)."
        )
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)
    start_http_server(port, addr=addr, registry=registry)

"""`/metrics` for Prometheus (docs/architecture.md, "Metrics and logs").

Two kinds of figures. Counted by the processes (config/metrics.py): requests by view
and status, API calls by key and status, chunk and run durations, decisions
written; under several processes prometheus-client adds up the files each wrote in
PROMETHEUS_MULTIPROC_DIR. Read at each scrape (here): the task queue's depth in
Redis, the re-score backlog, the runs moving, the notice backlog and the worker's
heartbeat, so they are true of the whole installation whichever host did the work.

Who may scrape: with METRICS_TOKEN set, a request with `Authorization: Bearer
<token>`; without it, requests from this machine only (the loopback address). The
figures name API keys and show volumes: they are not for the open network.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from collections.abc import Iterator

import redis
from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from config import replica
from decisions import selectors as decision_selectors
from notices import selectors as notice_selectors

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Celery's Redis transport: the list of waiting messages, the hash of taken ones.
CELERY_QUEUE = "celery"
CELERY_UNACKED = "unacked"
REDIS_TIMEOUT_SECONDS = 2


def _age(when: object) -> float:
    return max(0.0, (timezone.now() - when).total_seconds()) if when else 0.0  # type: ignore[operator]


class Backlogs(Collector):
    """What waits, read from PostgreSQL and Redis when Prometheus asks."""

    def collect(self) -> Iterator[Metric]:
        yield from self._queue()
        yield from self._database()

    def _queue(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "limitdesk_redis_up", "1 when Redis (the task queue) answered this scrape."
        )
        client = redis.Redis.from_url(
            settings.REDIS_URL,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
        )
        try:
            waiting, taken = client.llen(CELERY_QUEUE), client.hlen(CELERY_UNACKED)
        except redis.RedisError:
            up.add_metric([], 0)
            yield up
            return
        finally:
            client.close()
        up.add_metric([], 1)
        yield up
        depth = GaugeMetricFamily(
            "limitdesk_queue_depth", "Tasks waiting in the queue for a worker.", labels=["queue"]
        )
        depth.add_metric([CELERY_QUEUE], waiting)
        yield depth
        yield GaugeMetricFamily(
            "limitdesk_queue_unacked", "Tasks taken by a worker and not finished.", value=taken
        )

    def _database(self) -> Iterator[Metric]:
        try:
            rescore = decision_selectors.rescore_backlog()
            notice = notice_selectors.notice_backlog()
            worker = decision_selectors.worker_status()
        except DatabaseError:
            yield GaugeMetricFamily(
                "limitdesk_database_up", "1 when PostgreSQL answered this scrape.", value=0
            )
            return
        yield GaugeMetricFamily(
            "limitdesk_database_up", "1 when PostgreSQL answered this scrape.", value=1
        )
        yield GaugeMetricFamily(
            "limitdesk_rescore_backlog_accounts",
            "Accounts whose signals changed and that wait for their re-score.",
            value=rescore.accounts,
        )
        yield GaugeMetricFamily(
            "limitdesk_rescore_backlog_oldest_seconds",
            "Age of the oldest waiting re-score request (0 when none waits).",
            value=_age(rescore.oldest),
        )
        yield GaugeMetricFamily(
            "limitdesk_runs_moving",
            "Re-scoring runs queued, scoring or applying.",
            value=rescore.runs_moving,
        )
        notices = GaugeMetricFamily(
            "limitdesk_notice_backlog",
            "Customer notices not delivered: waiting (pending or retrying), overdue "
            "(waiting past their due date) and dead (failed for good).",
            labels=["state"],
        )
        notices.add_metric(["waiting"], notice.waiting)
        notices.add_metric(["overdue"], notice.overdue)
        notices.add_metric(["dead"], notice.dead)
        yield notices
        yield GaugeMetricFamily(
            "limitdesk_notice_backlog_oldest_seconds",
            "Age of the oldest notice waiting to be delivered (0 when none waits).",
            value=_age(notice.oldest_waiting),
        )
        if replica.configured():
            serving, _reason = replica.replica_state()
            yield GaugeMetricFamily(
                "limitdesk_replica_serving",
                "1 when the streaming replica is caught up and pages read it, else 0.",
                value=int(serving),
            )
        if worker.last is not None:
            yield GaugeMetricFamily(
                "limitdesk_worker_heartbeat_age_seconds",
                "Seconds since a worker last recorded a heartbeat.",
                value=_age(worker.last.recorded_at),
            )


class ThisProcess(Collector):
    """The default registry's figures, when one process counts them all."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def may_scrape(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    if not may_scrape(request):
        return HttpResponse(
            "Metrics are for the monitoring system: send its bearer token (METRICS_TOKEN), "
            "or ask from this machine when no token is set.\n",
            status=403,
            content_type="text/plain; charset=utf-8",
        )
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:
        registry.register(ThisProcess())
    registry.register(Backlogs())
    response = HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE)
    response["Cache-Control"] = "no-store"
    return response

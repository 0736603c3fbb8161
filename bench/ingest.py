"""Signal events through the real server (issue target: ≥ 2,000 events/s, batches
of 500, including the enqueued re-scores).

gunicorn from the Procfile's `web` line and one Celery worker, on the bench
database. Clients POST batches of 500 events to `/api/v1/signals/events` over
kept-alive connections. Two figures: the events per second the API takes (each
batch applied and its re-scores enqueued before the response), and how long the
worker then takes to carry out those re-scores.
"""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
from datetime import timedelta
from pathlib import Path

import redis
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.db.models import Sum
from django.utils import timezone

from accounts import roles
from accounts.models import Account
from api import services
from bench.pages import web_server
from bench.rescore import celery_worker
from config.celery import app as celery_app
from decisions.models import LimitDecision, RescoreRequest, RescoreRun

BATCH = 500
BATCHES = 60  # 30,000 events
CLIENTS = 4
DISTINCT_ACCOUNTS = 2_000  # re-scores to carry out: one per account that changed
DRAIN_WINDOW = 120.0  # how long the worker's re-scores are watched after the last batch


def _key() -> str:
    admin = User.objects.filter(username="bench-admin").first()
    if admin is None:
        admin = User.objects.create_user("bench-admin", password=None)
        admin.groups.add(Group.objects.get(name=roles.ADMINISTRATOR))
    # A new key each time: a used key cannot be deleted (its calls and events point at it).
    name = f"bench-ingest-{timezone.now():%Y%m%d%H%M%S}"
    return services.api_key_create(name=name, scopes=["signals:write"], actor=admin)[1]


def _batches(references: list[str], rng: random.Random) -> list[bytes]:
    # Newer than the signals on file (the book's load time), at most 30 s ahead.
    start = timezone.now()
    run_id = f"{time.time_ns()}"
    bodies = []
    for batch in range(BATCHES):
        events = []
        for n in range(BATCH):
            number = batch * BATCH + n
            applications = rng.randrange(0, 12)
            events.append(
                {
                    "event_id": f"bench:{run_id}:{number}",
                    "account": rng.choice(references),
                    "observed_at": (start + timedelta(milliseconds=number)).isoformat(),
                    "signals": {
                        "lender_applications_30d": applications,
                        "lender_applications_90d": applications + rng.randrange(0, 6),
                        "utilization": round(rng.random(), 4),
                    },
                }
            )
        bodies.append(json.dumps({"events": events}).encode())
    return bodies


def _post_all(
    port: int, key: str, bodies: list[bytes]
) -> tuple[float, list[float], dict, set[tuple[int, str]]]:
    queue = list(enumerate(bodies))
    changed: set[tuple[int, str]] = set()  # (batch, account): one re-score each
    lock = threading.Lock()
    latencies: list[float] = []
    totals = {"applied": 0, "duplicate": 0, "stale": 0, "rejected": 0}
    failures: list[str] = []

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        while True:
            with lock:
                if not queue:
                    break
                index, body = queue.pop(0)  # oldest first, as a feed sends them
            began = time.perf_counter()
            connection.request("POST", "/api/v1/signals/events", body, headers)
            response = connection.getresponse()
            payload = response.read()
            elapsed = time.perf_counter() - began
            with lock:
                latencies.append(elapsed)
                if response.status != 200:
                    failures.append(f"{response.status}: {payload[:200]!r}")
                    continue
                answer = json.loads(payload)
                for name in totals:
                    totals[name] += answer[name]
                sent = json.loads(bodies[index])["events"]
                for event, result in zip(sent, answer["results"], strict=True):
                    if result["status"] == "applied":
                        changed.add((index, event["account"]))
        connection.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    if failures:
        raise AssertionError(f"{len(failures)} batches failed, e.g. {failures[0]}")
    return seconds, latencies, totals, changed


def _queued() -> int:
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        return int(client.llen("celery"))
    finally:
        client.close()


def _drain(since: object) -> tuple[float, bool]:
    """(seconds, all done): until no re-score request waits and the queue is empty,
    or DRAIN_WINDOW is over. A batch being scored holds its requests until it commits."""
    started = time.perf_counter()
    while time.perf_counter() - started < DRAIN_WINDOW:
        if not RescoreRequest.objects.exists() and _queued() == 0:
            return time.perf_counter() - started, True
        time.sleep(0.05)
    return time.perf_counter() - started, False


def run() -> str:
    rng = random.Random(2026)  # noqa: S311 - test data
    total_accounts = Account.objects.count()
    if total_accounts < DISTINCT_ACCOUNTS:
        raise AssertionError("the bench database has too few accounts: run the rescore bench")
    references = list(
        Account.objects.order_by("?").values_list("reference", flat=True)[:DISTINCT_ACCOUNTS]
    )
    key = _key()
    bodies = _batches(references, rng)
    log_dir = Path(settings.STATE_DIR)
    since = timezone.now()
    with (
        web_server(log_dir / "ingest-web.log") as (port, _command),
        celery_worker(log_dir / "ingest-worker.log"),
    ):
        seconds, latencies, totals, accounts = _post_all(port, key, bodies)
        changed = len(accounts)
        drain, all_done = _drain(since)
    signal_runs = RescoreRun.objects.filter(created_at__gte=since, trigger="signal")
    rescored = signal_runs.aggregate(n=Sum("accounts_total"))["n"] or 0
    decided = LimitDecision.objects.filter(run__in=signal_runs).count()
    batches = signal_runs.count()
    # Re-scores still queued would run in the next benchmark's worker: drop them.
    celery_app.control.purge()
    events = BATCH * BATCHES
    latencies.sort()
    p95 = latencies[int(len(latencies) * 0.95) - 1]
    rate = events / seconds
    with_rescores = events / (seconds + drain) if all_done else 0.0
    including = (
        f"{with_rescores:,.0f} events/s"
        if all_done
        else f"not all done in the {DRAIN_WINDOW:.0f} s watched"
    )
    return (
        "## Signal ingestion through the server (`bench/ingest.py`)\n\n"
        f"{events:,} events in {BATCHES} batches of {BATCH}, oldest first, from {CLIENTS} "
        "clients over kept-alive connections to gunicorn (the Procfile's `web` line, 3 "
        f"workers), on {DISTINCT_ACCOUNTS:,} accounts of a {total_accounts:,}-account book; "
        "each event changes three signals. One Celery worker (`--concurrency 2`) carries out "
        "the re-scores: each batch asks for a re-score of the accounts it changed, in its "
        "transaction; the worker takes the waiting requests in batches (several for one "
        "account give one re-score), scores them and writes their decisions in one "
        "transaction per batch.\n\n"
        "| | figure |\n|---|---:|\n"
        f"| events taken by the API (applied, re-scores enqueued) | {rate:,.0f} events/s |\n"
        f"| batch latency p95 | {p95 * 1000:,.0f} ms |\n"
        f"| results | {totals['applied']:,} applied, {totals['stale']:,} stale, "
        f"{totals['duplicate']:,} duplicate, {totals['rejected']:,} rejected |\n"
        f"| accounts changed by a batch (re-scores asked for) | {changed:,} |\n"
        f"| accounts re-scored, in signal runs | {rescored:,} in {batches:,} |\n"
        f"| decisions written by those re-scores | {decided:,} |\n"
        f"| re-scores still to do when the last batch was answered: done in | "
        f"{drain:,.1f} s |\n"
        f"| events per second including their re-scores | {including} |\n\n"
        f"Target ≥ 2,000 events/s: the API alone **{'met' if rate >= 2000 else 'not met'}**; "
        f"including the re-scores **{'met' if with_rescores >= 2000 else 'not met'}**.\n"
    )

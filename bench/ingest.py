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

from django.conf import settings
from django.contrib.auth.models import User
from django.utils import timezone

from accounts.models import Account
from api import services
from api.models import ApiKey
from bench.pages import web_server
from bench.rescore import celery_worker
from decisions.models import RescoreRun

BATCH = 500
BATCHES = 60  # 30,000 events
CLIENTS = 4
DISTINCT_ACCOUNTS = 2_000  # re-scores to carry out: one per account that changed
DRAIN_TIMEOUT = 900.0


def _key() -> str:
    admin = User.objects.filter(username="bench-admin").first() or User.objects.create_superuser(
        "bench-admin", password=None
    )
    ApiKey.objects.filter(name="bench-ingest").delete()
    return services.api_key_create(name="bench-ingest", scopes=["signals:write"], actor=admin)[1]


def _batches(references: list[str], rng: random.Random) -> list[bytes]:
    start = timezone.now() - timedelta(minutes=30)
    run_id = f"{time.time_ns()}"
    bodies = []
    for batch in range(BATCHES):
        events = []
        for n in range(BATCH):
            number = batch * BATCH + n
            applications = rng.randrange(0, 12)
            events.append({
                "event_id": f"bench:{run_id}:{number}",
                "account": rng.choice(references),
                "observed_at": (start + timedelta(milliseconds=number)).isoformat(),
                "signals": {
                    "lender_applications_30d": applications,
                    "lender_applications_90d": applications + rng.randrange(0, 6),
                    "utilization": round(rng.random(), 4),
                },
            })  # fmt: skip
        bodies.append(json.dumps({"events": events}).encode())
    return bodies


def _post_all(port: int, key: str, bodies: list[bytes]) -> tuple[float, list[float], dict]:
    queue = list(enumerate(bodies))
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
                _index, body = queue.pop()
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
                for name in totals:
                    totals[name] += json.loads(payload)[name]
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
    return seconds, latencies, totals


def _drain(since: object, accounts: int) -> tuple[float, int]:
    """Seconds until every re-score enqueued by the batches is done."""
    started = time.perf_counter()
    deadline = started + DRAIN_TIMEOUT
    done = 0
    while time.perf_counter() < deadline:
        runs = RescoreRun.objects.filter(created_at__gte=since, account__isnull=False)
        done = runs.filter(state=RescoreRun.State.DONE).count()
        if done >= accounts and not runs.exclude(state=RescoreRun.State.DONE).exists():
            break
        time.sleep(0.5)
    return time.perf_counter() - started, done


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
        seconds, latencies, totals = _post_all(port, key, bodies)
        changed = RescoreRun.objects.filter(created_at__gte=since).count()
        drain, done = _drain(since, DISTINCT_ACCOUNTS)
    events = BATCH * BATCHES
    latencies.sort()
    p95 = latencies[int(len(latencies) * 0.95) - 1]
    rate = events / seconds
    with_rescores = events / (seconds + drain)
    return (
        "## Signal ingestion through the server (`bench/ingest.py`)\n\n"
        f"{events:,} events in {BATCHES} batches of {BATCH} from {CLIENTS} clients over "
        f"kept-alive connections to gunicorn (the Procfile's `web` line, 3 workers), on "
        f"{DISTINCT_ACCOUNTS:,} accounts of a {total_accounts:,}-account book; each event "
        "changes three signals. One Celery worker (`--concurrency 2`) carries out the "
        "re-scores.\n\n"
        "| | figure |\n|---|---:|\n"
        f"| events taken by the API (applied, re-scores enqueued) | {rate:,.0f} events/s |\n"
        f"| batch latency p95 | {p95 * 1000:,.0f} ms |\n"
        f"| results | {totals['applied']:,} applied, {totals['stale']:,} stale, "
        f"{totals['duplicate']:,} duplicate, {totals['rejected']:,} rejected |\n"
        f"| re-score runs enqueued / done | {changed:,} / {done:,} |\n"
        f"| time for the worker to finish them after the last batch | {drain:,.1f} s |\n"
        f"| events per second including the re-scores | {with_rescores:,.0f} events/s |\n\n"
        f"Target ≥ 2,000 events/s: the API alone **{'met' if rate >= 2000 else 'not met'}**; "
        f"including the re-scores **{'met' if with_rescores >= 2000 else 'not met'}**.\n"
    )

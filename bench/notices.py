"""The customer notices' outbox to the local receiver (issue target: ≥ 500 notices/s).

A fresh receiver (config/receiver.py, as `make run` starts it) in a directory of its
own; BENCH_NOTICES (20,000 by default) notices of the bench book made due for delivery
with fresh idempotency keys — the book's own notices first, then new cuts written by the
decision writer where the book has too few — and delivered by `notices.services.
deliver_due`, what the beat task calls, in batches of NOTICE_BATCH_SIZE with
NOTICE_DELIVERY_CONCURRENCY requests in flight over kept-alive connections. The time
runs from the first claim to the last batch recorded; the receiver's count of accepted
notices and of duplicates is checked against it.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import suppress
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Account
from config.stack import free_port
from decisions import services as decision_services
from decisions.models import Notice
from notices import services

COUNT = int(os.environ.get("BENCH_NOTICES", "20000"))
ROOT = Path(__file__).resolve().parent.parent
TARGET = 500.0


def _receiver(directory: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    port, secret = free_port(), secrets.token_hex(32)
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "config" / "receiver.py"), "--port", str(port),
         "--state-dir", str(directory)],
        env={**os.environ, "NOTICE_WEBHOOK_SECRET": secret},
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return process, f"http://127.0.0.1:{port}/notices", secret
        time.sleep(0.05)
    process.kill()
    raise AssertionError("the receiver did not start")


def _more_cuts(missing: int) -> None:
    """Cut accounts that have no notice yet by 10 %, through the decision writer."""
    accounts = list(
        Account.objects.filter(status="active", current_limit__gt=1000, notices__isnull=True)
        .values_list("pk", "version", "current_limit")
        .order_by("pk")[:missing]
    )
    for start in range(0, len(accounts), 5000):
        changes = [
            decision_services.Change(
                account_id=pk,
                action="reduce",
                source="override",
                new_limit=(limit * Decimal("0.9")).quantize(Decimal("0.01")),
                new_status="active",
                reasons=("MANUAL_OVERRIDE",),
                idempotency_key=f"bench-notice-{pk}-{version}-{secrets.token_hex(4)}",
                expected_version=version,
                justification="Benchmark of the notices' outbox.",
            )
            for pk, version, limit in accounts[start : start + 5000]
        ]
        with transaction.atomic():
            decision_services.decisions_write(changes, cooldown_days=30)


def _due(count: int, run: str) -> int:
    """Make `count` notices due for delivery with fresh keys; the others not due."""
    missing = count - Notice.objects.count()
    if missing > 0:
        _more_cuts(missing)
    with transaction.atomic(), connection.cursor() as cursor:
        # Notices the writer did not make (a book loaded around it) are added here.
        cursor.execute(
            """
            INSERT INTO decisions_notice (decision_id, account_id, kind, language, reasons,
                created_at, due_by, state, attempts, last_error, idempotency_key,
                content_sha256)
            SELECT d.id, d.account_id, 'individual', 'zh-hans', d.reasons, d.created_at,
                   d.created_at + interval '30 days', 'pending', 0, '', 'bench-' || d.id, ''
            FROM decisions_limitdecision AS d
            WHERE d.action IN ('reduce', 'close')
              AND NOT EXISTS (SELECT 1 FROM decisions_notice AS n WHERE n.decision_id = d.id)
            ORDER BY d.id LIMIT %s
            """,
            [max(0, count - Notice.objects.count())],
        )
        cursor.execute(
            "UPDATE decisions_notice SET next_attempt_at = now() + interval '1 day' "
            "WHERE state IN ('pending', 'retrying')"
        )
        cursor.execute(
            """
            UPDATE decisions_notice SET state = 'pending', attempts = 0,
                next_attempt_at = NULL, delivered_at = NULL, content_sha256 = '',
                last_error = '', idempotency_key = %s || id
            WHERE id IN (SELECT id FROM decisions_notice ORDER BY id LIMIT %s)
            """,
            [f"bench-{run}-", count],
        )
        return cursor.rowcount


def run() -> str:
    run_id = timezone.now().strftime("%Y%m%d%H%M%S")
    due = _due(COUNT, run_id)
    directory = Path(settings.STATE_DIR) / f"bench-receiver-{run_id}"
    process, url, secret = _receiver(directory)
    settings.NOTICE_WEBHOOK_URL, settings.NOTICE_WEBHOOK_SECRET = url, secret
    batches = math.ceil(due / settings.NOTICE_BATCH_SIZE)
    try:
        started = time.perf_counter()
        tally = services.deliver_due(max_batches=batches)
        seconds = time.perf_counter() - started
        with urllib.request.urlopen(url.rsplit("/", 1)[0] + "/stats", timeout=10) as answer:  # noqa: S310 (loopback)
            stats = json.loads(answer.read())
    finally:
        process.terminate()
        process.wait(10)
    if tally.delivered != due or stats["accepted"] != due or stats["duplicates"]:
        raise AssertionError(f"{due} due, {tally}, the receiver saw {stats}")
    rate = due / seconds
    met = "**met**" if rate >= TARGET else "**not met**"
    return (
        "## Customer notices to the local receiver (`bench/notices.py`)\n\n"
        f"{due:,} notices due, delivered by `notices.services.deliver_due` (what the beat "
        f"task runs) in batches of {settings.NOTICE_BATCH_SIZE} with "
        f"{settings.NOTICE_DELIVERY_CONCURRENCY} requests in flight over kept-alive "
        "connections to the local receiver (`config/receiver.py`: HMAC checked, "
        "de-duplicated, appended to a file); each notice's content rendered in its "
        "language, signed, and its delivery and hash written back.\n\n"
        "| notices | wall time (s) | notices/s | accepted by the receiver | duplicates |\n"
        "|---:|---:|---:|---:|---:|\n"
        f"| {due:,} | {seconds:.1f} | {rate:,.0f} | {stats['accepted']:,} "
        f"| {stats['duplicates']} |\n\n"
        f"Target: ≥ {TARGET:.0f} notices/s: {met} ({rate:,.0f}/s).\n"
    )

"""A back-test of a draft on 1,000,000 accounts with 12 monthly snapshots behind them
(issue target: ≤ 60 s).

The book is the bench's (seeded by the simulation benchmark's `book_ensure` when smaller),
its history the demo's twelve months (demo.history, loaded when there is none). A real
Celery worker replays the draft and the active version on the snapshot a policy
admin would be offered first (the latest whose 12-month window has matured, else the
oldest) over its longest matured window; the time runs from `backtest_start` until
the back-test is done. BENCH_BACKTEST_ACCOUNTS sets a smaller book for a quick check.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from django.conf import settings
from django.db import connection

from bench.rescore import MB, MemorySampler, celery_worker
from bench.simulate import _admin, _draft, book_ensure
from demo.history import MONTHS, demo_history_load
from history import backtests
from history.models import AccountSnapshot, Backtest, Snapshot

ACCOUNTS = int(os.environ.get("BENCH_BACKTEST_ACCOUNTS", "1000000"))
TIMEOUT_SECONDS = 600.0


def _history() -> int:
    """The demo's monthly snapshots behind the book (loaded once)."""
    if not Snapshot.objects.exists():
        demo_history_load(months=MONTHS)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE history_accountsnapshot")
    return Snapshot.objects.filter(state=Snapshot.State.COMPLETE).count()


def run() -> str:
    accounts = book_ensure(ACCOUNTS)
    months_of_history = _history()
    admin = _admin()
    draft = _draft(admin)
    choice = backtests.default_choice(backtests.snapshot_choices())
    if choice is None:
        raise AssertionError("no snapshot with a matured outcome window to replay")
    window = max(choice.matured)
    replayed = AccountSnapshot.objects.filter(taken_on=choice.snapshot.taken_on).count()
    log_path = Path(settings.STATE_DIR) / "backtest-worker.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with celery_worker(log_path) as worker:
        sampler = MemorySampler(worker.pid)
        sampler.start()
        try:
            started = time.perf_counter()
            backtest = backtests.backtest_start(
                version=draft.version,
                snapshot_id=choice.snapshot.pk,
                months=window,
                actor=admin,
            )
            deadline = started + TIMEOUT_SECONDS
            while Backtest.objects.get(pk=backtest.pk).state in {"queued", "running"}:
                if time.perf_counter() > deadline:
                    raise AssertionError(f"the back-test did not finish in {TIMEOUT_SECONDS} s")
                time.sleep(0.2)
            seconds = time.perf_counter() - started
        finally:
            sampler.stop()
    backtest.refresh_from_db()
    if backtest.state != Backtest.State.DONE:
        raise AssertionError(f"the back-test ended {backtest.state}: {backtest.error}")
    results = backtest.results
    draft_side, base_side = results["versions"]["draft"], results["versions"]["base"]
    met = "**met**" if seconds <= 60 else "**not met**"
    if replayed < 1_000_000:
        met = f"not judged on {replayed:,} accounts"
    return (
        "## Back-test of a draft on a past snapshot (`bench/backtest.py`)\n\n"
        f"A draft (multi-lending trigger from 10 applications to 5, band D's ceiling 9,000 → "
        f"7,000) and the active version replayed on the snapshot of "
        f"{choice.snapshot.taken_on} ({replayed:,} accounts; {months_of_history} monthly "
        f"snapshots in all) and judged over the {window} months after it, by one Celery "
        f"worker task, in id ranges of {settings.RESCORE_CHUNK_SIZE:,}; the time runs from "
        "`backtest_start` until the back-test is done.\n\n"
        "| book | accounts replayed | window (months) | wall time (s) | accounts/s "
        "| peak worker RSS (MB, largest process / all) |\n|---:|---:|---:|---:|---:|---:|\n"
        f"| {accounts:,} | {replayed:,} | {window} | {seconds:.1f} | {replayed / seconds:,.0f} "
        f"| {sampler.largest / MB:.0f} / {sampler.total / MB:.0f} |\n\n"
        f"Target: 1,000,000 accounts with 12 monthly snapshots in ≤ 60 s: {met} "
        f"({seconds:.1f} s).\n\n"
        f"Judged: {results['accounts']:,} accounts ({results['unseen']:,} never seen again "
        f"left out), {results['bads']:,} bad. Cut or closed: "
        f"{base_side['cut'] + base_side['closed']:,} (active) → "
        f"{draft_side['cut'] + draft_side['closed']:,} (draft); bads caught "
        f"{base_side['bads_caught']:,} → {draft_side['bads_caught']:,}; good customers cut "
        f"{base_side['goods_cut']:,} → {draft_side['goods_cut']:,}.\n"
    )

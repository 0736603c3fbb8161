"""A full re-score at 1,000,000 and 10,000,000 accounts: time, worker memory, growth.

Targets (2 cores): 10,000,000 accounts re-scored in ≤ 8 min, with worker memory
≤ 1 GB and linear growth from 1,000,000 (the per-account cost at 10,000,000 at most
1.25 times the cost at 1,000,000). LIMITDESK_BENCH_SCALE_SIZES (e.g.
"100000,1000000") measures other sizes; the last one is the one the targets apply to.

Each size is a book seeded afresh (`seed_demo --accounts N --replace`, not timed)
and a real worker with two pool processes; two portfolio runs, started as a person
starts them: the book's first scoring (every seeded score is replaced) and, after a
vacuum, a re-score of the scored book. The floor, the reason check and the run
without a snapshot are the `rescore` benchmark's; at this size they would triple the
time the benchmark takes.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connection

from bench.rescore import MB, _book, _seconds, breaker_open, sampled_run
from decisions import runs
from decisions.models import LimitDecision, RescoreRun

SIZES = [
    int(size)
    for size in os.environ.get("LIMITDESK_BENCH_SCALE_SIZES", "1000000,10000000").split(",")
]
TARGET_SECONDS = 8 * 60.0
TARGET_RSS_MB = 1024.0
TARGET_LINEAR_RATIO = 1.25


@dataclass
class Timed:
    """One portfolio run: its wall time, decisions and the worker's peak memory."""

    seconds: float
    decisions: int
    largest_mb: float
    total_mb: float
    run: RescoreRun


@dataclass
class Measure:
    size: int
    seed_seconds: float
    first: Timed  # the book's first scoring: every account's score and band are new
    again: Timed  # the next full re-score of the scored book
    disk: str

    @property
    def accounts(self) -> int:
        return self.first.run.accounts_total


def _disk() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
        return str(cursor.fetchone()[0])


def timed_run(size: int, log_path: Path) -> Timed:
    sampled = sampled_run(log_path, size, lambda: runs.run_start(trigger=RescoreRun.Trigger.BUTTON))
    run, seconds, sampler = sampled.run, sampled.seconds, sampled.sampler
    if run.state != RescoreRun.State.DONE:
        raise AssertionError(
            f"{size:,} accounts: the run is {run.state!r} after {seconds:.1f} s "
            f"({sampled.problem or 'it ended'}; error {run.error!r}; {run.accounts_done:,}/"
            f"{run.accounts_total:,} computed; worker: {sampled.activity or '—'}); "
            f"see {log_path}"
        )
    return Timed(
        seconds=seconds,
        decisions=LimitDecision.objects.filter(run=run).count(),
        largest_mb=sampler.largest / MB,
        total_mb=sampler.total / MB,
        run=run,
    )


def measure(size: int, log_path: Path) -> Measure:
    seeded_at = time.perf_counter()
    _book(size)
    seed_seconds = time.perf_counter() - seeded_at
    first = timed_run(size, log_path)
    print(f"  scale: {size:,} accounts, first run {first.seconds:.1f} s", flush=True)
    with connection.cursor() as cursor:
        # As autovacuum would between two nights; not timed.
        cursor.execute("VACUUM (ANALYZE) accounts_account, accounts_accountsignals")
    again = timed_run(size, log_path)
    return Measure(size=size, seed_seconds=seed_seconds, first=first, again=again, disk=_disk())


def _met(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def _row(label: str, m: Measure, t: Timed) -> str:
    per_million = t.seconds / m.accounts * 1_000_000
    return (
        f"| {m.accounts:,} | {label} | {t.seconds:.1f} | {m.accounts / t.seconds:,.0f} "
        f"| {per_million:.1f} | {t.decisions:,} "
        f"| {_seconds(t.run.compute_started_at, t.run.compute_finished_at)} "
        f"| {_seconds(t.run.apply_started_at, t.run.finished_at)} "
        f"| {t.largest_mb:,.0f} / {t.total_mb:,.0f} |"
    )


def report(results: list[Measure]) -> str:
    rows = [
        "| accounts | run | wall time (s) | accounts/s | s per 1,000,000 | decisions "
        "| scoring phase (s) | writing phase (s) | peak worker RSS (MB, largest process "
        "/ all processes) |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    books = ["| accounts | seeding (s) | database on disk after both runs |", "|---:|---:|---:|"]
    for m in results:
        rows.append(_row("first scoring of the seeded book", m, m.first))
        rows.append(_row("re-score of the scored book", m, m.again))
        books.append(f"| {m.accounts:,} | {m.seed_seconds:.0f} | {m.disk} |")
    big, small = results[-1], results[0]
    targets = []
    for label, pick in (
        ("first scoring", lambda m: m.first),
        ("re-score of the scored book", lambda m: m.again),
    ):
        t, s = pick(big), pick(small)
        growth = (t.seconds / big.accounts) / (s.seconds / small.accounts)
        line = (
            f"- {label}: {big.accounts:,} accounts in {t.seconds:.1f} s "
            f"({t.seconds / 60:.1f} min; ≤ {TARGET_SECONDS / 60:.0f} min) — "
            f"{_met(t.seconds <= TARGET_SECONDS)}; worker memory {t.total_mb:,.0f} MB, the "
            f"worker and its pool together (≤ {TARGET_RSS_MB:,.0f} MB) — "
            f"{_met(t.total_mb <= TARGET_RSS_MB)}"
        )
        if len(results) > 1:
            line += (
                f"; {growth:.2f}× the per-account time at {small.accounts:,} (linear: "
                f"≤ {TARGET_LINEAR_RATIO}×) — {_met(growth <= TARGET_LINEAR_RATIO)}"
            )
        targets.append(line + ".")
    return (
        "## Re-score at 10,000,000 accounts (`scale`)\n\n"
        "For each size the demo book is seeded afresh (`seed_demo --accounts N "
        "--replace`, timed apart) and a real Celery worker with two pool processes "
        "scores it twice, each a portfolio run started as a person starts it, with the "
        "circuit breaker opened wide so the run applies. The first run is the book's "
        "first scoring: the seeded scores are not the scorecard's, so every account's "
        "score and band are written, and with them every index of the account table. "
        "The second, after a `VACUUM (ANALYZE)` as autovacuum would make between two "
        "nights, is a re-score of a scored book: the regular case. The time is from the "
        "start to the run's end; memory is sampled every 0.2 s over the worker and its "
        "pool.\n\n" + "\n".join(rows) + "\n\n" + "\n".join(books) + "\n\n"
        "Targets (2 cores):\n\n" + "\n".join(targets)
    )


def run() -> str:
    log_path = Path(settings.STATE_DIR) / "scale-worker.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    results = []
    with breaker_open():
        for size in SIZES:
            print(f"  scale: {size:,} accounts ...", flush=True)
            result = measure(size, log_path)
            print(
                f"  scale: {size:,} accounts, re-score {result.again.seconds:.1f} s "
                f"(seeded in {result.seed_seconds:.0f} s)",
                flush=True,
            )
            results.append(result)
    return report(results)

"""The Monitoring page and the measures behind it on twelve monthly snapshots
(docs/architecture.md, "The Monitoring page and drift alerts").

A synthetic book of BENCH_MONITORING_ACCOUNTS accounts (1,000,000 by default) is
written as twelve monthly snapshots in 2001, chunk by chunk as a portfolio run
writes them (rows by COPY, each chunk's stats merged into the snapshot's), the
scores drifting a little each month; kept between runs when the size matches.
Then, timed: the outcomes of every snapshot derived from scratch
(history.performance), the score PSI and every signal's CSI from the stats, and
`/monitoring/` through gunicorn, one request after the other.

Targets: PSI and every CSI ≤ 2 s; the page p95 ≤ 200 ms.
"""

from __future__ import annotations

import os
import statistics
import time
from datetime import date
from pathlib import Path

import numpy as np
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.db import connection, transaction

import scoring
from accounts import roles
from accounts.book import SEGMENTS
from bench.pages import Browser, Stats, stats, web_server
from history import performance, selectors, snapshots
from history import stats as history_stats
from history.models import Snapshot
from history.snapshots import SnapshotRows
from policies.models import Policy

ACCOUNTS = int(os.environ.get("BENCH_MONITORING_ACCOUNTS", "1000000"))
MONTHS = 12
FIRST = date(2001, 1, 1)
CHUNK = 100_000
SEED = 2101
USERNAME = "bench-monitoring"
PASSWORD = "bench-monitoring-password"  # noqa: S105 - the bench's own login
REQUESTS = 150
WARMUP = 10
STABILITY_REPEATS = 20
TARGET_PAGE_MS = 200.0
TARGET_STABILITY_S = 2.0
WEB_LOG = "monitoring-web.log"


def _month(index: int) -> date:
    return date(FIRST.year + index // 12, index % 12 + 1, 1)


def _chunk(ids: np.ndarray, month: int, version: int, bands: list[int]) -> SnapshotRows:
    """Synthetic rows: the score drifts down 4 points a month, days past due follow it."""
    rng = np.random.default_rng([SEED, month, int(ids[0])])
    n = len(ids)
    base = np.random.default_rng([SEED, int(ids[0])]).normal(680, 70, n)
    score = np.clip(base - 4 * month + rng.normal(0, 15, n), 350, 950).astype(np.int64)
    late = rng.random(n) < np.clip((700 - score) / 1500, 0.002, 0.4)
    dpd = np.where(late, rng.choice([15, 35, 65, 95, 130], n), 0)
    action = np.full(n, scoring.ACTION_CODES["keep"])
    action[(score < 600) & (rng.random(n) < 0.3)] = scoring.ACTION_CODES[scoring.REDUCE]
    action[dpd >= 90] = scoring.ACTION_CODES[scoring.CLOSE]
    action[(score > 760) & (rng.random(n) < 0.1)] = scoring.ACTION_CODES["raise"]
    signals = rng.random((n, len(scoring.INPUT_SIGNALS)))
    signals[:, scoring.INPUT_SIGNALS.index("age")] = 18 + (ids % 60)
    signals[:, scoring.INPUT_SIGNALS.index("credit_score")] = score
    signals[:, scoring.INPUT_SIGNALS.index("days_past_due")] = dpd
    signals[:, scoring.INPUT_SIGNALS.index("utilization")] = rng.beta(2, 3 - month / 12, n)
    band = np.searchsorted(-np.asarray(bands), -score, side="right")
    limit = np.full(n, 2_000_000)
    closed = action == scoring.ACTION_CODES[scoring.CLOSE]
    return SnapshotRows(
        account_id=ids,
        segment=ids % len(SEGMENTS),
        status_before=np.zeros(n, dtype=np.int64),
        limit_before=limit,
        good_cycles=np.zeros(n, dtype=np.int64),
        in_cooldown=np.zeros(n, dtype=bool),
        days_since_restoration=np.full(n, scoring.NEVER_RESTORED),
        days_past_due=dpd,
        score=score,
        band=np.minimum(band, len(bands) - 1),
        policy_version=np.full(n, version),
        action=action,
        limit_after=np.where(closed, 0, limit),
        status_after=np.where(closed, scoring.STATUS_CODES["closed"], 0),
        signals=signals,
    )


def build() -> float:
    """Write the twelve snapshots that are missing or of another size; seconds spent."""
    policy = Policy.objects.get(state=Policy.State.ACTIVE)
    bands = [band.min_score for band in scoring.parse_policy(policy.rules).bands]
    started = time.perf_counter()
    for month in range(MONTHS):
        day = _month(month)
        existing = Snapshot.objects.filter(taken_on=day).first()
        if existing is not None and existing.accounts == ACCOUNTS:
            continue
        with transaction.atomic():
            if existing is not None:
                existing.delete()
            snapshots.partition_ensure(day)
            with connection.cursor() as cursor:
                cursor.execute("DELETE FROM history_accountsnapshot WHERE taken_on = %s", [day])
            parts = []
            for first in range(1, ACCOUNTS + 1, CHUNK):
                ids = np.arange(first, min(first + CHUNK, ACCOUNTS + 1), dtype=np.int64)
                rows = _chunk(ids, month, policy.version, bands)
                snapshots.snapshot_rows_write(day, rows)
                parts.append(history_stats.row_stats(rows, SEGMENTS))
            Snapshot.objects.create(
                taken_on=day,
                policy_version=policy.version,
                state=Snapshot.State.COMPLETE,
                accounts=ACCOUNTS,
                stats=history_stats.merge(parts),
            )
        print(f"  monitoring: snapshot {day} written", flush=True)
    return time.perf_counter() - started


def time_outcomes() -> float:
    Snapshot.objects.filter(taken_on__year=FIRST.year).update(outcomes={})
    started = time.perf_counter()
    performance.derive_outcomes()
    return time.perf_counter() - started


def time_stability() -> tuple[float, float, int]:
    """Mean and worst seconds of the score PSI and every CSI, latest against baseline."""
    current = Snapshot.objects.get(taken_on=_month(MONTHS - 1))
    baseline = selectors.baseline_snapshot(current) or Snapshot.objects.get(taken_on=FIRST)
    seconds = []
    for _ in range(STABILITY_REPEATS):
        started = time.perf_counter()
        selectors.score_psi(current, baseline)
        signals = selectors.signal_csis(current, baseline)
        seconds.append(time.perf_counter() - started)
    return statistics.fmean(seconds), max(seconds), len(signals)


def _login() -> None:
    user, _created = User.objects.get_or_create(username=USERNAME)
    user.set_password(PASSWORD)
    user.save()
    user.groups.set([Group.objects.get(name=roles.RISK_ANALYST)])


def run() -> str:
    built = build()
    outcomes_s = time_outcomes()
    psi_mean, psi_max, signals = time_stability()
    _login()
    log_path = Path(settings.STATE_DIR) / WEB_LOG
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with web_server(log_path) as (port, _command):
        browser = Browser(port, log_path)
        browser.login(USERNAME, PASSWORD)
        # The synthetic year is picked (other benchmarks may have written later snapshots).
        url = f"/monitoring/?current={_month(MONTHS - 1).isoformat()}"
        for _ in range(WARMUP):
            body, _ms = browser.page(url)
        if b"2001" not in body:
            raise AssertionError(f"{url} does not show the synthetic year; see {log_path}")
        page = stats([browser.page(url)[1] for _ in range(REQUESTS)])
    print(f"  monitoring: page p95 {page.p95:.1f} ms", flush=True)
    return report(built, outcomes_s, psi_mean, psi_max, signals, page)


def report(
    built: float, outcomes_s: float, psi_mean: float, psi_max: float, signals: int, page: Stats
) -> str:
    page_ok = "met" if page.p95 <= TARGET_PAGE_MS else "**missed**"
    psi_ok = "met" if psi_max <= TARGET_STABILITY_S else "**missed**"
    return "\n".join(
        [
            "## Monitoring",
            "",
            f"Book: {ACCOUNTS:,} accounts × {MONTHS} monthly snapshots (synthetic, written "
            f"in {CHUNK:,}-account chunks; {built:.1f} s to write what was missing).",
            "",
            "| measure | time |",
            "|---|---:|",
            f"| outcomes of every snapshot, 3/6/12 months, from scratch | {outcomes_s:.1f} s |",
            f"| score PSI and {signals} CSIs from the stats (mean of {STABILITY_REPEATS}) | "
            f"{psi_mean * 1000:.2f} ms |",
            f"| the same, worst | {psi_max * 1000:.2f} ms |",
            f"| `/monitoring/?current={_month(MONTHS - 1)}` p50 ({REQUESTS} requests) "
            f"| {page.p50:.1f} ms |",
            f"| the same, p95 | {page.p95:.1f} ms |",
            f"| the same, p99 | {page.p99:.1f} ms |",
            "",
            f"Targets: PSI and every CSI ≤ {TARGET_STABILITY_S:.0f} s: {psi_ok}; page p95 ≤ "
            f"{TARGET_PAGE_MS:.0f} ms: {page_ok}.",
        ]
    )

"""Loading the demo portfolio: 100,000 accounts must load in under a minute; and the
demo's twelve months of history behind it (docs/architecture.md, "The demo's history").

`history_ensure()` gives the other benchmarks the bench book of HISTORY_ACCOUNTS
generated accounts with those twelve monthly snapshots: built once, then reused while
the database and the marker file in the bench's state directory agree.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from accounts.models import Account
from demo import history, stories
from history.models import Snapshot

SIZES = [int(size) for size in os.environ.get("BENCH_SEED_SIZES", "100000,1000000").split(",")]
TARGET_SECONDS_PER_100K = 60.0
HISTORY_ACCOUNTS = int(os.environ.get("BENCH_HISTORY_ACCOUNTS", "1000000"))
HISTORY_STATE = "history-seed.json"


@dataclass(frozen=True)
class History:
    reused: bool
    accounts: int
    months: list[date]
    seconds: float  # generating and writing the snapshots, when they were built
    built_at: str


def _marker() -> Path:
    return Path(settings.STATE_DIR) / HISTORY_STATE


def _history_ready(saved: dict[str, Any]) -> bool:
    """The database holds the book and the snapshots the marker describes."""
    months = [date.fromisoformat(str(day)) for day in saved.get("months", [])]
    accounts = saved.get("accounts")
    if not months or accounts != Account.objects.count():
        return False
    found = Snapshot.objects.filter(
        taken_on__in=months, state=Snapshot.State.COMPLETE, run_id__isnull=True
    ).values_list("accounts", flat=True)
    return len(found) == len(months) and set(found) == {accounts}


def _history_build() -> History:
    """Generate the demo's history behind the current book, from scratch, and mark it."""
    with connection.cursor() as cursor:
        # The bench database only: whatever history it held was of some other book.
        cursor.execute("TRUNCATE history_snapshot, history_accountsnapshot CASCADE")
    loaded = history.demo_history_load(months=history.MONTHS)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE history_snapshot, history_accountsnapshot")
    built = History(
        reused=False,
        accounts=loaded.accounts,
        months=history.history_months(timezone.now().date(), history.MONTHS),
        seconds=loaded.seconds,
        built_at=timezone.now().strftime("%Y-%m-%d %H:%M UTC"),
    )
    marker = _marker()
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(
        json.dumps(
            {
                "accounts": built.accounts,
                "months": [day.isoformat() for day in built.months],
                "seconds": built.seconds,
                "built_at": built.built_at,
            }
        )
    )
    return built


def history_ensure() -> History:
    """The bench book (HISTORY_ACCOUNTS generated accounts plus the story accounts) with
    the demo's twelve monthly snapshots behind it; built only when the database does
    not hold what the marker says."""
    marker = _marker()
    saved = json.loads(marker.read_text()) if marker.exists() else {}
    if saved and _history_ready(saved):
        return History(
            reused=True,
            accounts=saved["accounts"],
            months=[date.fromisoformat(day) for day in saved["months"]],
            seconds=saved["seconds"],
            built_at=saved["built_at"],
        )
    book = HISTORY_ACCOUNTS + len(stories.STORY_ACCOUNTS)
    generated = Account.objects.filter(id__lte=HISTORY_ACCOUNTS).count()
    if (Account.objects.count(), generated) != (book, HISTORY_ACCOUNTS):
        # --replace empties the history too (demo.services).
        call_command("seed_demo", "--accounts", str(HISTORY_ACCOUNTS), "--replace", verbosity=0)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM (ANALYZE) accounts_account, accounts_accountsignals")
    return _history_build()


def run() -> str:
    rows = [
        "| accounts | seconds | accounts/s | target | 12 months of history | rows/s |",
        "|---:|---:|---:|---|---:|---:|",
    ]
    for size in SIZES:
        started = time.perf_counter()
        call_command("seed_demo", "--accounts", str(size), "--replace", verbosity=0)
        seconds = time.perf_counter() - started
        total = size + len(stories.STORY_ACCOUNTS)
        assert Account.objects.count() == total
        target = "≤ 60 s" if size == 100_000 else "—"
        built = _history_build()  # and marks it, for history_ensure to reuse
        assert built.accounts == total
        rows.append(
            f"| {size:,} | {seconds:.1f} | {size / seconds:,.0f} | {target} "
            f"| {built.seconds:.1f} s | {12 * total / built.seconds:,.0f} |"
        )
    return (
        "## Demo portfolio load (`seed_demo`)\n\n"
        "`manage.py seed_demo --accounts N --replace`: numpy generation and COPY into "
        "PostgreSQL, accounts and their signals, plus the story accounts and the "
        "demo users, in one transaction. Then the demo's history "
        "(`seed_demo --history-months 12`, as `make run` loads it): twelve monthly "
        "snapshots of every account, simulated month by month in numpy, scored by the "
        "versions then in force and written by binary COPY, in one transaction.\n\n"
        + "\n".join(rows)
    )

"""Loading the demo portfolio: 100,000 accounts must load in under a minute."""

from __future__ import annotations

import time

from django.core.management import call_command

from accounts.models import Account

SIZES = [100_000, 1_000_000]
TARGET_SECONDS_PER_100K = 60.0


def run() -> str:
    rows = ["| accounts | seconds | accounts/s | target |", "|---:|---:|---:|---|"]
    for size in SIZES:
        started = time.perf_counter()
        call_command("seed_demo", "--accounts", str(size), "--replace", verbosity=0)
        seconds = time.perf_counter() - started
        assert Account.objects.count() == size + 4
        target = "≤ 60 s" if size == 100_000 else "—"
        rows.append(f"| {size:,} | {seconds:.1f} | {size / seconds:,.0f} | {target} |")
    return (
        "## Demo portfolio load (`seed_demo`)\n\n"
        "`manage.py seed_demo --accounts N --replace`: numpy generation and COPY into "
        "PostgreSQL, accounts and their signals, plus the four story accounts and the "
        "demo users, in one transaction.\n\n" + "\n".join(rows)
    )

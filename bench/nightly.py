"""The incremental nightly run over a settled book where 1 % of the accounts changed.

A book seeded afresh (LIMITDESK_BENCH_NIGHTLY_SIZE, 1,000,000), a real worker (two
pool processes) and nightly runs (trigger "schedule") in a row:

1. the month's first, which writes the snapshot and so scores every account;
2. the book is then *settled* by SQL: moved to where quiet nights would take it
   under the policy. A seeded book is not settled: its good accounts are a few
   cycles from the cap and then raised 10 % a night up to their band's ceiling,
   and an account with a cut trigger is cut again every night down to 0. So each
   active account with good cycles gets them at the cap and its limit at its band's
   ceiling; each active one with an adverse trigger gets limit 0. The version is
   bumped, so the marks run 1 left on them no longer hold;
3. the next night scores the accounts settling moved (their marks no longer hold)
   and marks them (not timed for the target);
4. after 1 % of the accounts' signals changed (10,000 at 1,000,000: worse for half,
   better for the other half): the run the target is about (<= 10 s);
5. the same book again with RESCORE_INCREMENTAL off: what a full nightly costs now.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

import scoring
from accounts.models import Account
from bench.rescore import _book, _wait, _worker_activity, breaker_open, celery_worker
from decisions import runs
from decisions.models import RescoreRun, SteadyAccount
from decisions.signal_intake import signals_update

SIZE = int(os.environ.get("LIMITDESK_BENCH_NIGHTLY_SIZE", "1000000"))
CHANGED_SHARE = 0.01
TARGET_SECONDS = 10.0


@dataclass
class Night:
    label: str
    seconds: float
    run: RescoreRun

    @property
    def scored(self) -> int:
        return self.run.accounts_done - self.run.accounts_steady


def night(label: str) -> Night:
    started = time.perf_counter()
    run = runs.run_start(trigger=RescoreRun.Trigger.SCHEDULE)
    problem = _wait(run.pk, timeout=600 + SIZE * 0.002)
    seconds = time.perf_counter() - started
    run.refresh_from_db()
    if run.state != RescoreRun.State.DONE:
        raise AssertionError(
            f"{label}: the run is {run.state!r} after {seconds:.1f} s ({problem or 'it ended'};"
            f" error {run.error!r}; worker: {_worker_activity() if problem else '—'})"
        )
    print(f"  nightly: {label}: {seconds:.1f} s, {run.accounts_steady:,} steady", flush=True)
    return Night(label, seconds, run)


def change_one_percent() -> int:
    """1 % of the accounts get new signals, half worse and half better."""
    ids = list(Account.objects.order_by("pk").values_list("pk", flat=True))
    step = round(1 / CHANGED_SHARE)
    worse, better = ids[::step][::2], ids[::step][1::2]
    now = timezone.now()
    with transaction.atomic():  # the update's COPYed table lives for the transaction
        _update(now, worse, better)
    return len(worse) + len(better)


def _update(now: datetime, worse: list[int], better: list[int]) -> None:
    signals_update(
        ["lender_applications_30d", "lender_applications_90d"],
        [(pk, now, 14, 20) for pk in worse],
        rescore=False,
    )
    signals_update(
        ["days_past_due", "utilization"], [(pk, now, 0, "0.2000") for pk in better], rescore=False
    )


def settle(rules: scoring.PolicyRules) -> int:
    """Step 2 above; the number of accounts moved."""
    compiled = scoring.compile_rules(rules)
    ceilings = " ".join(
        f"WHEN '{band.name}' THEN {ceiling // 100}"
        for band, ceiling in zip(rules.bands, compiled.band_ceilings, strict=True)
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE accounts_account SET
                good_cycles = CASE WHEN good_cycles > 0 THEN %s ELSE 0 END,
                current_limit = CASE WHEN good_cycles > 0 THEN (CASE band {ceilings} END)
                                     ELSE 0 END,
                version = version + 1
            WHERE status = 'active' AND band <> ''
            """,  # noqa: S608 - band names and ceilings from the policy
            [rules.raise_good_cycles],
        )
        moved = cursor.rowcount
        cursor.execute("VACUUM (ANALYZE) accounts_account")
    return moved


def run() -> str:
    log_path = Path(settings.STATE_DIR) / "nightly-worker.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    _book(SIZE)
    with breaker_open() as rules, celery_worker(log_path):
        first = night("the month's first run (writes the snapshot: every account scored)")
        settled = settle(rules)
        again = night(
            "the next night, on the settled book "
            "(the marks of the accounts settling moved no longer hold)"
        )
        marked = SteadyAccount.objects.count()
        changed = change_one_percent()
        measured = night(f"after {changed:,} accounts' signals changed (incremental)")
        try:
            settings.RESCORE_INCREMENTAL = False
            full = night("the same book with RESCORE_INCREMENTAL off (every account scored)")
        finally:
            settings.RESCORE_INCREMENTAL = True
    rows = [
        "| nightly run | seconds | accounts scored | advanced without scoring | decisions |",
        "|---|---:|---:|---:|---:|",
    ]
    for n in (first, again, measured, full):
        rows.append(
            f"| {n.label} | {n.seconds:.1f} | {n.scored:,} | {n.run.accounts_steady:,} "
            f"| {n.run.decisions_written:,} |"
        )
    ok = measured.seconds <= TARGET_SECONDS
    return (
        f"## Incremental nightly run ({SIZE:,} accounts, {CHANGED_SHARE:.0%} changed)\n\n"
        "Four nightly runs in a row on one book seeded afresh, one worker with two pool "
        "processes (`bench/nightly.py`). The first run of the month writes the snapshot "
        "and scores every account. Then the book is settled by SQL to where quiet nights "
        f"take it under the policy ({settled:,} active accounts moved: good cycles at the "
        "cap and the limit at the band's ceiling, or limit 0 under an adverse trigger; "
        "a seeded book is not settled: its good accounts climb 10 % a night and its "
        "triggered ones are cut every night). The next night scores the accounts "
        f"settling moved and leaves {marked:,} marked steady. Then 1 % of the accounts get new "
        "signals through `decisions.signal_intake.signals_update` (the trigger takes "
        "their marks away).\n\n"
        + "\n".join(rows)
        + "\n\n"
        + f"Target: a nightly run over {SIZE:,} accounts where "
        f"{CHANGED_SHARE:.0%} changed ≤ {TARGET_SECONDS:.0f} s: {measured.seconds:.1f} s, "
        + ("**met**" if ok else "**not met**")
        + f"; the same night scoring every account takes {full.seconds:.1f} s."
    )

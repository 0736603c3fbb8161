"""Simulation of a draft policy on 1,000,000 accounts (issue target: ≤ 60 s).

The same engine as a run's compute phase: a real Celery worker scores every
chunk with the draft and with the active version and sums both up; no decision
is written. The time runs from `simulation_start` until the simulation is done.
"""

from __future__ import annotations

import time
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.db import connection

from accounts import roles
from accounts.models import Account
from bench.rescore import MB, MemorySampler, celery_worker
from decisions.models import LimitDecision
from policies import services, simulations
from policies.models import Policy, Simulation

ACCOUNTS = 1_000_000
TIMEOUT_SECONDS = 600.0


def book_ensure(accounts: int = ACCOUNTS) -> int:
    """A book of at least `accounts` accounts: the one already there, else a new one."""
    count = Account.objects.count()
    if count < accounts:
        call_command("seed_demo", "--accounts", str(accounts), "--replace", verbosity=0)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM (ANALYZE) accounts_account, accounts_accountsignals")
        count = Account.objects.count()
    return count


def _admin() -> User:
    admin, _created = User.objects.get_or_create(username="bench-policy-admin")
    admin.groups.add(Group.objects.get(name=roles.POLICY_ADMIN))
    return User.objects.get(pk=admin.pk)  # permissions read afresh


def _draft(admin: User) -> Policy:
    """A tightening (multi-lending from 10 applications to 5, band D's ceiling lowered)."""
    draft = Policy.objects.filter(state=Policy.State.DRAFT, author=admin).order_by(
        "-version"
    ).first() or services.policy_draft_create(author=admin)
    rules = dict(Policy.objects.get(state=Policy.State.ACTIVE).rules)
    bands = [dict(band) for band in rules["bands"]]
    bands[3]["ceiling"] = "7000"
    return services.policy_draft_update(
        version=draft.version,
        author=admin,
        rules={**rules, "multi_lending_applications_30d": 5, "bands": bands},
        rationale="Benchmark: a tightening of the multi-lending trigger.",
    )


def run() -> str:
    accounts = book_ensure()
    admin = _admin()
    draft = _draft(admin)
    decisions_before = LimitDecision.objects.count()
    log_path = Path(settings.STATE_DIR) / "simulate-worker.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with celery_worker(log_path) as worker:
        sampler = MemorySampler(worker.pid)
        sampler.start()
        try:
            started = time.perf_counter()
            simulation = simulations.simulation_start(version=draft.version, actor=admin)
            deadline = started + TIMEOUT_SECONDS
            while Simulation.objects.get(pk=simulation.pk).running:
                if time.perf_counter() > deadline:
                    raise AssertionError(f"the simulation did not finish in {TIMEOUT_SECONDS} s")
                time.sleep(0.2)
            seconds = time.perf_counter() - started
        finally:
            sampler.stop()
    simulation.refresh_from_db()
    if simulation.state != Simulation.State.DONE:
        raise AssertionError(f"the simulation ended {simulation.state}: {simulation.error}")
    written = LimitDecision.objects.count() - decisions_before
    draft_result, active_result = simulation.results["draft"], simulation.results["active"]
    met = "**met**" if seconds <= 60 else "**not met**"
    return (
        "## Policy simulation on the portfolio (`bench/simulate.py`)\n\n"
        f"A draft (multi-lending trigger from 10 applications to 5, band D's ceiling 9,000 → "
        f"7,000) simulated on {accounts:,} accounts beside the active version, by one Celery "
        f"worker (`--concurrency 2`), {simulation.chunks_total} chunks of "
        f"{settings.RESCORE_CHUNK_SIZE:,} accounts; the time runs from `simulation_start` "
        "until the simulation is done.\n\n"
        "| accounts | wall time (s) | accounts/s | decisions written | peak worker RSS "
        "(MB, largest process / all) |\n|---:|---:|---:|---:|---:|\n"
        f"| {accounts:,} | {seconds:.1f} | {accounts / seconds:,.0f} | {written} "
        f"| {sampler.largest / MB:.0f} / {sampler.total / MB:.0f} |\n\n"
        f"Target: 1,000,000 accounts in ≤ 60 s: {met} ({seconds:.1f} s).\n\n"
        f"Scored: {active_result['accounts']:,} accounts with the active version and "
        f"{draft_result['accounts']:,} with the draft. Accounts cut or closed: "
        f"{_cuts(active_result):,} (active) → {_cuts(draft_result):,} (draft).\n"
    )


def _cuts(summary: dict) -> int:
    return sum(row.get("reduce", 0) + row.get("close", 0) for row in summary["counts"].values())

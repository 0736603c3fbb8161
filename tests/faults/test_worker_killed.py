"""A re-scoring run on real Celery workers, killed with SIGKILL and resumed."""

import os
import signal
import time

import pytest
from django.core.management import call_command
from django.db.models import Count

import scoring
from accounts.models import Account
from decisions import runs
from decisions.audit_trail import audit_chain_report
from decisions.models import LimitDecision, RescoreRun, RunChunk
from policies.models import Policy
from tests.base import ensure_roles, open_the_breaker
from tests.faults import invariants

pytestmark = [pytest.mark.worker, pytest.mark.fault, pytest.mark.django_db(transaction=True)]


def wait_until(condition, seconds: float = 120.0, step: float = 0.02):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(step)
    raise AssertionError(f"not true after {seconds} s")


def chunks_in(run: RescoreRun, state: str) -> int:
    return RunChunk.objects.filter(run=run, state=state).count()


def expected_limits() -> dict[int, int]:
    """What the per-account policy gives every account: the run must match it."""
    compiled = scoring.compile_rules(scoring.parse_policy(Policy.objects.get(state="active").rules))
    result = {}
    for account in Account.objects.select_related("signals"):
        outcome = scoring.evaluate(
            compiled,
            account.signals.as_dict(),
            limit=scoring.cents(account.current_limit),
            status=account.status,
            in_cooldown=account.in_cooldown(),
            good_cycles=account.good_cycles,
        )
        result[account.pk] = outcome.new_limit
    return result


def kill(worker) -> None:
    """SIGKILL the worker and its pool processes at once, mid-task."""
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(10)


def test_a_run_killed_twice_resumes_and_writes_every_decision_once(worker_factory, settings):
    ensure_roles()
    settings.RESCORE_CHUNK_SIZE = 150
    call_command("seed_demo", "--accounts", "12000", "--seed", "3", verbosity=0)
    open_the_breaker()
    before = invariants.book()
    expected = expected_limits()
    moving = sum(
        1
        for pk, cents in expected.items()
        if cents != scoring.cents(Account.objects.get(pk=pk).current_limit)
    )

    worker = worker_factory("first")
    run = runs.run_start(trigger="button")
    total = run.chunks_total
    assert total > 40

    # First kill: in the middle of the compute phase.
    wait_until(lambda: chunks_in(run, "computed") >= 5)
    kill(worker)
    computed = chunks_in(run, "computed")
    assert 0 < computed < total, "killed mid-compute"

    # Two pool processes from here on: chunks run side by side, as in production.
    worker = worker_factory("second", concurrency=2)
    runs.run_resume(run_id=run.pk)  # what the watchdog does for a stalled run

    # Second kill: in the middle of the apply phase.
    wait_until(lambda: chunks_in(run, "applied") >= 5)
    kill(worker)
    applied = chunks_in(run, "applied")
    assert 0 < applied < total, "killed mid-apply"
    assert LimitDecision.objects.filter(run=run).count() < moving

    worker_factory("third", concurrency=2)
    runs.run_resume(run_id=run.pk)
    wait_until(lambda: RescoreRun.objects.get(pk=run.pk).state == "done")

    decisions = LimitDecision.objects.filter(run=run)
    assert decisions.count() == moving, "nothing lost"
    doubled = decisions.values("account").annotate(n=Count("id")).filter(n__gt=1)
    assert not doubled.exists(), "nothing written twice"
    after = {
        pk: scoring.cents(limit) for pk, limit in Account.objects.values_list("pk", "current_limit")
    }
    assert after == expected
    run.refresh_from_db()
    assert run.accounts_done == run.accounts_total == len(expected)
    assert audit_chain_report().broken == []
    invariants.check(before)

"""The circuit breaker holds a portfolio run whose scores moved away from the
baseline snapshot: population stability index beyond the policy's breaker_max_psi
(docs/architecture.md, "Snapshots in a run")."""

import math
import time
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from accounts.models import AccountSignals
from decisions import runs
from decisions.models import RescoreRun
from history import snapshots
from history.models import Snapshot
from policies.models import Policy
from scoring import metrics
from tests.base import make_account, make_signals, open_the_breaker
from tests.decisions.test_runs import apply, compute

CREDIT_SCORES = (560, 600, 640, 680, 700, 720, 740, 760, 800, 840)


def make_book(n: int) -> None:
    for i in range(n):
        make_signals(make_account(), credit_score=CREDIT_SCORES[i % len(CREDIT_SCORES)])


def drift(share_in_ten: int, credit_score: int = 420, every: int = 1) -> None:
    """Some tenths of the book (of every `every`-th account) get this credit score (by
    default their scores fall by more than a bin)."""
    ids = sorted(AccountSignals.objects.values_list("account_id", flat=True))[::every]
    moved = [pk for i, pk in enumerate(ids) if i % 10 < share_in_ten]
    AccountSignals.objects.filter(account_id__in=moved).update(credit_score=credit_score)


def other_day_this_month(day: date) -> date:
    return day - timedelta(days=1) if day.day > 1 else day + timedelta(days=1)


def move_snapshot(snapshot: Snapshot, day: date) -> None:
    snapshots.partition_ensure(day)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE history_accountsnapshot SET taken_on = %s WHERE taken_on = %s",
            [day, snapshot.taken_on],
        )
    Snapshot.objects.filter(pk=snapshot.pk).update(taken_on=day)


def expected_psi(baseline: Snapshot, run: RescoreRun) -> float:
    """The PSI recomputed by hand from the two score distributions."""
    now = [0] * len(baseline.stats["score_bins"])
    for part in run.chunks.values_list("stats", flat=True):
        now = [a + b for a, b in zip(now, part["score_bins"], strict=True)]
    base = baseline.stats["score_bins"]
    total_b, total_n = sum(base), sum(now)
    value = 0.0
    for b, c in zip(base, now, strict=True):
        e, a = max(b / total_b, 0.0001), max(c / total_n, 0.0001)
        value += (a - e) * math.log(a / e)
    return value


@pytest.mark.django_db
def test_a_drifted_book_is_held_with_the_psi_and_the_baseline_named(settings):
    settings.RESCORE_CHUNK_SIZE = 25
    settings.PORTFOLIO_SNAPSHOT_CADENCE = "every-run"
    open_the_breaker()
    make_book(100)
    first = apply(compute(runs.run_start(trigger="button")))
    assert (first.state, first.breaker_reason) == ("done", "")  # nothing to compare with
    baseline = Snapshot.objects.get(run_id=first.pk)
    day = timezone.localdate() - timedelta(days=3)
    move_snapshot(baseline, day)
    baseline.refresh_from_db()

    drift(6)
    held = compute(runs.run_start(trigger="schedule"))
    psi = expected_psi(baseline, held)
    assert psi > 0.25
    assert held.state == "waiting"
    assert held.breaker_reason == (
        f"the scores moved away from the snapshot of {day.isoformat()}: "
        f"PSI {psi:.2f} (the limit is 0.25)"
    )
    # Its own snapshot is complete (the book as it is), and not its own baseline.
    assert Snapshot.objects.get(run_id=held.pk).state == "complete"


@pytest.mark.django_db
def test_a_run_within_the_limit_applies_and_the_limit_is_the_policys(settings):
    settings.RESCORE_CHUNK_SIZE = 25
    settings.PORTFOLIO_SNAPSHOT_CADENCE = "monthly"
    open_the_breaker()
    make_book(100)
    first = apply(compute(runs.run_start(trigger="button")))
    move_snapshot(Snapshot.objects.get(run_id=first.pk), other_day_this_month(timezone.localdate()))
    drift(10, credit_score=640, every=25)  # four accounts in a hundred, to a crowded bin
    within = compute(runs.run_start(trigger="button"))
    baseline = Snapshot.objects.get(run_id=first.pk)
    assert 0.01 < expected_psi(baseline, within) < 0.25
    assert (within.state, within.breaker_reason) == ("applying", "")
    assert not Snapshot.objects.filter(run_id=within.pk).exists()  # monthly: one already
    apply(within)

    # The same shift against a stricter version's limit is held.
    active = Policy.objects.get(state="active")
    active.rules = {**active.rules, "breaker_max_psi": "0.01"}
    active.save()
    held = compute(runs.run_start(trigger="button"))
    assert held.state == "waiting"
    assert held.breaker_reason.endswith("(the limit is 0.01)")


@pytest.mark.django_db
def test_the_baseline_is_the_latest_snapshot_on_or_before_the_versions_activation(settings):
    settings.RESCORE_CHUNK_SIZE = 50
    settings.PORTFOLIO_SNAPSHOT_CADENCE = "every-run"
    active = Policy.objects.get(state="active")
    active.rules = {
        **active.rules,
        "breaker_max_accounts_cut_pct": "100",
        "breaker_max_exposure_cut_pct": "100",
        "breaker_max_psi": "0.01",  # every shift here is held: the reason names the baseline
    }
    today = timezone.localdate()
    active.activated_at = datetime.combine(today - timedelta(days=10), datetime.min.time(), UTC)
    active.save()
    make_book(50)
    taken = []
    # Each run sees the book after the previous one's shift (credit scores far apart:
    # every shift moves the shifted accounts' scores to other bins).
    for days_ago, credit_score in ((20, 420), (12, 800), (5, 660)):
        run = compute(runs.run_start(trigger="button"))
        move_snapshot(Snapshot.objects.get(run_id=run.pk), today - timedelta(days=days_ago))
        taken.append(today - timedelta(days=days_ago))
        RescoreRun.objects.filter(pk=run.pk).update(state="done")  # out of the way
        drift(1, credit_score)
    held = compute(runs.run_start(trigger="button"))
    assert held.state == "waiting"
    # 12 days ago is the latest on or before the activation (10 days ago).
    assert f"the snapshot of {taken[1].isoformat()}:" in held.breaker_reason

    # With no snapshot on or before the activation, the earliest one.
    Policy.objects.filter(pk=active.pk).update(
        activated_at=datetime.combine(today - timedelta(days=30), datetime.min.time(), UTC)
    )
    RescoreRun.objects.filter(pk=held.pk).update(state="done")
    again = compute(runs.run_start(trigger="button"))
    assert f"the snapshot of {taken[0].isoformat()}:" in again.breaker_reason


def wait_until_still(run: RescoreRun, seconds: float = 90.0) -> RescoreRun:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.state not in RescoreRun.MOVING:
            return run
        time.sleep(0.1)
    raise AssertionError(f"run {run.pk} still {run.state} after {seconds} s")


@pytest.fixture
def partitions_dropped_after():
    """A transactional test commits the month partitions it makes, and a flush empties
    tables but drops none: drop them again, for the tests after it."""
    before = {name for name, _month in snapshots.partitions()}
    yield
    with connection.cursor() as cursor:
        for name, _month in snapshots.partitions():
            if name not in before:
                cursor.execute(f"DROP TABLE {name}")


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_worker_holds_a_drifted_run_and_applies_one_within_the_limit(
    worker_factory, settings, partitions_dropped_after
):
    settings.RESCORE_CHUNK_SIZE = 100
    settings.PORTFOLIO_SNAPSHOT_CADENCE = "every-run"
    open_the_breaker()
    make_book(300)
    worker_factory()
    first = wait_until_still(runs.run_start(trigger="button"))
    assert (first.state, first.error) == ("done", "")
    baseline = Snapshot.objects.get(run_id=first.pk)
    assert (baseline.state, baseline.accounts) == ("complete", 300)
    day = timezone.localdate() - timedelta(days=2)
    move_snapshot(baseline, day)

    within = wait_until_still(runs.run_start(trigger="schedule"))
    assert (within.state, within.breaker_reason) == ("done", "")
    assert Snapshot.objects.get(run_id=within.pk).state == "complete"

    drift(7)
    held = wait_until_still(runs.run_start(trigger="schedule"))
    baseline.refresh_from_db()
    parts = held.chunks.values_list("stats__score_bins", flat=True)
    psi = metrics.psi(baseline.stats["score_bins"], [sum(c) for c in zip(*parts, strict=True)])
    assert psi > 0.25
    assert held.state == "waiting"
    assert held.breaker_reason == (
        f"the scores moved away from the snapshot of {day.isoformat()}: "
        f"PSI {psi:.2f} (the limit is 0.25)"
    )
    assert not held.decisions_written

"""Re-scores asked for by signal changes: requested in the changing transaction,
carried out in batches by the worker's task (decisions.rescore_requests.rescore_requested)."""

import threading
from decimal import Decimal
from unittest import mock

import pytest
from django.db import connections, transaction

from accounts import roles
from accounts.models import AccountSignals
from config import queue
from decisions import chunks, rescore_requests, runs, signal_intake, tasks
from decisions.models import LimitDecision, RescoreRequest, RescoreRun
from policies import services as policy_services
from tests.base import make_account, make_signals, make_user

pytestmark = pytest.mark.django_db


def shopper(**fields):
    """An account whose new signals (14 applications in 30 days) cut its line."""
    account = make_account(current_limit=Decimal("8000.00"), score=612, **fields)
    make_signals(account, credit_score=612, lender_applications_30d=14, lender_applications_90d=15)
    return account


def request(*accounts) -> None:
    with transaction.atomic():
        signal_intake.rescore_accounts_request(account.pk for account in accounts)


def test_a_signal_re_score_decides_for_the_requested_account_only():
    changed, untouched = shopper(), shopper()
    request(changed)
    [run_id] = tasks.rescore_requested()
    run = RescoreRun.objects.get(pk=run_id)
    assert run.trigger == "signal" and run.state == "done" and run.accounts_total == 1
    assert run.reduced == 1 and run.exposure_before == Decimal("8000.00")
    decision = changed.decisions.get()
    assert decision.run_id == run.pk and decision.source == "run"
    assert decision.action == "reduce" and decision.new_limit < Decimal("8000.00")
    assert "MULTI_LENDING" in decision.reasons
    assert not untouched.decisions.exists()
    assert not RescoreRequest.objects.exists()


def test_several_requests_for_an_account_give_one_re_score():
    account = shopper()
    for _ in range(3):
        request(account)
    assert RescoreRequest.objects.count() == 3
    assert len(tasks.rescore_requested()) == 1
    assert account.decisions.count() == 1
    assert tasks.rescore_requested() == []  # nothing left to do


def test_requests_are_carried_out_in_batches_oldest_first():
    accounts = [shopper() for _ in range(5)]
    for account in reversed(accounts):  # the newest account asks first
        request(account)
    done = rescore_requests.rescore_requested(batch=2)
    batches = [
        sorted(LimitDecision.objects.filter(run_id=pk).values_list("account_id", flat=True))
        for pk in done
    ]
    newest_first = [account.pk for account in reversed(accounts)]
    assert batches == [sorted(newest_first[:2]), sorted(newest_first[2:4]), newest_first[4:]]
    assert all(account.decisions.count() == 1 for account in accounts)


def test_one_task_takes_batches_for_a_while_then_hands_over(
    django_capture_on_commit_callbacks, monkeypatch
):
    """Under a steady feed the task must let the worker run other tasks."""
    queued: list[tuple] = []
    monkeypatch.setattr(queue, "send", lambda name, *args: queued.append((name, *args)))
    accounts = [shopper() for _ in range(3)]
    for account in accounts:
        request(account)
    done = rescore_requests.rescore_requested(batch=1, seconds=0)
    assert len(done) == 1  # one batch, then a successor queued
    assert queued == [("decisions.tasks.rescore_requested",)]
    assert RescoreRequest.objects.count() == 2
    assert len(rescore_requests.rescore_requested()) == 1  # the successor: both in one batch
    assert all(account.decisions.count() == 1 for account in accounts)


def test_a_second_task_leaves_the_batches_to_the_one_taking_them():
    account = shopper()
    request(account)
    holding, release = threading.Event(), threading.Event()

    def other_task() -> None:  # another worker process, inside a batch
        try:
            with connections["default"].cursor() as cursor:
                cursor.execute("SELECT pg_advisory_lock(%s)", [rescore_requests.RESCORE_BATCH_LOCK])
                holding.set()
                release.wait(30)
                cursor.execute(
                    "SELECT pg_advisory_unlock(%s)", [rescore_requests.RESCORE_BATCH_LOCK]
                )
        finally:
            connections["default"].close()

    thread = threading.Thread(target=other_task)
    thread.start()
    assert holding.wait(30)
    try:
        assert rescore_requests.rescore_requested() == []  # it looks again after its batch
    finally:
        release.set()
        thread.join()
    assert RescoreRequest.objects.filter(account=account).exists()
    assert len(rescore_requests.rescore_requested()) == 1


def test_a_change_rolled_back_asks_for_nothing():
    account = shopper()
    with pytest.raises(RuntimeError), transaction.atomic():
        signal_intake.rescore_accounts_request([account.pk])
        raise RuntimeError("the signal change failed")
    assert not RescoreRequest.objects.exists()


def test_a_batch_that_fails_leaves_its_requests_for_the_next_task():
    account = shopper()
    request(account)
    with (
        mock.patch("decisions.rescore_requests.load_accounts", side_effect=ValueError("bad row")),
        pytest.raises(ValueError, match="bad row"),
    ):
        tasks.rescore_requested()
    assert RescoreRequest.objects.filter(account=account).exists()
    assert not RescoreRun.objects.exists()  # the run row went with the transaction
    assert len(tasks.rescore_requested()) == 1
    assert account.decisions.count() == 1


def test_the_kill_switch_holds_a_signal_cut():
    dave = make_user("dave", roles.POLICY_ADMIN)
    policy_services.kill_switch_set(actor=dave, paused=True, reason="Bureau feed looks wrong.")
    account = shopper()
    request(account)
    run = RescoreRun.objects.get(pk=tasks.rescore_requested()[0])
    assert run.held_cuts == 1 and not account.decisions.exists()
    account.refresh_from_db()
    assert account.current_limit == Decimal("8000.00")


def test_a_burst_of_changes_queues_one_task_until_it_starts(
    django_capture_on_commit_callbacks, monkeypatch
):
    queued: list[tuple] = []
    monkeypatch.setattr(queue, "send", lambda name, *args: queued.append((name, *args)))
    account = shopper()
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            request(account)
    assert queued == [("decisions.tasks.rescore_requested",)]  # the later changes found it queued
    rescore_requests.rescore_requested()  # the task starts: later changes need a task of their own
    with django_capture_on_commit_callbacks(execute=True):
        request(account)
    assert len(queued) == 2


def test_the_beat_looks_for_requests_every_minute(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["rescore-requested"]
    assert entry["task"] == "decisions.tasks.rescore_requested"
    assert entry["schedule"].total_seconds() == 60


def test_a_signal_run_reads_on_the_runs_pages(client):
    account = shopper()
    request(account)
    [run_id] = tasks.rescore_requested()
    nightly = runs.run_start(trigger="schedule")
    request(shopper())  # waits: no task has run yet
    client.force_login(make_user("alice", roles.RISK_ANALYST))
    # The batches have a tab of their own: a busy feed would push the nightly runs away.
    listing = client.get("/runs/").content.decode()
    assert f"#{nightly.pk}<" in listing and f"#{run_id}<" not in listing
    listing = client.get("/runs/?show=signals").content.decode()
    assert f"#{run_id}<" in listing and f"#{nightly.pk}<" not in listing
    assert "1 account, since" in listing  # the one waiting
    assert "Raised / reduced / closed / reopened</dt><dd>0 / 1 / 0 / 0" in listing
    page = client.get(f"/runs/{run_id}/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "1 account whose signals changed" in text and "the whole portfolio" not in text
    assert 'class="state state-done"' in text


def test_a_run_computed_before_a_signal_re_score_does_not_overwrite_it():
    """The nightly run scored the account on its old signals; a signal re-score then
    cut it. The run's apply leaves the fresher decision and score alone."""
    account = make_account(current_limit=Decimal("8000.00"), score=700)
    make_signals(account, credit_score=700)
    run = runs.run_start(trigger="schedule")
    for index in run.chunks.values_list("index", flat=True):
        chunks.run_compute_chunk(run_id=run.pk, index=index)
    AccountSignals.objects.filter(account=account).update(
        lender_applications_30d=14, lender_applications_90d=15
    )
    request(account)
    tasks.rescore_requested()
    account.refresh_from_db()
    after_signals = (account.score, account.band, account.current_limit, account.version)
    for index in run.chunks.values_list("index", flat=True):
        chunks.run_apply_chunk(run_id=run.pk, index=index)
    account.refresh_from_db()
    assert (account.score, account.band, account.current_limit, account.version) == after_signals
    assert account.decisions.get().action == "reduce"


def test_a_signal_re_score_raises_nothing_and_counts_no_cycle_the_nightly_run_does():
    """Gradual restoration is per cycle: updates between nightly runs, however many,
    do not bring a raise forward; bad news between them still cuts at once."""
    account = make_account(current_limit=Decimal("8000.00"), score=700, good_cycles=2)
    make_signals(account, credit_score=700)
    for _ in range(3):
        request(account)
        tasks.rescore_requested()
    account.refresh_from_db()
    assert not account.decisions.exists() and account.good_cycles == 2
    run = runs.run_start(trigger="schedule")
    for index in run.chunks.values_list("index", flat=True):
        chunks.run_compute_chunk(run_id=run.pk, index=index)
        chunks.run_apply_chunk(run_id=run.pk, index=index)
    raised = account.decisions.get()
    assert raised.action == "raise" and raised.run_id == run.pk

"""Re-scores asked for by signal changes: requested in the changing transaction,
carried out in batches by the worker's task (decisions.runs.rescore_requested)."""

from decimal import Decimal
from unittest import mock

import pytest
from django.db import transaction

from accounts import roles
from decisions import runs, tasks
from decisions.models import RescoreRequest, RescoreRun
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
        runs.rescore_accounts_request(account.pk for account in accounts)


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
    for account in accounts:
        request(account)
    done = runs.rescore_requested(batch=2)
    batches = [RescoreRun.objects.get(pk=pk).accounts_total for pk in done]
    assert batches == [2, 2, 1]
    assert all(account.decisions.count() == 1 for account in accounts)


def test_a_change_rolled_back_asks_for_nothing():
    account = shopper()
    with pytest.raises(RuntimeError), transaction.atomic():
        runs.rescore_accounts_request([account.pk])
        raise RuntimeError("the signal change failed")
    assert not RescoreRequest.objects.exists()


def test_a_batch_that_fails_leaves_its_requests_for_the_next_task():
    account = shopper()
    request(account)
    with (
        mock.patch("decisions.runs.load_accounts", side_effect=ValueError("bad row")),
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
    monkeypatch.setattr(tasks.rescore_requested, "delay", lambda: queued.append(()))
    account = shopper()
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            request(account)
    assert len(queued) == 1  # the later changes found it still queued
    runs.rescore_requested()  # the task starts: later changes need a task of their own
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

"""The Celery tasks, called in-process: each takes ids and calls a service."""

import time
from datetime import timedelta
from unittest import mock

import pytest
from django.conf import settings
from django.utils import timezone

import scoring
from config.celery import app
from decisions import tasks
from decisions.models import ReasonCode, RescoreRun, RunChunk
from tests.base import make_account, make_signals

pytestmark = pytest.mark.django_db


def nightly_run() -> RescoreRun:
    run_id = tasks.nightly_rescore()
    assert run_id is not None, "no run was started"
    return RescoreRun.objects.get(pk=run_id)


def test_the_nightly_run_is_on_the_beat_schedule():
    entry = settings.CELERY_BEAT_SCHEDULE["nightly-rescore"]
    assert entry["task"] == "decisions.tasks.nightly_rescore"
    assert settings.CELERY_BEAT_SCHEDULE["resume-stalled-runs"]["task"] == (
        "decisions.tasks.resume_stalled_runs"
    )


def test_the_nightly_task_starts_a_portfolio_run_and_skips_when_one_is_going():
    make_signals(make_account())
    run = nightly_run()
    assert run.trigger == "schedule" and run.account is None
    assert tasks.nightly_rescore() is None


def wait_while_moving(run: RescoreRun, seconds: float = 60.0) -> None:
    """Wait, at most `seconds`, for the run to stop moving; `run` is read again."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.state not in RescoreRun.MOVING:
            return
        time.sleep(0.05)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_watchdog_resumes_a_run_that_stopped_moving(worker_factory):
    make_signals(make_account())
    run = nightly_run()
    app.control.purge()  # its chunk's message is lost before any worker took it
    RescoreRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(hours=1))
    worker_factory()
    assert tasks.resume_stalled_runs() == [run.pk]
    # The worker gets the run's work again from the watchdog: it scores and applies it.
    wait_while_moving(run)
    assert (run.state, run.error, run.accounts_done) == ("done", "", 1)
    assert RunChunk.objects.get(run=run).state == "applied"
    assert tasks.resume_stalled_runs() == []  # finished: nothing left for the watchdog


def test_a_fresh_run_is_left_alone_by_the_watchdog():
    make_signals(make_account())
    tasks.nightly_rescore()
    assert tasks.resume_stalled_runs() == []


def test_a_chunk_that_crashes_marks_its_run_failed_with_the_error():
    make_signals(make_account())
    run = nightly_run()
    with (
        mock.patch("decisions.chunks.load_chunk", side_effect=ValueError("bad row 42")),
        pytest.raises(ValueError),
    ):
        tasks.compute_chunk(run.pk, 0)
    run.refresh_from_db()
    assert run.state == "failed"
    assert run.error == "chunk 0: ValueError: bad row 42"
    assert RunChunk.objects.get(run=run).state == "pending"


def test_every_reason_the_policy_can_give_is_in_the_catalogue_in_both_languages():
    codes = {c.reason for c in scoring.SCORECARD} | set(scoring.TRIGGER_ORDER)
    codes |= {scoring.GOOD_HISTORY, scoring.REOPENED}
    codes |= {"MANUAL_OVERRIDE", "INCIDENT_REVERT", "FROZEN", "UNFROZEN", "APPEAL_OUTCOME"}
    codes |= {"VERIFIED_CAPACITY"}
    catalogue = {reason.code: reason for reason in ReasonCode.objects.all()}
    assert codes <= set(catalogue), codes - set(catalogue)
    for code in codes:
        reason = catalogue[code]
        for audience in ("staff", "customer"):
            assert reason.text(audience, "en") and reason.text(audience, "zh-hans"), code
        if reason.kind == "adverse":
            assert reason.text("suggestion", "en") and reason.text("suggestion", "zh-hans"), code

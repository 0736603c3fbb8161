"""A run that stops on an error says so in plain words, shows what it wrote, and is
retried from where it stopped without touching what it applied.

Chunks are driven in the test process; the page is read as the analyst reads it.
"""

from __future__ import annotations

import re
from decimal import Decimal
from unittest import mock

import psycopg
import pytest
from billiard.exceptions import SoftTimeLimitExceeded
from django.core.management import call_command
from django.db import OperationalError
from django.db.models import Count, Sum
from django.urls import reverse
from kombu.exceptions import OperationalError as KombuOperationalError
from redis.exceptions import ConnectionError as RedisConnectionError

from accounts import roles
from accounts.models import Account
from config import failures
from decisions import errors, runs, services, tasks
from decisions.audit_trail import audit_chain_report
from decisions.models import LimitDecision, RescoreRun, RunChunk
from demo.stories import STORY_ACCOUNTS
from tests.base import make_user, open_the_breaker

pytestmark = pytest.mark.django_db


@pytest.fixture
def book(settings):
    settings.RESCORE_CHUNK_SIZE = 500
    call_command(
        "seed_demo", "--accounts", str(2000 - len(STORY_ACCOUNTS)), "--seed", "11", verbosity=0
    )
    open_the_breaker()


@pytest.fixture
def alice():
    from django.contrib.auth.models import User

    return User.objects.get(username="alice")


def open_exposure() -> Decimal:
    """The checker: summed straight off the accounts, apart from the run's own counting."""
    total = Account.objects.filter(status="active").aggregate(total=Sum("current_limit"))["total"]
    return total or Decimal("0.00")


def compute_all(run: RescoreRun) -> None:
    for index in run.chunks.values_list("index", flat=True):
        tasks.compute_chunk(run.pk, index)
    run.refresh_from_db()


def apply_left(run: RescoreRun) -> None:
    for index in run.chunks.filter(state="computed").values_list("index", flat=True):
        tasks.apply_chunk(run.pk, index)
    run.refresh_from_db()


def page(client, run: RescoreRun) -> str:
    text = client.get(reverse("decisions:run", args=[run.pk])).content.decode()
    return re.sub(r"\s+", " ", text)


def fail_on_third_call(original):
    calls = {"n": 0}

    def write(changes, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OperationalError("terminating connection due to administrator command")
        return original(changes, **kwargs)

    return write


def test_a_run_stopped_mid_apply_says_what_it_wrote_and_retry_finishes_it(book, alice, client):
    before = open_exposure()
    run = runs.run_start(trigger="button", started_by=alice)
    compute_all(run)
    assert run.state == "applying" and run.chunks_total == 4
    proposed = run.raised + run.reduced + run.closed + run.reopened

    with (
        mock.patch(
            "decisions.chunks.decisions_write", fail_on_third_call(services.decisions_write)
        ),
        pytest.raises(OperationalError),
    ):
        apply_left(run)
    run.refresh_from_db()
    assert run.state == "failed"
    assert RunChunk.objects.filter(run=run, state="applied").count() == 2
    written = LimitDecision.objects.filter(run=run).count()
    assert 0 < written == run.decisions_written < proposed
    # What the run says it changed holds for the accounts' own numbers.
    assert run.exposure_applied == open_exposure() != before

    client.force_login(alice)
    body = page(client, run)
    assert "The run stopped" in body
    assert "The database could not be reached or closed the connection." in body
    assert (
        f"It stopped while writing the decisions: 2 of 4 chunks were applied "
        f"({written:,} decisions written), the others were not." in body
    )
    assert "terminating connection due to administrator command" in body  # folded away
    assert re.search(r"<summary>\s*Technical details\s*</summary>", body)
    assert "(applied before it stopped)" in body
    assert "→ ¥0.00" not in body
    assert "Retry the 2 chunks left" in body

    with mock.patch("config.queue.send") as enqueue:
        response = client.post(reverse("decisions:run_retry", args=[run.pk]), follow=True)
    assert "Retrying: the run goes on from where it stopped." in response.content.decode()
    assert sorted(call.args for call in enqueue.call_args_list) == [
        ("decisions.tasks.apply_chunk", run.pk, 2),
        ("decisions.tasks.apply_chunk", run.pk, 3),
    ]
    run.refresh_from_db()
    assert run.state == "applying" and run.error == ""
    apply_left(run)

    assert run.state == "done"
    decisions = LimitDecision.objects.filter(run=run)
    assert not decisions.values("account").annotate(n=Count("id")).filter(n__gt=1).exists()
    assert decisions.count() == run.decisions_written == proposed - run.skipped
    assert run.exposure_applied == open_exposure()
    assert audit_chain_report().broken == []
    body = page(client, run)
    assert "Retried after 1 earlier stop" in body
    assert "Retried by alice" in body


def test_a_run_stopped_while_scoring_wrote_nothing_and_says_so(book, alice, client):
    before = open_exposure()
    run = runs.run_start(trigger="button", started_by=alice)
    with (
        mock.patch("decisions.chunks.load_chunk", side_effect=TypeError("copy() takes 2 args")),
        pytest.raises(TypeError),
    ):
        tasks.compute_chunk(run.pk, 0)
    tasks.compute_chunk(run.pk, 1)  # a chunk in flight finds the run stopped: does nothing
    run.refresh_from_db()
    assert run.state == "failed" and run.accounts_done == 0

    client.force_login(alice)
    body = page(client, run)
    assert "An error in the program stopped it." in body
    assert "It stopped while scoring the accounts, before writing anything" in body
    assert "(nothing applied)" in body and "→ ¥0.00" not in body
    runs_list = re.sub(r"\s+", " ", client.get(reverse("decisions:runs")).content.decode())
    assert "(nothing applied)" in runs_list and "→ ¥0.00" not in runs_list
    assert open_exposure() == before

    with mock.patch("config.queue.send") as enqueue:
        runs.run_retry(run_id=run.pk, actor=alice)
    assert sorted(call.args[2] for call in enqueue.call_args_list) == [0, 1, 2, 3]
    compute_all(run)
    apply_left(run)
    assert run.state == "done" and run.exposure_applied == open_exposure()


def test_only_a_failed_run_is_retried_and_only_by_those_who_run_them(book, alice, client):
    run = runs.run_start(trigger="button", started_by=alice)
    with pytest.raises(errors.DecisionError, match=r"Only a failed run can be retried\."):
        runs.run_retry(run_id=run.pk, actor=alice)
    runs.run_fail(run_id=run.pk, error=ValueError("boom"), phase="compute", chunk=0)
    frank = make_user("frank-retry", roles.AUDITOR)
    client.force_login(frank)
    assert "Retry the" not in page(client, run)
    assert client.post(reverse("decisions:run_retry", args=[run.pk])).status_code == 403
    assert RescoreRun.objects.get(pk=run.pk).state == "failed"
    with pytest.raises(errors.DecisionError, match="cannot retry"):
        runs.run_retry(run_id=run.pk, actor=frank)


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (OperationalError("server closed the connection"), failures.DATABASE),
        (psycopg.OperationalError("connection refused"), failures.DATABASE),
        (psycopg.errors.AdminShutdown("terminating connection"), failures.DATABASE),
        (RedisConnectionError("Connection refused"), failures.QUEUE),
        (KombuOperationalError("Error 111 connecting"), failures.QUEUE),
        (SoftTimeLimitExceeded(), failures.TIMEOUT),
        (psycopg.errors.NumericValueOutOfRange("numeric field overflow"), failures.DATA),
        (TypeError("copy() takes 2 positional arguments"), failures.PROGRAM),
    ],
)
def test_each_kind_of_fault_has_its_plain_words(error, kind):
    assert failures.failure_kind(error) == kind
    assert str(failures.PLAIN_WORDS[kind])


def test_a_run_stopped_mid_apply_can_be_reverted_as_it_stands(book, alice, client):
    before = open_exposure()
    run = runs.run_start(trigger="button", started_by=alice)
    compute_all(run)
    with (
        mock.patch(
            "decisions.chunks.decisions_write", fail_on_third_call(services.decisions_write)
        ),
        pytest.raises(OperationalError),
    ):
        apply_left(run)
    run.refresh_from_db()
    written = run.decisions_written
    assert run.state == "failed" and written > 0 and open_exposure() != before

    client.force_login(alice)
    body = page(client, run)
    assert "Revert this run" in body
    assert (
        f"The run stopped part-way: the revert restores the {written} decisions it wrote, "
        "and the chunks it had not applied are never applied." in body
    )
    reason = "The bureau feed was wrong; undo what was written."
    with mock.patch("config.queue.send") as sent:
        answer = client.post(
            reverse("decisions:run_revert", args=[run.pk]),
            {"justification": reason, "confirm": "on"},
        )
    assert answer.status_code == 302
    sent.assert_called_once_with("decisions.tasks.revert_run", run.pk, alice.pk, reason)
    tasks.revert_run(run.pk, alice.pk, reason)  # what the worker does with it

    run.refresh_from_db()
    assert run.state == "reverted"
    assert open_exposure() == before, "every account the run changed is back"
    restores = LimitDecision.objects.filter(reverts__run=run)
    assert restores.count() == written
    assert not RunChunk.objects.filter(run=run, result__isnull=False).exists()
    assert audit_chain_report().broken == []
    with pytest.raises(errors.DecisionError, match="Only a failed run can be retried"):
        runs.run_retry(run_id=run.pk, actor=alice)
    # A redelivered revert task finds nothing left to do.
    tasks.revert_run(run.pk, alice.pk, reason)
    assert LimitDecision.objects.filter(reverts__run=run).count() == written


def test_a_run_that_wrote_nothing_is_not_offered_a_revert(book, alice, client):
    run = runs.run_start(trigger="button", started_by=alice)
    with (
        mock.patch("decisions.chunks.load_chunk", side_effect=OperationalError("gone")),
        pytest.raises(OperationalError),
    ):
        compute_all(run)
    run.refresh_from_db()
    assert run.state == "failed" and run.decisions_written == 0
    client.force_login(alice)
    assert "Revert this run" not in page(client, run)
    with pytest.raises(errors.DecisionError, match="Only a finished run"):
        runs.run_revert_request(
            run_id=run.pk, actor=alice, justification="Nothing to undo here at all."
        )

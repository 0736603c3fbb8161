"""The timeliness page's figures for hand-made notices, and the dead-letter list with its
retry: who may, what a refusal says, what is recorded."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts import roles
from decisions.models import Notice
from notices import selectors
from notices.models import NoticeRetry
from tests.base import make_account, make_signals, make_user
from tests.notices.factories import cut, notice_for, pending_notice

pytestmark = pytest.mark.django_db

DAY1 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DAY2 = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)
NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)


def decided(at: datetime, reasons: tuple[str, ...]):
    account = make_account()
    make_signals(account)
    return cut(account, reasons=reasons, at=at)


def hand_made_notices() -> None:
    """Day 1: on time, late, failed, not required. Day 2: late and undelivered, pending,
    on time with two reasons."""
    due1 = DAY1 + timedelta(days=10)
    notice_for(
        decided(DAY1, ("MULTI_LENDING",)),
        state="delivered",
        due_by=due1,
        delivered_at=DAY1 + timedelta(hours=1),
    )
    notice_for(
        decided(DAY1, ("MULTI_LENDING",)),
        state="delivered",
        due_by=due1,
        delivered_at=due1 + timedelta(seconds=1),
    )
    notice_for(decided(DAY1, ("OVERDUE_NOW",)), state="dead", due_by=due1)
    notice_for(decided(DAY1, ("OVERDUE_NOW",)), state="not_required", kind="exempt", due_by=due1)
    notice_for(
        decided(DAY2, ("HIGH_UTILIZATION",)), state="retrying", due_by=NOW - timedelta(hours=1)
    )
    notice_for(
        decided(DAY2, ("HIGH_UTILIZATION",)), state="pending", due_by=NOW + timedelta(days=1)
    )
    notice_for(
        decided(DAY2, ("MULTI_LENDING", "HIGH_UTILIZATION")),
        state="delivered",
        due_by=NOW,
        delivered_at=NOW,  # exactly at the due-by time: still within the clock
    )
    # Outside the period: not counted.
    notice_for(decided(DAY1 - timedelta(days=5), ("MULTI_LENDING",)), state="dead", due_by=NOW)


def counts(row) -> tuple[int, int, int, int, int]:
    return (row.on_time, row.late, row.pending, row.failed, row.not_required)


def test_the_timeliness_figures_per_day_and_per_reason():
    hand_made_notices()
    figures = selectors.timeliness(start=DAY1.date(), end=DAY2.date(), now=NOW)
    assert [(row.key, counts(row)) for row in figures.days] == [
        ("2026-03-02", (1, 1, 0, 1, 1)),
        ("2026-03-03", (1, 1, 1, 0, 0)),
    ]
    assert counts(figures.totals) == (2, 2, 1, 1, 1)
    by_reason = {row.key: counts(row) for row in figures.reasons}
    assert by_reason == {
        "MULTI_LENDING": (2, 1, 0, 0, 0),
        "HIGH_UTILIZATION": (1, 1, 1, 0, 0),
        "OVERDUE_NOW": (0, 0, 0, 1, 1),
    }


def test_the_page_shows_the_figures_in_a_table_and_a_chart(client):
    hand_made_notices()
    client.force_login(make_user("frank", roles.AUDITOR))
    response = client.get(
        reverse("notices:timeliness"), {"start": "2026-03-02", "end": "2026-03-03"}
    )
    assert response.status_code == 200
    figures = response.context["figures"]
    # Read today: the notice that was not yet due on NOW is late by now.
    assert counts(figures.totals) == (2, 3, 0, 1, 1)
    chart = response.context["chart"]
    assert chart["labels"] == ["2026-03-02", "2026-03-03"]
    assert [series["data"] for series in chart["series"]][3] == [1, 0]  # failed
    body = response.content.decode()
    assert 'data-chart="timeliness-data"' in body
    assert '<th scope="row">2026-03-02</th>' in body
    assert "MULTI_LENDING" in body
    assert "2 failed notices wait in the dead letters." in body


def test_a_period_that_ends_before_it_starts_is_refused_with_a_message(client):
    client.force_login(make_user("frank", roles.AUDITOR))
    response = client.get(
        reverse("notices:timeliness"), {"start": "2026-03-05", "end": "2026-03-01"}
    )
    assert response.status_code == 200
    assert "The period must start on or before its last day." in response.content.decode()
    assert response.context["figures"].end == timezone.now().date()  # the default period


def test_the_navigation_links_the_notices_for_those_who_may_open_them(client):
    for username, role, shown in (
        ("alice", roles.RISK_ANALYST, True),
        ("frank", roles.AUDITOR, True),
        ("bob", roles.APPEAL_HANDLER, False),
    ):
        client.force_login(make_user(username, role))
        nav = [item["url"] for item in client.get(reverse("my_work")).context["nav_items"]]
        assert (reverse("notices:timeliness") in nav) is shown, username


def test_the_dead_letter_list_and_its_retry(client):
    dead = pending_notice(
        reference="LD-UNREACHABLE", state="dead", attempts=1, last_error="HTTP 422: no contact"
    )
    pending = pending_notice()
    alice = make_user("alice", roles.RISK_ANALYST)
    client.force_login(alice)
    page = client.get(reverse("notices:dead_letters"))
    assert list(page.context["notices"]) == [dead]
    body = page.content.decode()
    assert "LD-UNREACHABLE" in body and "HTTP 422: no contact" in body
    assert reverse("notices:retry", args=[dead.pk]) in body
    assert reverse("notices:retry", args=[pending.pk]) not in body

    before = timezone.now()
    response = client.post(reverse("notices:retry", args=[dead.pk]), follow=True)
    assert "The notice to LD-UNREACHABLE is queued to be sent again." in response.content.decode()
    dead.refresh_from_db()
    assert dead.state == Notice.State.PENDING and dead.attempts == 0
    assert dead.next_attempt_at is None
    [retry] = NoticeRetry.objects.all()
    assert retry.notice == dead and retry.actor == alice and retry.at >= before
    assert (retry.attempts_before, retry.last_error) == (1, "HTTP 422: no contact")
    assert list(client.get(reverse("notices:dead_letters")).context["notices"]) == []


def test_only_a_dead_notice_can_be_sent_again(client):
    carol = make_user("carol", roles.APPEAL_LEAD)
    client.force_login(carol)
    for state in ("pending", "retrying", "delivered", "not_required"):
        notice = pending_notice(state=state, attempts=2)
        response = client.post(reverse("notices:retry", args=[notice.pk]), follow=True)
        assert "Only a failed notice can be sent again" in response.content.decode()
        changed = Notice.objects.get(pk=notice.pk)
        assert (changed.state, changed.attempts) == (state, 2)
    assert not NoticeRetry.objects.exists()


def test_a_retry_through_htmx_answers_with_the_row(client):
    dead = pending_notice(state="dead", attempts=8, last_error="HTTP 503")
    delivered = pending_notice(state="delivered")
    client.force_login(make_user("alice", roles.RISK_ANALYST))
    response = client.post(reverse("notices:retry", args=[dead.pk]), headers={"HX-Request": "true"})
    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith(f'<tr id="notice-{dead.pk}"')
    assert "Queued to be sent again." in body
    refused = client.post(
        reverse("notices:retry", args=[delivered.pk]), headers={"HX-Request": "true"}
    )
    assert "Only a failed notice can be sent again; this one is delivered." in (
        refused.content.decode()
    )


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_retried_dead_letter_is_delivered_by_the_worker(client, receiver, worker_factory):
    dead = pending_notice(state="dead", attempts=8, last_error="HTTP 503")
    worker_factory()  # after `receiver`: the worker gets its URL and secret
    client.force_login(make_user("alice", roles.RISK_ANALYST))
    assert client.post(reverse("notices:retry", args=[dead.pk])).status_code == 302
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        dead.refresh_from_db()
        if dead.state == Notice.State.DELIVERED:
            break
        time.sleep(0.2)
    assert dead.state == Notice.State.DELIVERED, dead.last_error
    [record] = receiver.records()
    assert record["idempotency_key"] == dead.idempotency_key
    assert record["sha256"] == dead.content_sha256

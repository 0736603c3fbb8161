from decimal import Decimal
from unittest import mock

import pytest
from django.urls import reverse
from kombu.exceptions import OperationalError

from accounts import roles
from decisions.models import WorkerHeartbeat
from tests.base import BaseTestCase, make_account, make_user


class OverviewTests(BaseTestCase):
    def test_it_shows_accounts_by_status_and_band_and_the_open_exposure(self):
        make_account(current_limit=Decimal("12000.00"), band="A")
        make_account(current_limit=Decimal("3000.50"), band="C")
        make_account(current_limit=Decimal("0.00"), band="E", status="closed")
        make_account(current_limit=Decimal("5000.00"), band="C", status="frozen")
        self.client.force_login(self.alice)
        response = self.client.get(reverse("overview"))
        figures = response.context["figures"]
        assert figures.accounts == 4
        assert figures.by_status == {"active": 2, "frozen": 1, "closed": 1}
        assert figures.by_band == {"A": 1, "B": 0, "C": 2, "D": 0, "E": 1}
        assert figures.exposure == Decimal("15000.50")
        self.assertContains(response, "¥15,000.50")

    def test_the_worker_panel_says_when_the_worker_last_answered(self):
        from django.utils import timezone

        WorkerHeartbeat.objects.create(
            source="beat", worker="worker@host", requested_at=timezone.now(), request_id="r1"
        )
        self.client.force_login(self.alice)
        response = self.client.get(reverse("worker_status"), headers={"HX-Request": "true"})
        self.assertContains(response, "Running.")
        self.assertContains(response, "worker@host")

    def test_a_stale_heartbeat_is_reported_as_such(self):
        from datetime import timedelta

        from django.utils import timezone

        old = timezone.now() - timedelta(hours=1)
        WorkerHeartbeat.objects.create(
            source="beat",
            worker="worker@host",
            requested_at=old,
            recorded_at=old,
            request_id="r1",
        )
        self.client.force_login(self.alice)
        response = self.client.get(reverse("worker_status"))
        self.assertContains(response, "No recent heartbeat.")

    def test_the_check_must_be_posted(self):
        self.client.force_login(self.alice)
        assert self.client.get(reverse("worker_check")).status_code == 405


# Transactional: outside a transaction delay_on_commit sends at once, as in
# production, so the broker error reaches the view.
@pytest.mark.django_db(transaction=True)
def test_the_check_degrades_with_a_message_when_redis_is_down(client, caplog):
    client.force_login(make_user("alice", roles.RISK_ANALYST))
    broken = mock.patch(
        "decisions.tasks.record_heartbeat.delay",
        side_effect=OperationalError("Error 111 connecting to 127.0.0.1:6379"),
    )
    with broken:
        response = client.post(reverse("worker_check"), headers={"HX-Request": "true"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "The task queue (Redis) cannot be reached" in body
    assert "Heartbeat requested" not in body
    assert "broker cannot be reached" in caplog.text


class OverviewPanelsTests(BaseTestCase):
    def test_changes_per_day_top_reasons_appeals_runs_and_the_watch_list(self):
        from datetime import timedelta

        from django.utils import timezone

        from appeals.models import Appeal
        from decisions import overrides, runs

        # Two overrides today: the tally counts them by day, action and reason.
        for limit in ("6000", "2000"):
            account = make_account(current_limit=Decimal("5000.00"), score=780, band="A")
            overrides.account_override_limit(
                account_id=account.pk,
                expected_version=account.version,
                new_limit=Decimal(limit),
                actor=self.alice,
                justification="Verified by phone with the customer.",
            )
        # Open appeals: one past its SLA, one due in 3 hours; a closed one does not count.
        now = timezone.now()
        for due, state in ((-2, "new"), (3, "in_review"), (-5, "closed")):
            Appeal.objects.create(
                account=account,
                channel="hotline",
                category="reason",
                statement="Why was my limit cut?",
                state=state,
                sla_due=now + timedelta(hours=due),
            )
        # Watch-list: 705 is 5 points above band B's cut-off (700); 760 is not close.
        near = make_account(reference="NEAR-B", score=705, current_limit=Decimal("30000.00"))
        make_account(reference="FAR", score=760, current_limit=Decimal("90000.00"))
        run = runs.run_start(trigger="button", started_by=self.alice)

        self.client.force_login(self.alice)
        # One per panel, whatever the book's size; 2 are the navigation's My work count.
        # 16: the card of appeals overturned in 90 days is one grouped, indexed query.
        with self.assertNumQueries(16):
            response = self.client.get(reverse("overview"))
        changes = response.context["changes"]
        today = timezone.localdate().isoformat()
        assert changes.days[-1] == today and len(changes.days) == 30
        assert {a: c[-1] for a, _l, c in changes.by_action} == {"set": 2}
        self.assertContains(response, 'id="changes-data"')  # the chart's data
        self.assertContains(response, "Limit changes per day as a table")
        reasons = {r.code: r.count for r in response.context["top_reasons"]}
        assert reasons == {"MANUAL_OVERRIDE": 2}
        assert (response.context["appeals"].open, response.context["appeals"].breached) == (2, 1)
        self.assertContains(response, "Past their SLA")
        assert [r.pk for r in response.context["runs"]] == [run.pk]
        watch = response.context["watch"]
        assert [row.account.reference for row in watch] == [near.reference]
        assert (watch[0].cutoff, watch[0].band_below) == (700, "C")

    def test_portfolio_figures_come_from_the_cache_the_beat_task_refreshes(self):
        from accounts import tasks

        make_account(current_limit=Decimal("1000.00"))
        self.client.force_login(self.alice)
        first = self.client.get(reverse("overview")).context["figures"]
        make_account(current_limit=Decimal("2000.00"))
        # Still the cached figures until the next refresh ...
        assert self.client.get(reverse("overview")).context["figures"].accounts == first.accounts
        tasks.refresh_portfolio_figures()
        figures = self.client.get(reverse("overview")).context["figures"]
        assert figures.accounts == first.accounts + 1
        assert figures.exposure == first.exposure + Decimal("2000.00")

    def test_without_redis_the_figures_are_computed_in_place(self):
        from redis.exceptions import ConnectionError as RedisConnectionError

        make_account(current_limit=Decimal("1000.00"))
        self.client.force_login(self.alice)
        with (
            mock.patch("django.core.cache.cache.get", side_effect=RedisConnectionError),
            mock.patch("django.core.cache.cache.set", side_effect=RedisConnectionError),
        ):
            response = self.client.get(reverse("overview"))
        assert response.status_code == 200
        assert response.context["figures"].accounts == 1

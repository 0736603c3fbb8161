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
            source="beat", worker="worker@host", requested_at=old, recorded_at=old,
            request_id="r1",
        )  # fmt: skip
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

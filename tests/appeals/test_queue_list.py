"""The queue list: result count, whole-row links, received, due in, amount, the
contested decision's reasons in words, percentages as "35 %"."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from unittest import mock

from django.urls import reverse
from django.utils import timezone

from appeals import selectors
from appeals.models import Appeal
from decisions import overrides
from tests.base import BaseTestCase, make_account

QUEUE = reverse("appeals:queue")


class DueTextTests(BaseTestCase):
    def test_countdown_words(self):
        now = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
        cases = [
            (now + timedelta(hours=5, minutes=20), False, ("due in 5 h", False)),
            (now + timedelta(minutes=25), False, ("due in 25 min", False)),
            (now - timedelta(hours=2, minutes=10), False, ("2 h overdue", True)),
            (now + timedelta(days=3, hours=1), False, ("due in 3 d", False)),
            (now - timedelta(hours=30), True, ("paused", False)),
        ]
        for due, paused, expected in cases:
            assert selectors.due_text(due, paused, now) == expected

    def test_percent_words(self):
        assert selectors.percent(Decimal("0.3500")) == "35 %"
        assert selectors.percent(Decimal("-0.625"), signed=True) == "−62 %"  # half to even
        assert selectors.percent(Decimal("-0.634"), signed=True) == "−63 %"
        assert selectors.percent(Decimal("0.2"), signed=True) == "+20 %"


class QueueListTests(BaseTestCase):
    def setUp(self) -> None:
        self.account = make_account(reference="LD-LIST", current_limit=Decimal("8000.00"))
        overrides.account_override_limit(
            account_id=self.account.pk,
            expected_version=self.account.version,
            new_limit=Decimal("3000"),
            actor=self.alice,
            justification="Cut after the bureau check.",
        )
        decision = self.account.decisions.get()
        assert decision.reasons == ["MANUAL_OVERRIDE"]
        now = timezone.now()
        self.contested = Appeal.objects.create(
            account=self.account,
            decision=decision,
            channel="hotline",
            category="misjudged",
            statement="I only compared rates.",
            sla_due=now + timedelta(hours=5, minutes=30),
            created_at=datetime(2026, 11, 30, 9, 15, tzinfo=UTC),
        )
        self.asking = Appeal.objects.create(
            account=make_account(reference="LD-ASK"),
            channel="app",
            category="evidence",
            statement="Please raise my limit.",
            requested_limit=Decimal("12000"),
            sla_due=now - timedelta(hours=2, minutes=5),
        )

    def test_the_columns_say_received_due_amount_and_reasons_in_words(self):
        self.client.force_login(self.carol)
        response = self.client.get(QUEUE, {"view": "all"})
        self.assertContains(response, "2 open appeals")
        for heading in ("Received", "Due", "Amount", "Contested for"):
            self.assertContains(response, f">{heading}</th>")
        self.assertContains(response, "2026-11-30 09:15")
        self.assertContains(response, "due in 5 h")
        self.assertContains(response, "2 h overdue")
        self.assertContains(response, "¥8,000.00 → ¥3,000.00")
        self.assertContains(response, "(−62 %)")
        self.assertContains(response, "asks ¥12,000.00")
        # The reason catalogue's short label, not the code.
        self.assertContains(response, "<td>Manual override</td>")
        self.assertNotContains(response, "MANUAL_OVERRIDE")

    def test_waiting_for_the_customer_shows_paused(self):
        Appeal.objects.filter(pk=self.asking.pk).update(
            state="waiting", assignee=self.bob, sla_paused_at=timezone.now()
        )
        self.client.force_login(self.bob)
        response = self.client.get(QUEUE, {"view": "mine"})
        self.assertContains(response, "paused")
        self.assertNotContains(response, "overdue")

    def test_whole_rows_link_to_the_appeal_with_a_real_link_first(self):
        self.client.force_login(self.carol)
        response = self.client.get(QUEUE, {"view": "all"})
        body = response.content.decode()
        url = reverse("appeals:detail", args=[self.contested.pk])
        assert f'<a href="{url}" class="row-link-target">' in body
        assert body.count('<tr class="row-link') == 2
        self.assertContains(response, "js/queue.js")
        # Checkboxes stay their own control (the script ignores clicks on them).
        self.assertContains(response, f'aria-label="Select appeal #{self.contested.pk}"')

    def test_the_count_is_exact_past_the_first_page(self):
        now = timezone.now()
        Appeal.objects.bulk_create(
            Appeal(
                account=self.account,
                channel="app",
                category="reason",
                statement=f"Why? {n}",
                sla_due=now + timedelta(days=2, minutes=n),
            )
            for n in range(60)
        )
        self.client.force_login(self.carol)
        first = self.client.get(QUEUE, {"view": "all"})
        assert first.context["page"].total == 62
        self.assertContains(first, "62 open appeals · showing 1–50")
        second = self.client.get(QUEUE, {"view": "all", "page": "2"})
        self.assertContains(second, "62 open appeals · showing 51–62")
        filtered = self.client.get(QUEUE, {"view": "all", "category": "misjudged"})
        self.assertContains(filtered, "1 open appeal ")
        # Past COUNT_EXACT_UP_TO the page says "more than", never a wrong number.
        with mock.patch.object(selectors, "COUNT_EXACT_UP_TO", 55):
            bounded = self.client.get(QUEUE, {"view": "all"})
        self.assertContains(bounded, "more than 55 open appeals · showing 1–50")

from datetime import timedelta
from decimal import Decimal

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from appeals.models import Appeal
from decisions import overrides
from tests.base import BaseTestCase, make_account

QUEUE = reverse("appeals:queue")


class QueuePageTests(BaseTestCase):
    def setUp(self) -> None:
        self.account = make_account(reference="LD-APL", current_limit=Decimal("8000.00"))
        now = timezone.now()
        self.late = Appeal.objects.create(
            account=self.account,
            channel="hotline",
            category="closure",
            priority=3,
            statement="My line was closed although I repaid.",
            sla_due=now - timedelta(hours=1),
        )
        self.fresh = Appeal.objects.create(
            account=self.account,
            channel="app",
            category="reason",
            priority=2,
            statement="Why was my limit cut?",
            sla_due=now + timedelta(hours=2),
        )

    def test_a_handler_claims_the_next_appeal_and_works_it(self):
        self.client.force_login(self.bob)
        response = self.client.post(reverse("appeals:claim"), follow=True)
        self.assertContains(response, f"Appeal #{self.late.pk} is yours.")
        self.assertContains(response, "My line was closed although I repaid.")
        self.assertContains(response, "claim")  # on the timeline
        response = self.client.post(
            reverse("appeals:move", args=[self.late.pk]),
            {"move": "request_info", "note": "Send the repayment receipt."},
            follow=True,
        )
        self.assertContains(response, "Done; the step is on the appeal&#x27;s timeline.")
        self.assertContains(response, "paused: waiting for the customer")
        # A step the state does not allow is refused with the reason, nothing changes.
        response = self.client.post(
            reverse("appeals:move", args=[self.late.pk]), {"move": "request_info"}, follow=True
        )
        self.assertContains(response, "Write what the customer should send")
        self.late.refresh_from_db()
        assert self.late.state == "waiting"
        mine = self.client.get(QUEUE, {"view": "mine"})
        assert [a.pk for a in mine.context["page"].appeals] == [self.late.pk]
        self.assertContains(mine, "paused")

    def test_the_queue_filters_and_shows_sla_badges(self):
        self.client.force_login(self.carol)  # a lead sees all
        with CaptureQueriesContext(connection) as two:
            response = self.client.get(QUEUE, {"view": "all"})
        assert [a.pk for a in response.context["page"].appeals] == [self.late.pk, self.fresh.pk]
        # One query for the page of appeals, however many (and their decisions' reasons).
        listing = [
            q for q in two.captured_queries if 'FROM "appeals_appeal" INNER JOIN' in q["sql"]
        ]
        assert len(listing) == 1
        extra = Appeal.objects.bulk_create(
            Appeal(
                account=self.account,
                channel="app",
                category="reason",
                statement="Why?",
                sla_due=timezone.now() + timedelta(days=3, minutes=n),
            )
            for n in range(20)
        )
        with CaptureQueriesContext(connection) as more:
            self.client.get(QUEUE, {"view": "all"})
        assert len(more.captured_queries) == len(two.captured_queries)
        Appeal.objects.filter(pk__in=[a.pk for a in extra]).delete()
        self.assertContains(response, "breached")
        self.assertContains(response, "due soon")
        response = self.client.get(QUEUE, {"view": "all", "sla": "breached"})
        assert [a.pk for a in response.context["page"].appeals] == [self.late.pk]
        response = self.client.get(QUEUE, {"view": "all", "category": "reason"})
        assert [a.pk for a in response.context["page"].appeals] == [self.fresh.pk]
        response = self.client.get(QUEUE, {"view": "all", "priority": "9"})
        self.assertContains(response, "Select a valid choice.")

    def test_roles(self):
        self.client.force_login(self.alice)  # analysts do not open the queue
        assert self.client.get(QUEUE).status_code == 403
        self.client.force_login(self.frank)  # the auditor reads all, claims nothing
        response = self.client.get(QUEUE)
        assert len(response.context["page"].appeals) == 2
        self.assertNotContains(response, "Claim next")
        assert self.client.post(reverse("appeals:claim")).status_code == 403
        self.client.force_login(self.bob)  # a handler asking for all gets their own
        assert self.client.get(QUEUE, {"view": "all"}).context["view"] == "mine"


class IntakeFromTheAccountPageTests(BaseTestCase):
    def setUp(self) -> None:
        self.account = make_account(reference="LD-CALL", current_limit=Decimal("8000.00"))
        overrides.account_override_limit(
            account_id=self.account.pk,
            expected_version=self.account.version,
            new_limit=Decimal("3000"),
            actor=self.alice,
            justification="Cut after review.",
        )
        self.decision = self.account.decisions.get()

    def post(self, **fields):
        data = {
            "channel": "hotline",
            "category": "misjudged",
            "priority": "2",
            "statement": "I only compared rates.",
            "decision": self.decision.pk,
        }
        data.update(fields)
        return self.client.post(reverse("appeals:intake", args=["LD-CALL"]), data, follow=True)

    def test_a_handler_records_a_call_and_a_second_call_joins_it(self):
        self.client.force_login(self.bob)
        page = self.client.get(reverse("accounts:detail", args=["LD-CALL"]))
        self.assertContains(page, "Record an appeal for a caller")
        response = self.post()
        appeal = Appeal.objects.get()
        self.assertContains(response, f"Appeal #{appeal.pk} recorded.")
        assert appeal.decision == self.decision
        response = self.post(statement="Calling again.")
        self.assertContains(response, "already has open appeal")
        assert Appeal.objects.count() == 1

    def test_bad_input_is_refused_with_a_message(self):
        self.client.force_login(self.bob)
        response = self.post(statement="", requested_limit="abc")
        self.assertContains(response, "What the customer says: This field is required.")
        response = self.post(requested_limit="abc")
        self.assertContains(response, "Enter the limit as an amount")
        assert not Appeal.objects.exists()

    def test_an_analyst_has_no_intake(self):
        self.client.force_login(self.alice)
        page = self.client.get(reverse("accounts:detail", args=["LD-CALL"]))
        self.assertNotContains(page, "Record an appeal for a caller")
        assert self.post().status_code == 403


class DecidePageTests(BaseTestCase):
    def test_the_handler_previews_the_customer_response_then_confirms(self):
        account = make_account(reference="LD-DEC", current_limit=Decimal("8000.00"))
        overrides.account_override_limit(
            account_id=account.pk,
            expected_version=account.version,
            new_limit=Decimal("3000"),
            actor=self.alice,
            justification="Cut after review.",
        )
        appeal = Appeal.objects.create(
            account=account,
            decision=account.decisions.get(),
            channel="hotline",
            category="evidence",
            statement="Salary verified.",
            assignee=self.bob,
            state="in_review",
            sla_due=timezone.now() + timedelta(hours=5),
        )
        self.client.force_login(self.bob)
        url = reverse("appeals:decide", args=[appeal.pk])
        data = {"outcome": "partial", "limit": "5000", "justification": "Salary of 9,000 verified."}
        preview = self.client.post(url, data)
        self.assertContains(preview, "What the customer will read")
        self.assertContains(preview, "Your credit limit is restored to ¥5,000.00.")
        self.assertContains(preview, "您的信用额度已恢复至 ¥5,000.00。")  # grouped by thousands
        assert not LimitDecisionExists(account)
        done = self.client.post(url, {**data, "confirm": "1"}, follow=True)
        self.assertContains(done, "Decided; the outcome is on the account")
        account.refresh_from_db()
        assert account.current_limit == Decimal("5000.00")
        page = self.client.get(reverse("accounts:detail", args=["LD-DEC"]))
        self.assertContains(page, "appeal outcome")  # the timeline's source


def LimitDecisionExists(account) -> bool:
    return account.decisions.filter(source="appeal").exists()


class SlaTargetsPageTests(BaseTestCase):
    URL = reverse("appeals:sla")

    def test_a_lead_sets_the_targets_and_new_appeals_use_them(self):
        self.client.force_login(self.carol)
        page = self.client.get(self.URL)
        assert page.context["form"].initial["reason"] == 24  # the migration's default
        hours = {
            "reason": "12",
            "misjudged": "48",
            "evidence": "96",
            "closure": "36",
            "review": "24",
        }
        response = self.client.post(self.URL, hours, follow=True)
        self.assertContains(response, "SLA targets saved")
        from appeals import services

        account = make_account()
        appeal = services.appeal_intake(
            account=account,
            actor=self.bob,
            channel="app",
            category="reason",
            statement="Why was my limit cut?",
        ).appeal
        due = appeal.sla_due - appeal.created_at
        assert abs(due - timedelta(hours=12)) < timedelta(seconds=1)

    def test_bad_hours_are_refused_and_handlers_may_not_set_them(self):
        self.client.force_login(self.carol)
        response = self.client.post(
            self.URL, {"reason": "0", "misjudged": "x", "evidence": "1000", "closure": "5"}
        )
        self.assertContains(response, "Ensure this value is greater than or equal to 1.")
        self.assertContains(response, "Enter a whole number.")
        from appeals.models import SlaTarget

        assert SlaTarget.objects.get(category="closure").hours == 48  # unchanged
        self.client.force_login(self.bob)
        assert self.client.get(self.URL).status_code == 403

"""A lead's bulk actions on the queue (assign, snooze, unsnooze: all or nothing, one
event per appeal) and snoozing: out of the queue and of claim next until its day."""

from datetime import timedelta
from decimal import Decimal

from django.urls import reverse
from django.utils import timezone

from appeals import services, steering, workflow
from appeals.models import Appeal, AppealEvent
from tests.base import BaseTestCase, make_account

QUEUE = reverse("appeals:queue")
BULK = reverse("appeals:bulk")


def days(n: int) -> str:
    return (timezone.localdate() + timedelta(days=n)).isoformat()


class BulkTests(BaseTestCase):
    def setUp(self) -> None:
        self.account = make_account(reference="LD-BULK", current_limit=Decimal("8000.00"))
        now = timezone.now()
        self.appeals = [
            Appeal.objects.create(
                account=self.account,
                channel="app",
                category="reason",
                statement=f"Why was my limit cut? ({n})",
                sla_due=now + timedelta(hours=n + 1),
            )
            for n in range(3)
        ]
        self.ids = [a.pk for a in self.appeals]

    def fingerprint(self):
        return (
            list(
                Appeal.objects.order_by("pk").values_list(
                    "pk", "assignee_id", "state", "snoozed_until"
                )
            ),
            AppealEvent.objects.count(),
        )

    def test_a_lead_assigns_several_appeals_each_with_its_event(self):
        self.client.force_login(self.carol)
        response = self.client.post(
            BULK,
            {"appeals": self.ids[:2], "action": "assign", "assignee": self.bob.pk},
            follow=True,
        )
        self.assertContains(response, "2 appeals assigned to bob.")
        for appeal in Appeal.objects.filter(pk__in=self.ids[:2]):
            assert (appeal.assignee, appeal.state) == (self.bob, "in_review")
            event = appeal.events.get()
            assert (event.move, event.actor, event.note) == ("assign", self.carol, "bob")
        assert Appeal.objects.get(pk=self.ids[2]).assignee is None
        # Reassigning keeps the state of an appeal waiting for the customer.
        services.appeal_request_info(
            appeal_id=self.ids[0], actor=self.bob, note="Send the salary slip."
        )
        steering.appeals_bulk(
            lead=self.carol, appeal_ids=[self.ids[0]], action="assign", assignee=self.carol
        )
        waiting = Appeal.objects.get(pk=self.ids[0])
        assert (waiting.assignee, waiting.state) == (self.carol, "waiting")
        assert waiting.sla_paused_at is not None

    def test_all_or_nothing_a_finished_appeal_refuses_the_batch(self):
        services.appeal_assign(appeal_id=self.ids[2], assignee=self.bob, lead=self.carol)
        services.appeal_withdraw(appeal_id=self.ids[2], actor=self.bob)
        before = self.fingerprint()
        self.client.force_login(self.carol)
        response = self.client.post(
            BULK, {"appeals": self.ids, "action": "assign", "assignee": self.bob.pk}, follow=True
        )
        self.assertContains(response, f"#{self.ids[2]} are finished. Nothing was changed.")
        assert self.fingerprint() == before

    def test_bad_input_is_refused_with_a_clear_message_and_changes_nothing(self):
        self.client.force_login(self.carol)
        before = self.fingerprint()
        cases = [
            ({"action": "assign", "assignee": self.bob.pk}, "Select at least one appeal."),
            ({"appeals": self.ids, "action": "assign"}, "Choose who takes the selected appeals."),
            (
                {"appeals": self.ids, "action": "assign", "assignee": self.alice.pk},
                "Choose a person who can work appeals.",
            ),
            ({"appeals": self.ids, "action": "snooze"}, "Enter the date the appeals come back"),
            (
                {"appeals": self.ids, "action": "snooze", "until": "03/12/2030"},
                "Enter the date the appeals come back, as yyyy-mm-dd.",
            ),
            (
                {"appeals": self.ids, "action": "snooze", "until": days(0)},
                "The snooze date must be in the future",
            ),
            (
                {"appeals": self.ids, "action": "snooze", "until": days(-3)},
                "The snooze date must be in the future",
            ),
            ({"appeals": self.ids, "action": "unsnooze"}, "are not snoozed. Nothing was changed."),
            ({"appeals": [*self.ids, 999999], "action": "unsnooze"}, "#999999 does not exist"),
            ({"appeals": self.ids, "action": "explode"}, "Select a valid choice."),
            ({"appeals": ["1; DROP"], "action": "unsnooze"}, "not an appeal"),
        ]
        for data, message in cases:
            response = self.client.post(BULK, data, follow=True)
            self.assertContains(response, message, msg_prefix=str(data))
            assert self.fingerprint() == before, data

    def test_only_a_lead_acts_in_bulk(self):
        before = self.fingerprint()
        self.client.force_login(self.bob)
        data = {"appeals": self.ids, "action": "assign", "assignee": self.bob.pk}
        assert self.client.post(BULK, data).status_code == 403
        with self.assertRaisesMessage(workflow.AppealError, "Only an appeal lead"):
            steering.appeals_bulk(
                lead=self.bob, appeal_ids=self.ids, action="snooze", until=days(2)
            )
        assert self.fingerprint() == before
        # The queue shows no checkboxes to a handler, and shows them to a lead.
        self.assertNotContains(self.client.get(QUEUE, {"view": "unassigned"}), 'name="appeals"')
        self.client.force_login(self.carol)
        self.assertContains(self.client.get(QUEUE, {"view": "all"}), 'name="appeals"', count=3)

    def test_snoozed_appeals_leave_the_queue_until_their_day(self):
        self.client.force_login(self.carol)
        response = self.client.post(
            BULK,
            {"appeals": self.ids[:2], "action": "snooze", "until": days(3), "query": "view=all"},
        )
        assert response.status_code == 302 and response["Location"].endswith("?view=all")
        for appeal in Appeal.objects.filter(pk__in=self.ids[:2]):
            assert appeal.snoozed_until is not None
            assert appeal.snoozed_until.date().isoformat() == days(3)
            assert appeal.events.get().move == "snoozed"
            assert appeal.events.get().note == f"until {days(3)}"
        page = self.client.get(QUEUE, {"view": "all"})
        assert [a.pk for a in page.context["page"].appeals] == [self.ids[2]]
        self.assertContains(page, "1 open appeal")
        snoozed = self.client.get(QUEUE, {"view": "all", "snoozed": "only"})
        assert [a.pk for a in snoozed.context["page"].appeals] == self.ids[:2]
        self.assertContains(snoozed, f"snoozed until {days(3)}", count=2)
        # Claim next skips them: bob gets the third, then nothing.
        assert getattr(services.appeal_claim_next(handler=self.bob), "pk", None) == self.ids[2]
        assert services.appeal_claim_next(handler=self.bob) is None
        # Their time comes: back in the queue and claimable, without anyone acting.
        Appeal.objects.filter(pk__in=self.ids[:2]).update(
            snoozed_until=timezone.now() - timedelta(minutes=1)
        )
        assert getattr(services.appeal_claim_next(handler=self.bob), "pk", None) == self.ids[0]
        # Unsnooze brings one back before its time.
        steering.appeals_bulk(
            lead=self.carol, appeal_ids=[self.ids[1]], action="snooze", until=days(5)
        )
        self.client.post(BULK, {"appeals": [self.ids[1]], "action": "unsnooze"})
        appeal = Appeal.objects.get(pk=self.ids[1])
        assert appeal.snoozed_until is None
        assert list(appeal.events.values_list("move", flat=True)) == [
            "snoozed",
            "snoozed",
            "unsnoozed",
        ]


class SnoozeOwnAppealTests(BaseTestCase):
    def setUp(self) -> None:
        account = make_account(current_limit=Decimal("8000.00"))
        self.appeal = Appeal.objects.create(
            account=account,
            channel="app",
            category="reason",
            statement="Why was my limit cut?",
            sla_due=timezone.now() + timedelta(hours=5),
        )
        services.appeal_assign(appeal_id=self.appeal.pk, assignee=self.bob, lead=self.carol)
        self.url = reverse("appeals:snooze", args=[self.appeal.pk])

    def test_the_assignee_snoozes_and_unsnoozes_from_the_appeal_page(self):
        self.client.force_login(self.bob)
        page = self.client.get(reverse("appeals:detail", args=[self.appeal.pk]))
        self.assertContains(page, "Snooze until")
        response = self.client.post(self.url, {"action": "snooze", "until": days(2)}, follow=True)
        self.assertContains(response, f"Snoozed until {days(2)}; it leaves the queue until then.")
        self.assertContains(response, "Unsnooze")
        mine = self.client.get(QUEUE, {"view": "mine"})
        assert mine.context["page"].appeals == []
        event = self.appeal.events.get(move="snoozed")
        assert event.actor == self.bob
        response = self.client.post(self.url, {"action": "unsnooze"}, follow=True)
        self.assertContains(response, "The appeal is back in the queue.")
        assert [a.pk for a in self.client.get(QUEUE).context["page"].appeals] == [self.appeal.pk]

    def test_a_past_date_or_someone_elses_appeal_is_refused(self):
        self.client.force_login(self.bob)
        response = self.client.post(self.url, {"action": "snooze", "until": days(-1)}, follow=True)
        self.assertContains(response, "The snooze date must be in the future")
        response = self.client.post(self.url, {"action": "snooze", "until": "soon"}, follow=True)
        self.assertContains(response, "as yyyy-mm-dd")
        from tests.base import make_user

        other = make_user("otto", "Appeal handler")
        self.client.force_login(other)
        response = self.client.post(self.url, {"action": "snooze", "until": days(2)}, follow=True)
        self.assertContains(response, "This appeal is assigned to someone else.")
        self.appeal.refresh_from_db()
        assert self.appeal.snoozed_until is None
        assert not self.appeal.events.filter(move="snoozed").exists()

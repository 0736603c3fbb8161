"""The Handlers page: a lead sees each handler's open appeals, cap, auto-assignment
and time away, and edits them (validated, audited)."""

from datetime import timedelta
from decimal import Decimal

from django.urls import reverse
from django.utils import timezone

from appeals import steering, workflow
from appeals.models import Appeal, HandlerChange, HandlerProfile
from tests.base import BaseTestCase, make_account

HANDLERS = reverse("appeals:handlers")


class HandlersPageTests(BaseTestCase):
    def setUp(self) -> None:
        account = make_account(current_limit=Decimal("8000.00"))
        for n in range(2):
            Appeal.objects.create(
                account=account,
                channel="app",
                category="reason",
                statement=f"Why? {n}",
                assignee=self.bob,
                state="in_review",
                sla_due=timezone.now() + timedelta(hours=5),
            )

    def test_a_lead_sees_every_handler_with_open_count_and_settings(self):
        HandlerProfile.objects.create(
            user=self.bob,
            cap=2,
            away_from=timezone.localdate(),
            away_until=timezone.localdate() + timedelta(days=1),
        )
        self.client.force_login(self.carol)
        response = self.client.get(HANDLERS)
        rows = {row.user.username: row for row in response.context["rows"]}
        assert set(rows) == {"bob", "carol"}  # whoever may work appeals
        assert (rows["bob"].open, rows["bob"].profile.cap, rows["bob"].away_today) == (2, 2, True)
        assert rows["carol"].profile is None
        self.assertContains(response, "not in the rotation")
        self.assertContains(response, "away today")
        self.assertContains(response, "full")

    def test_a_lead_puts_a_handler_in_the_rotation_and_changes_it_audited(self):
        self.client.force_login(self.carol)
        page = self.client.get(HANDLERS, {"edit": self.bob.pk})
        self.assertContains(page, "Settings of bob")
        response = self.client.post(
            HANDLERS,
            {
                "user": self.bob.pk,
                "auto_assign": "on",
                "cap": "5",
                "away_from": "",
                "away_until": "",
            },
            follow=True,
        )
        self.assertContains(response, "Saved for bob.")
        profile = HandlerProfile.objects.get(user=self.bob)
        assert (profile.auto_assign, profile.cap, profile.updated_by) == (True, 5, self.carol)
        start = timezone.localdate() + timedelta(days=7)
        self.client.post(
            HANDLERS,
            {
                "user": self.bob.pk,
                "cap": "3",
                "away_from": start.isoformat(),
                "away_until": (start + timedelta(days=4)).isoformat(),
            },
        )
        profile.refresh_from_db()
        assert (profile.auto_assign, profile.cap, profile.away_from) == (False, 3, start)
        changes = list(HandlerChange.objects.order_by("at", "id"))
        assert [c.changed_by for c in changes] == [self.carol, self.carol]
        assert changes[0].summary.startswith("added to the rotation: auto-assign on, cap 5")
        assert "auto-assign off, cap 3, away" in changes[1].summary
        self.assertContains(self.client.get(HANDLERS), "auto-assign off, cap 3")

    def test_bad_input_is_refused_with_clear_errors_and_nothing_changes(self):
        HandlerProfile.objects.create(user=self.bob, cap=4)
        self.client.force_login(self.carol)
        today = timezone.localdate()
        cases = [
            ({"cap": "0"}, "The cap is at least 1 open appeal."),
            ({"cap": ""}, "Enter the cap"),
            ({"cap": "many"}, "The cap is a whole number of open appeals."),
            (
                {
                    "cap": "4",
                    "away_from": today.isoformat(),
                    "away_until": (today - timedelta(days=1)).isoformat(),
                },
                "The last day away cannot be before the first.",
            ),
            ({"cap": "4", "away_from": "tomorrow"}, "Enter a date as yyyy-mm-dd."),
        ]
        for data, message in cases:
            response = self.client.post(HANDLERS, {"user": self.bob.pk, **data})
            self.assertContains(response, message, msg_prefix=str(data))
            profile = HandlerProfile.objects.get(user=self.bob)
            assert (profile.cap, profile.away_from, profile.updated_by) == (4, None, None)
        assert not HandlerChange.objects.exists()
        # The service refuses too, whoever calls it.
        with self.assertRaisesMessage(workflow.AppealError, "The cap is a whole number"):
            steering.handler_profile_save(
                lead=self.carol,
                user=self.bob,
                auto_assign=True,
                cap=0,
                away_from=None,
                away_until=None,
            )
        with self.assertRaisesMessage(workflow.AppealError, "Choose a person who can work"):
            steering.handler_profile_save(
                lead=self.carol,
                user=self.alice,
                auto_assign=True,
                cap=3,
                away_from=None,
                away_until=None,
            )
        with self.assertRaisesMessage(workflow.AppealError, "Only an appeal lead"):
            steering.handler_profile_save(
                lead=self.bob,
                user=self.bob,
                auto_assign=True,
                cap=3,
                away_from=None,
                away_until=None,
            )
        assert not HandlerChange.objects.exists()

    def test_only_leads_open_it(self):
        for person in (self.bob, self.alice, self.frank):
            self.client.force_login(person)
            assert self.client.get(HANDLERS).status_code == 403
            assert self.client.post(HANDLERS, {"user": self.bob.pk, "cap": "9"}).status_code == 403
        assert not HandlerProfile.objects.exists()
        self.client.force_login(self.carol)
        self.assertContains(self.client.get(reverse("appeals:queue")), HANDLERS)

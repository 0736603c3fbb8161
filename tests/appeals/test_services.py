from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from appeals import services, workflow
from appeals.models import Appeal, AppealEvent
from decisions import overrides
from tests.base import BaseTestCase, make_account, make_user


def claim(handler) -> Appeal:
    appeal = services.appeal_claim_next(handler=handler)
    assert appeal is not None
    return appeal


def a_cut(account, actor):
    """A decision to contest: an override down to 3,000."""
    overrides.account_override_limit(
        account_id=account.pk,
        expected_version=account.version,
        new_limit=Decimal("3000"),
        actor=actor,
        justification="Cut after the bureau check.",
    )
    return account.decisions.get()


class IntakeTests(BaseTestCase):
    def setUp(self) -> None:
        self.account = make_account(current_limit=Decimal("8000.00"))
        self.decision = a_cut(self.account, self.alice)

    def intake(self, **fields):
        values = {
            "account": self.account,
            "actor": self.bob,
            "channel": "hotline",
            "category": "misjudged",
            "statement": "I only compared rates.",
            "decision_id": self.decision.pk,
        }
        values.update(fields)
        return services.appeal_intake(**values)

    def test_a_hotline_call_becomes_an_appeal_with_its_sla(self):
        result = self.intake(requested_limit="8000")
        appeal = result.appeal
        assert not result.duplicate
        assert (appeal.state, appeal.channel, appeal.requested_limit) == (
            "new",
            "hotline",
            Decimal("8000.00"),
        )
        # Misjudgment: 72 hours by the migration's targets.
        assert abs(appeal.sla_due - (appeal.created_at + timedelta(hours=72))) < timedelta(
            seconds=1
        )
        event = appeal.events.get()
        assert (event.move, event.actor, event.to_state) == ("received", self.bob, "new")

    def test_a_second_call_about_the_same_decision_joins_the_open_appeal(self):
        first = self.intake().appeal
        second = self.intake(channel="app", statement="Calling again about my limit.")
        assert second.duplicate and second.appeal.pk == first.pk
        assert Appeal.objects.count() == 1
        assert list(first.events.values_list("move", flat=True)) == [
            "received",
            "duplicate_contact",
        ]
        # Once that appeal is finished, a new contact opens a new one.
        services.appeal_assign(appeal_id=first.pk, assignee=self.bob, lead=self.carol)
        services.appeal_withdraw(appeal_id=first.pk, actor=self.bob)
        third = self.intake()
        assert not third.duplicate and Appeal.objects.count() == 2

    def test_bad_input_gets_a_clear_message_and_stores_nothing(self):
        other = a_cut(make_account(current_limit=Decimal("9000")), self.alice)
        cases = [
            ({"statement": "  "}, "Write down what the customer says"),
            ({"channel": "fax"}, "Choose how the appeal came in."),
            ({"category": "other"}, "Choose what the customer asks for."),
            ({"requested_limit": "-5"}, "A limit cannot be negative."),
            ({"requested_limit": "lots"}, "Enter the limit as an amount"),
            ({"decision_id": other.pk}, "not one of this account's"),
        ]
        for fields, message in cases:
            with pytest.raises(workflow.AppealError, match=message):
                self.intake(**fields)
        assert not Appeal.objects.exists() and not AppealEvent.objects.exists()


class QueueMoveTests(BaseTestCase):
    def setUp(self) -> None:
        self.account = make_account()
        now = timezone.now()
        self.low = Appeal.objects.create(
            account=self.account,
            channel="app",
            category="reason",
            statement="Why?",
            priority=1,
            sla_due=now + timedelta(hours=1),
        )
        self.urgent_later = Appeal.objects.create(
            account=self.account,
            channel="app",
            category="reason",
            statement="Why?",
            priority=4,
            sla_due=now + timedelta(hours=20),
        )
        self.urgent_sooner = Appeal.objects.create(
            account=self.account,
            channel="app",
            category="reason",
            statement="Why?",
            priority=4,
            sla_due=now + timedelta(hours=2),
        )

    def test_claim_next_takes_the_highest_priority_then_the_oldest_due(self):
        order = [services.appeal_claim_next(handler=self.bob) for _ in range(4)]
        assert order[:3] == [self.urgent_sooner, self.urgent_later, self.low]
        assert order[3] is None
        claimed = Appeal.objects.get(pk=self.urgent_sooner.pk)
        assert (claimed.state, claimed.assignee) == ("in_review", self.bob)
        assert claimed.events.get().move == "claim"

    def test_only_appeal_roles_claim(self):
        with pytest.raises(workflow.AppealError, match="cannot work appeals"):
            services.appeal_claim_next(handler=self.alice)

    def test_asking_the_customer_pauses_the_sla_clock(self):
        appeal = claim(self.bob)
        due = appeal.sla_due
        services.appeal_request_info(
            appeal_id=appeal.pk, actor=self.bob, note="Send three months of salary flow."
        )
        Appeal.objects.filter(pk=appeal.pk).update(
            sla_paused_at=timezone.now() - timedelta(hours=30)
        )  # the customer took 30 hours
        replied = services.appeal_customer_replied(appeal_id=appeal.pk, actor=self.bob)
        assert replied.state == "in_review" and replied.sla_paused_at is None
        assert abs(replied.sla_due - (due + timedelta(hours=30))) < timedelta(seconds=5)

    def test_illegal_moves_and_strangers_are_refused_and_change_nothing(self):
        appeal = claim(self.bob)
        other = make_user("bill", "Appeal handler")
        with pytest.raises(workflow.AppealError, match="assigned to someone else"):
            services.appeal_escalate(appeal_id=appeal.pk, actor=other, note="Not mine at all.")
        with pytest.raises(workflow.AppealError, match="cannot take the customer's reply"):
            services.appeal_customer_replied(appeal_id=appeal.pk, actor=self.bob)
        appeal.refresh_from_db()
        assert appeal.state == "in_review" and appeal.events.count() == 1

    def test_a_lead_reassigns_and_a_handler_cannot(self):
        appeal = claim(self.bob)
        other = make_user("bill", "Appeal handler")
        with pytest.raises(workflow.AppealError, match="Only an appeal lead can reassign"):
            services.appeal_assign(appeal_id=appeal.pk, assignee=other, lead=self.bob)
        with pytest.raises(workflow.AppealError, match="alice cannot work appeals"):
            services.appeal_assign(appeal_id=appeal.pk, assignee=self.alice, lead=self.carol)
        services.appeal_assign(appeal_id=appeal.pk, assignee=other, lead=self.carol)
        appeal.refresh_from_db()
        assert appeal.assignee == other
        last = appeal.events.last()
        assert last is not None and last.actor == self.carol


class SlaTests(BaseTestCase):
    def test_the_beat_task_flags_and_escalates_each_breach_once(self):
        from django.conf import settings

        from appeals import tasks

        assert settings.CELERY_BEAT_SCHEDULE["appeal-sla-breaches"]["task"] == (
            "appeals.tasks.flag_sla_breaches"
        )
        account = make_account()
        now = timezone.now()
        late = Appeal.objects.create(
            account=account,
            channel="app",
            category="reason",
            statement="Why?",
            sla_due=now - timedelta(minutes=5),
        )
        paused = Appeal.objects.create(
            account=account,
            channel="app",
            category="reason",
            statement="Why?",
            sla_due=now - timedelta(minutes=5),
            state="waiting",
            sla_paused_at=now - timedelta(hours=1),
        )
        on_time = Appeal.objects.create(
            account=account,
            channel="app",
            category="reason",
            statement="Why?",
            sla_due=now + timedelta(hours=5),
        )
        assert tasks.flag_sla_breaches() == 1
        assert tasks.flag_sla_breaches() == 0  # once
        late.refresh_from_db()
        assert late.sla_breach_flagged and late.escalated
        assert list(late.events.values_list("move", flat=True)) == ["sla_breached"]
        for other in (paused, on_time):
            other.refresh_from_db()
            assert not other.sla_breach_flagged and not other.events.exists()

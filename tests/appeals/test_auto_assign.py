"""New appeals go round robin to the handlers in the rotation (docs/architecture.md,
"Queue steering"): auto-assignment on, under their cap, not away, the longest
without a new appeal first; no one eligible leaves the appeal in the queue."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from appeals import services
from appeals.models import Appeal, AppealEvent, HandlerProfile
from tests.base import BaseTestCase, make_account, make_user


def intake(account, actor, statement: str = "Please look at my limit again.") -> Appeal:
    return services.appeal_intake(
        account=account,
        actor=actor,
        channel="hotline",
        category="reason",
        statement=statement,
    ).appeal


class RoundRobinTests(BaseTestCase):
    def setUp(self) -> None:
        self.account = make_account(current_limit=Decimal("8000.00"))
        self.hana = make_user("hana", "Appeal handler")
        self.ivan = make_user("ivan", "Appeal handler")

    def profile(self, user, **fields) -> HandlerProfile:
        return HandlerProfile.objects.create(user=user, **fields)

    def test_appeals_go_round_robin_never_assigned_first_and_are_audited(self):
        earlier = timezone.now() - timedelta(hours=1)
        self.profile(self.bob, last_assigned_at=earlier)
        self.profile(self.hana)  # never given one: first
        self.profile(self.ivan, last_assigned_at=earlier - timedelta(minutes=5))
        got = [intake(self.account, self.alice).assignee for _ in range(4)]
        assert [getattr(u, "username", None) for u in got] == ["hana", "ivan", "bob", "hana"]
        appeal = Appeal.objects.order_by("pk")[0]
        assert appeal.state == "in_review"
        event = appeal.events.get(move="auto_assigned")
        assert (event.note, event.actor, event.from_state, event.to_state) == (
            "hana",
            None,
            "new",
            "in_review",
        )
        assert HandlerProfile.objects.get(user=self.hana).last_assigned_at is not None

    def test_a_full_handler_and_one_away_today_are_skipped(self):
        self.profile(self.bob, cap=1)
        self.profile(
            self.hana,
            away_from=timezone.localdate() - timedelta(days=1),
            away_until=timezone.localdate() + timedelta(days=2),
        )
        self.profile(self.ivan, auto_assign=False)
        first = intake(self.account, self.alice)
        assert first.assignee == self.bob
        # bob is at his cap (1 open), hana is away, ivan takes none: stays unassigned.
        second = intake(self.account, self.alice)
        assert second.assignee is None and second.state == "new"
        assert not second.events.filter(move="auto_assigned").exists()
        # Once bob's appeal is finished he has room again.
        services.appeal_withdraw(appeal_id=first.pk, actor=self.bob)
        assert intake(self.account, self.alice).assignee == self.bob

    def test_away_dates_end_and_begin_on_the_day(self):
        today = timezone.localdate()
        profile = self.profile(self.hana, away_from=today + timedelta(days=1))
        assert not profile.away_on(today) and profile.away_on(today + timedelta(days=30))
        profile.away_until = today - timedelta(days=1)
        profile.away_from = today - timedelta(days=3)
        assert not profile.away_on(today)
        assert intake(self.account, self.alice).assignee == self.hana

    def test_no_profile_means_not_in_the_rotation_even_for_a_lead(self):
        # Nobody has a profile: as before, the appeal waits in the queue.
        assert intake(self.account, self.alice).assignee is None
        # A lead with a profile and auto-assignment on is in the rotation like a handler.
        self.profile(self.carol)
        assert intake(self.account, self.alice).assignee == self.carol

    def test_someone_who_cannot_work_appeals_is_never_given_one(self):
        self.profile(self.alice)  # a risk analyst with a stray profile
        self.profile(self.frank)  # the auditor
        assert intake(self.account, self.alice).assignee is None

    def test_the_setting_turns_it_off(self):
        self.profile(self.bob)
        with self.settings(APPEAL_AUTO_ASSIGN=False):
            assert intake(self.account, self.alice).assignee is None
        assert intake(self.account, self.alice).assignee == self.bob

    def test_a_second_contact_on_the_same_decision_is_not_assigned_again(self):
        self.profile(self.bob)
        self.profile(self.hana)
        from decisions import overrides

        overrides.account_override_limit(
            account_id=self.account.pk,
            expected_version=self.account.version,
            new_limit=Decimal("3000"),
            actor=self.alice,
            justification="Cut after the bureau check.",
        )
        decision = self.account.decisions.get()
        first = services.appeal_intake(
            account=self.account,
            actor=self.alice,
            channel="hotline",
            category="misjudged",
            statement="I only compared rates.",
            decision_id=decision.pk,
        )
        again = services.appeal_intake(
            account=self.account,
            actor=self.alice,
            channel="app",
            category="misjudged",
            statement="Calling again about it.",
            decision_id=decision.pk,
        )
        assert again.duplicate and again.appeal.pk == first.appeal.pk
        assert again.appeal.assignee == first.appeal.assignee
        assert AppealEvent.objects.filter(move="auto_assigned").count() == 1

    def test_an_integration_appeal_is_assigned_too(self):
        self.profile(self.hana)
        result = services.appeal_from_integration(
            reference=self.account.reference,
            channel="app",
            category="reason",
            statement="Why was my limit cut?",
            requested_limit="",
            uploads=[],
            via="help centre",
        )
        assert result.intake.appeal.assignee == self.hana


@pytest.mark.django_db(transaction=True)
def test_two_intakes_at_once_never_fill_a_handler_past_the_cap():
    """Two intakes at the same moment, one place left under the cap: one appeal gets
    the handler, the other stays unassigned (the profile lock serialises them)."""
    account = make_account()
    bob = make_user("bob2", "Appeal handler")
    staff = make_user("alice2", "Risk analyst")
    HandlerProfile.objects.create(user=bob, cap=1)
    start = threading.Barrier(2)
    results: list[Appeal] = []
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            start.wait()
            results.append(intake(account, staff, f"Contact number {n} about my limit."))
        except BaseException as error:  # reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert len(results) == 2
    assert Appeal.objects.filter(assignee=bob).count() == 1
    assert Appeal.objects.filter(assignee__isnull=True, state="new").count() == 1
    assert AppealEvent.objects.filter(move="auto_assigned").count() == 1


@pytest.mark.django_db(transaction=True)
def test_many_intakes_at_once_spread_over_the_rotation_within_caps():
    """Many intakes at once, each moving the turn: all succeed (no deadlock between
    intakes locking the profiles), every handler fills to the cap, the rest wait."""
    account = make_account()
    staff = make_user("alice3", "Risk analyst")
    handlers = [make_user(f"h{n}", "Appeal handler") for n in range(3)]
    for handler in handlers:
        HandlerProfile.objects.create(user=handler, cap=4)
    start = threading.Barrier(16)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            start.wait()
            intake(account, staff, f"Contact number {n} about my limit.")
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    for handler in handlers:
        assert Appeal.objects.filter(assignee=handler).count() == 4
    assert Appeal.objects.filter(assignee__isnull=True).count() == 4

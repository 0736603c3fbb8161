"""Every free-text field people write is held to its length by the service that
stores it (config/text.py): too long is refused with a clear message and changes
nothing, whichever page, API call or command it came from."""

from __future__ import annotations

from decimal import Decimal
from functools import partial
from typing import Any

import pytest
from django.urls import reverse

from accounts import roles
from accounts.models import AccountNote
from accounts.services import NoteError, account_note_add
from api.models import ApiKey
from api.services import ApiKeyError, api_key_create
from appeals import outcomes, workflow
from appeals import services as appeals
from appeals.models import Appeal, AppealEvent
from config import text
from decisions import errors, overrides, runs
from decisions.models import LimitDecision, OverrideRequest, RescoreRun
from policies import services as policies
from policies.models import KillSwitch, Policy, PolicyEvent
from tests.base import BaseTestCase, make_account, make_signals, make_user

TOO_LONG = "x" * 100_000
MESSAGE = "Write at most"


def snapshot() -> tuple:
    """Everything a refused write might have touched."""
    return (
        LimitDecision.objects.count(),
        OverrideRequest.objects.count(),
        AccountNote.objects.count(),
        list(Appeal.objects.values_list("state", "escalated")),
        AppealEvent.objects.count(),
        PolicyEvent.objects.count(),
        list(Policy.objects.values_list("version", "state", "rationale", "review_comment")),
        list(KillSwitch.objects.values_list("reductions_paused", "reason")),
        ApiKey.objects.count(),
        list(RescoreRun.objects.values_list("state")),
    )


class FreeTextLimitTests(BaseTestCase):
    def setUp(self) -> None:
        self.account = make_account(current_limit=Decimal("8000.00"))
        make_signals(self.account)
        overrides.account_override_limit(
            account_id=self.account.pk,
            expected_version=self.account.version,
            new_limit=Decimal("3000"),
            actor=self.alice,
            justification="Cut after a bureau check.",
        )
        self.account.refresh_from_db()
        self.appeal = appeals.appeal_intake(
            account=self.account,
            actor=self.bob,
            channel="hotline",
            category="misjudged",
            statement="I only compared rates.",
        ).appeal
        appeals.appeal_claim_next(handler=self.bob)
        self.admin = make_user("root", roles.ADMINISTRATOR)

    def refused(self, error: type[Exception], write, *, message: str = MESSAGE) -> None:
        before = snapshot()
        with pytest.raises(error) as raised:
            write()
        assert message in str(raised.value) or message in str(getattr(raised.value, "errors", ""))
        assert snapshot() == before, "a refused write changed something"

    def test_the_limits_are_the_ones_the_pages_and_forms_announce(self):
        assert (text.REASON_MAX, text.JUSTIFICATION_MAX, text.RATIONALE_MAX) == (500, 2000, 4000)
        assert (text.STATEMENT_MAX, text.NAME_MAX) == (5000, 100)
        assert text.too_long("x" * 500, text.REASON_MAX) is None
        assert text.too_long("x" * 501, text.REASON_MAX) == (
            "Write at most 500 characters (this text has 501)."
        )

    def test_limit_decisions_refuse_overlong_justifications(self):
        version = self.account.version
        self.refused(
            errors.DecisionError,
            lambda: overrides.account_override_limit(
                account_id=self.account.pk,
                expected_version=version,
                new_limit=Decimal("60000"),
                actor=self.alice,
                justification=TOO_LONG,
            ),
        )
        self.refused(
            errors.DecisionError,
            lambda: overrides.account_set_frozen(
                account_id=self.account.pk,
                expected_version=version,
                frozen=True,
                actor=self.alice,
                justification=TOO_LONG,
            ),
        )
        run = runs.run_start(trigger="button", started_by=self.alice)
        RescoreRun.objects.filter(pk=run.pk).update(state="done")
        self.refused(
            errors.DecisionError,
            lambda: runs.run_revert_request(
                run_id=run.pk, actor=self.alice, justification=TOO_LONG
            ),
        )

    def test_notes_and_appeal_steps_refuse_overlong_text(self):
        self.refused(
            NoteError,
            lambda: account_note_add(account=self.account, author=self.alice, text=TOO_LONG),
        )
        self.refused(
            workflow.AppealError,
            lambda: appeals.appeal_intake(
                account=self.account,
                actor=self.bob,
                channel="hotline",
                category="misjudged",
                statement="x" * (text.STATEMENT_MAX + 1),
            ),
        )
        pk = self.appeal.pk
        steps = (
            appeals.appeal_request_info,
            appeals.appeal_escalate,
            appeals.appeal_customer_replied,
            appeals.appeal_withdraw,
        )
        for step in steps:
            self.refused(
                workflow.AppealError, partial(step, appeal_id=pk, actor=self.bob, note=TOO_LONG)
            )
        self.refused(
            workflow.AppealError,
            lambda: outcomes.appeal_decide(
                appeal_id=pk, actor=self.bob, outcome="upheld", justification=TOO_LONG
            ),
        )
        self.refused(
            workflow.AppealError,
            lambda: outcomes.appeal_outcome_reject(appeal_id=pk, lead=self.carol, note=TOO_LONG),
        )

    def test_policy_administration_refuses_overlong_text(self):
        draft = policies.policy_draft_create(author=self.dave)
        self.refused(
            policies.PolicyAdminError,
            lambda: policies.policy_draft_update(
                version=draft.version,
                author=self.dave,
                rules=draft.rules,
                rationale=TOO_LONG,
            ),
        )
        self.refused(
            policies.PolicyAdminError,
            lambda: policies.policy_draft_update(
                version=draft.version,
                author=self.dave,
                rules={**draft.rules, "overlay_rationale": TOO_LONG},
                rationale="Seed 004: one small step.",
            ),
        )
        Policy.objects.filter(pk=draft.pk).update(state="pending", rationale="A small step.")
        review: dict[str, Any] = {
            "version": draft.version,
            "approver": self.erin,
            "comment": TOO_LONG,
        }
        self.refused(
            policies.PolicyAdminError, partial(policies.policy_approve, **review, share="100")
        )
        self.refused(policies.PolicyAdminError, partial(policies.policy_reject, **review))
        self.refused(
            policies.PolicyAdminError,
            partial(policies.policy_rollback, actor=self.erin, reason=TOO_LONG),
        )
        self.refused(
            policies.PolicyAdminError,
            lambda: policies.kill_switch_set(actor=self.dave, paused=True, reason=TOO_LONG),
        )

    def test_an_integration_name_is_held_to_its_column(self):
        self.refused(
            ApiKeyError,
            lambda: api_key_create(
                name="x" * (text.NAME_MAX + 1), scopes=["signals:write"], actor=self.admin
            ),
        )


class KillSwitchPageTests(BaseTestCase):
    def test_pausing_asks_for_a_confirmation_and_a_reason_that_fits_the_banner(self):
        self.client.force_login(self.dave)
        page = self.client.get(reverse("policies:index"))
        self.assertContains(page, 'maxlength="500"')
        self.assertContains(page, "I understand: from now on no run and no signal re-score")

        unconfirmed = self.client.post(
            reverse("policies:kill_switch"),
            {"paused": "1", "reason": "Bureau feed outage tonight."},
            follow=True,
        )
        self.assertContains(unconfirmed, "Tick the confirmation to pause automatic reductions")
        assert not KillSwitch.objects.filter(reductions_paused=True).exists()

        huge = self.client.post(
            reverse("policies:kill_switch"),
            {"paused": "1", "confirm": "1", "reason": TOO_LONG},
            follow=True,
        )
        self.assertContains(huge, "Write at most 500 characters (this text has 100,000).")
        self.assertNotContains(huge, "Automatic limit reductions are paused portfolio-wide.")
        assert not KillSwitch.objects.filter(reductions_paused=True).exists()

        paused = self.client.post(
            reverse("policies:kill_switch"),
            {"paused": "1", "confirm": "1", "reason": "Bureau feed outage tonight."},
            follow=True,
        )
        self.assertContains(paused, "Automatic limit reductions are paused portfolio-wide.")
        # Turning it off again needs no confirmation: it only lets the runs cut again.
        self.assertNotContains(paused, "I understand: from now on")
        resumed = self.client.post(
            reverse("policies:kill_switch"),
            {"paused": "0", "reason": "Bureau feed is back and checked."},
            follow=True,
        )
        self.assertContains(resumed, "Automatic reductions are allowed again.")

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import Account
from appeals import outcomes, services, workflow
from appeals.models import Appeal
from decisions import overrides
from decisions.chain import verify_chain
from decisions.models import LimitDecision
from tests.base import BaseTestCase, make_account


class DecideTests(BaseTestCase):
    def contest(self, old: str, new: str, **account_fields) -> Appeal:
        """An account cut from `old` to `new` by an override, and bob's appeal on it."""
        account = make_account(current_limit=Decimal(old), **account_fields)
        overrides.account_override_limit(
            account_id=account.pk,
            expected_version=account.version,
            new_limit=Decimal(new),
            actor=self.alice,
            justification="Cut after the bureau check.",
        )
        result = services.appeal_intake(
            account=account,
            actor=self.bob,
            channel="hotline",
            category="evidence",
            statement="My salary is verified; please restore.",
            decision_id=account.decisions.get().pk,
        )
        services.appeal_claim_next(handler=self.bob)
        return result.appeal

    def test_a_partial_restoration_is_a_limit_decision_from_the_appeal(self):
        appeal = self.contest("8000", "3000")
        result = outcomes.appeal_decide(
            appeal_id=appeal.pk,
            actor=self.bob,
            outcome="partial",
            limit="5000",
            justification="Salary flow of 9,000 a month verified.",
        )
        assert not result.pending and result.decision is not None
        decision = result.decision
        assert (decision.source, decision.action, decision.new_limit) == (
            "appeal",
            "restore",
            Decimal("5000.00"),
        )
        assert decision.reasons == ["APPEAL_OUTCOME"] and decision.actor == self.bob
        account = Account.objects.get(pk=appeal.account_id)
        assert account.current_limit == Decimal("5000.00")
        appeal.refresh_from_db()
        assert (appeal.state, appeal.outcome_decision) == ("decided", decision)
        rows = list(LimitDecision.objects.filter(account=account).order_by("sequence").values())
        assert verify_chain(account.pk, rows) is None

    def test_upheld_writes_no_decision(self):
        appeal = self.contest("8000", "3000")
        result = outcomes.appeal_decide(
            appeal_id=appeal.pk,
            actor=self.bob,
            outcome="upheld",
            justification="The applications are real.",
        )
        assert result.decision is None
        assert LimitDecision.objects.filter(source="appeal").count() == 0
        appeal.refresh_from_db()
        assert appeal.state == "decided"

    def test_a_large_restoration_waits_for_a_lead_who_is_not_the_proposer(self):
        appeal = self.contest("40000", "9000")
        result = outcomes.appeal_decide(
            appeal_id=appeal.pk,
            actor=self.bob,
            outcome="full",
            justification="Assets of 2 million verified.",
        )
        assert result.pending and result.decision is None
        assert Account.objects.get(pk=appeal.account_id).current_limit == Decimal("9000.00")
        appeal.refresh_from_db()
        assert appeal.state == "in_review" and appeal.outcome_pending
        with pytest.raises(workflow.AppealError, match="Only an appeal lead"):
            outcomes.appeal_outcome_approve(appeal_id=appeal.pk, lead=self.bob)
        approved = outcomes.appeal_outcome_approve(appeal_id=appeal.pk, lead=self.carol)
        assert approved.decision is not None
        assert (approved.decision.actor, approved.decision.approver) == (self.bob, self.carol)
        assert approved.decision.new_limit == Decimal("40000.00")
        appeal.refresh_from_db()
        assert appeal.state == "decided" and not appeal.outcome_pending

    def test_a_closed_line_in_cool_down_is_restored_only_by_a_lead(self):
        appeal = self.contest("6000", "4000")
        Account.objects.filter(pk=appeal.account_id).update(
            status="closed", current_limit=0, cooldown_until=timezone.now() + timedelta(days=60)
        )
        with pytest.raises(workflow.AppealError, match="only be restored by an appeal lead"):
            outcomes.appeal_decide(
                appeal_id=appeal.pk,
                actor=self.bob,
                outcome="full",
                justification="Repaid in full yesterday.",
            )
        with pytest.raises(workflow.AppealError, match="at least 20 characters"):
            outcomes.appeal_decide(
                appeal_id=appeal.pk,
                actor=self.carol,
                outcome="full",
                justification="Repaid in full.",
            )
        result = outcomes.appeal_decide(
            appeal_id=appeal.pk,
            actor=self.carol,
            outcome="full",
            justification="Repaid in full; the overdue was a bank transfer error.",
        )
        account = Account.objects.get(pk=appeal.account_id)
        assert (account.status, account.current_limit) == ("active", Decimal("6000.00"))
        assert result.decision is not None and result.decision.new_status == "active"

    def test_bad_outcomes_are_refused_and_change_nothing(self):
        appeal = self.contest("8000", "3000")
        cases = [
            ({"outcome": "partial", "limit": "9000"}, "lies between the limit now"),
            ({"outcome": "partial", "limit": "2000"}, "lies between the limit now"),
            ({"outcome": "partial", "limit": "x"}, "Enter the limit as an amount"),
            ({"outcome": "maybe"}, "Choose an outcome."),
            ({"outcome": "upheld", "justification": "no"}, "at least 10 characters"),
        ]
        for fields, message in cases:
            values: dict[str, Any] = {"justification": "Checked the statements.", **fields}
            with pytest.raises(workflow.AppealError, match=message):
                outcomes.appeal_decide(appeal_id=appeal.pk, actor=self.bob, **values)
        appeal.refresh_from_db()
        assert appeal.state == "in_review" and not appeal.outcome
        assert not LimitDecision.objects.filter(source="appeal").exists()

    def test_an_appeal_not_in_review_cannot_be_decided(self):
        appeal = self.contest("8000", "3000")
        services.appeal_request_info(
            appeal_id=appeal.pk, actor=self.bob, note="Send the salary flow."
        )
        with pytest.raises(workflow.AppealError, match="cannot be decided now"):
            outcomes.appeal_decide(
                appeal_id=appeal.pk,
                actor=self.bob,
                outcome="upheld",
                justification="Nothing changes here.",
            )

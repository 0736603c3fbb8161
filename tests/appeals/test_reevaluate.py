"""Re-evaluate with evidence: verified income, provident fund or assets change the
signals, the account is scored again, and the outcome is a limit decision."""

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

import scoring
from accounts.models import Account, AccountSignals
from appeals import evidence_files, outcomes, reevaluation, services, workflow
from appeals.models import Appeal
from decisions.models import LimitDecision
from decisions.services import Change, decision_record
from policies.models import Policy
from tests.base import BaseTestCase, make_account, make_signals
from tests.files import PNG

# Like case A, with a better bureau score: verified capacity lifts it from band E to D.
SHOPPER = {
    "credit_score": 680,
    "lender_applications_30d": 14,
    "lender_applications_90d": 17,
    "external_debt_to_income": Decimal("0.9500"),
    "age": 27,
}
SALARY = {"monthly_income": "12000", "provident_fund": True}


class ReevaluateTests(BaseTestCase):
    def setUp(self):
        super().setUp()
        self.settings_override = self.settings(EVIDENCE_ROOT=self.tmp_evidence())
        self.settings_override.enable()

    def tearDown(self):
        self.settings_override.disable()
        super().tearDown()

    def tmp_evidence(self) -> str:
        import tempfile

        folder = tempfile.TemporaryDirectory()
        self.addCleanup(folder.cleanup)
        return folder.name

    def shopper(self, *, evidence: bool = True, limit: str = "8000", **signals: Any) -> Appeal:
        """A rate shopper cut by the policy (multi-lending, band E), appealed with a salary
        scan."""
        account = make_account(current_limit=Decimal(limit), score=700, band="B")
        make_signals(account, **{**SHOPPER, **signals})
        active = Policy.objects.get(state="active")
        compiled = scoring.compile_rules(scoring.parse_policy(active.rules))
        seen = AccountSignals.objects.get(account=account).as_dict()
        outcome = scoring.evaluate(
            compiled,
            seen,
            limit=scoring.cents(account.current_limit),
            status="active",
            in_cooldown=False,
            good_cycles=0,
        )
        assert outcome.action == "reduce", outcome
        decision_record(
            change=Change(
                account_id=account.pk,
                expected_version=account.version,
                action="reduce",
                source="run",
                new_limit=outcome.new_limit_decimal,
                new_status="active",
                reasons=outcome.reasons,
                score_after=outcome.score,
                band_after=outcome.band,
                contributions=outcome.contributions,
                triggers=outcome.triggers,
                policy_id=active.pk,
                policy_version=active.version,
                idempotency_key="cut",
            )
        )
        appeal = services.appeal_intake(
            account=account,
            actor=self.bob,
            channel="hotline",
            category="evidence",
            statement="I only compared rates; here is my salary flow.",
            decision_id=account.decisions.get().pk,
        ).appeal
        services.appeal_claim_next(handler=self.bob)
        if evidence:
            evidence_files.evidence_add(
                appeal_id=appeal.pk,
                actor=self.bob,
                upload=SimpleUploadedFile("salary.png", PNG, "image/png"),
            )
        return appeal

    def decide(self, appeal: Appeal, actor=None, verified: Any = None, **fields: Any):
        return outcomes.appeal_decide(
            appeal_id=appeal.pk,
            actor=actor or self.bob,
            outcome="reevaluated",
            justification=fields.pop("justification", "Salary flow of 12,000 a month verified."),
            verified=SALARY if verified is None else verified,
            **fields,
        )

    def test_verified_income_rescores_and_partly_restores_the_cut(self):
        appeal = self.shopper()
        account = Account.objects.get(pk=appeal.account_id)
        cut_score, cut_limit = account.score, account.current_limit
        result = self.decide(appeal)
        assert not result.pending and result.decision is not None
        decision = result.decision
        # The applications at other lenders are still on file: the policy's 30% cut
        # of the 8,000 before the contested decision stays, the band cut goes.
        assert (decision.source, decision.action, decision.new_limit) == (
            "appeal",
            "restore",
            Decimal("5600.00"),
        )
        assert cut_limit < decision.new_limit < Decimal("8000.00")
        assert decision.reasons == ["APPEAL_OUTCOME", "VERIFIED_CAPACITY"]
        assert decision.triggers == ["MULTI_LENDING"]
        assert decision.score_after > cut_score
        assert decision.contributions["verified_monthly_income"] > 0
        assert decision.contributions["provident_fund_verified"] > 0
        assert decision.inputs["verified_monthly_income"] == "12000.00"
        assert decision.policy_version == 1
        signals = AccountSignals.objects.get(account_id=appeal.account_id)
        assert signals.verified_monthly_income == Decimal("12000.00")
        assert signals.provident_fund_verified is True
        account.refresh_from_db()
        assert (account.current_limit, account.score) == (Decimal("5600.00"), decision.score_after)
        appeal.refresh_from_db()
        assert (appeal.state, appeal.outcome, appeal.outcome_decision) == (
            "decided",
            "reevaluated",
            decision,
        )
        note = appeal.events.get(move="decide").note
        assert f"score {cut_score} → {decision.score_after}" in note and "5600" in note

    def test_without_the_cause_gone_the_line_is_fully_restored(self):
        appeal = self.shopper()
        AccountSignals.objects.filter(account_id=appeal.account_id).update(
            lender_applications_30d=3
        )
        result = self.decide(appeal, verified={"assets": "150000"})
        assert result.decision is not None and result.decision.new_limit == Decimal("8000.00")
        assert result.decision.triggers == []

    def test_when_the_policy_still_cuts_as_deep_the_decision_stands_and_signals_are_kept(self):
        appeal = self.shopper()
        AccountSignals.objects.filter(account_id=appeal.account_id).update(
            days_past_due=40, max_dpd_12m=40
        )
        account = Account.objects.get(pk=appeal.account_id)
        result = self.decide(appeal, verified={"assets": "20000.50"})
        assert result.decision is None and not result.pending
        assert not LimitDecision.objects.filter(source="appeal").exists()
        assert Account.objects.get(pk=account.pk).current_limit == account.current_limit
        signals = AccountSignals.objects.get(account_id=account.pk)
        assert signals.verified_assets == Decimal("20000.50")
        appeal.refresh_from_db()
        assert appeal.state == "decided" and "stays at" in appeal.events.get(move="decide").note

    def test_a_large_reevaluation_waits_for_a_lead_and_applies_on_approval(self):
        # No multi-lending: band C's ceiling cut 40,000 to 20,000; the proof lifts it to B.
        appeal = self.shopper(limit="40000", lender_applications_30d=0)
        result = self.decide(appeal, verified={"monthly_income": "30000", "assets": "2000000"})
        assert result.pending and result.decision is None
        appeal.refresh_from_db()
        assert appeal.outcome_limit is not None and appeal.outcome_limit > Decimal("20000")
        assert appeal.verified_signals == {
            "verified_monthly_income": "30000.00",
            "verified_assets": "2000000.00",
        }
        # Nothing is written to the account until the lead approves.
        signals = AccountSignals.objects.get(account_id=appeal.account_id)
        assert signals.verified_monthly_income is None
        with pytest.raises(workflow.AppealError, match="Only an appeal lead"):
            outcomes.appeal_outcome_approve(appeal_id=appeal.pk, lead=self.bob)
        approved = outcomes.appeal_outcome_approve(appeal_id=appeal.pk, lead=self.carol)
        assert approved.decision is not None
        assert approved.decision.new_limit == appeal.outcome_limit
        assert (approved.decision.actor, approved.decision.approver) == (self.bob, self.carol)
        signals.refresh_from_db()
        assert signals.verified_assets == Decimal("2000000.00")

    def test_approval_refuses_a_reevaluation_the_account_has_moved_away_from(self):
        appeal = self.shopper(limit="40000", lender_applications_30d=0)
        self.decide(appeal, verified={"monthly_income": "30000", "assets": "2000000"})
        AccountSignals.objects.filter(account_id=appeal.account_id).update(
            lender_applications_30d=14
        )
        with pytest.raises(workflow.AppealError, match="account changed since"):
            outcomes.appeal_outcome_approve(appeal_id=appeal.pk, lead=self.carol)
        appeal.refresh_from_db()
        assert appeal.outcome_pending and appeal.state == "in_review"
        assert not LimitDecision.objects.filter(source="appeal").exists()

    def test_bad_evidence_values_are_refused_and_change_nothing(self):
        appeal = self.shopper()
        cases = [
            ({}, "Enter what the evidence verifies"),
            ({"monthly_income": "twelve thousand"}, "verified monthly income as an amount"),
            ({"monthly_income": "-5"}, "verified monthly income as an amount"),
            ({"assets": "1.005"}, "verified assets as an amount"),
            ({"assets": "1e30"}, "verified assets as an amount"),
        ]
        for verified, message in cases:
            with pytest.raises(workflow.AppealError, match=message):
                self.decide(appeal, verified=verified)
        appeal.refresh_from_db()
        assert appeal.state == "in_review" and not appeal.outcome
        assert AccountSignals.objects.get(account_id=appeal.account_id).verified_assets is None

    def test_a_reevaluation_needs_the_evidence_on_file(self):
        appeal = self.shopper(evidence=False)
        with pytest.raises(workflow.AppealError, match="Upload the evidence first"):
            self.decide(appeal)
        assert not LimitDecision.objects.filter(source="appeal").exists()

    def test_a_closed_line_in_cool_down_is_reevaluated_only_by_a_lead(self):
        appeal = self.shopper()
        Account.objects.filter(pk=appeal.account_id).update(
            status="closed", current_limit=0, cooldown_until=timezone.now() + timedelta(days=60)
        )
        with pytest.raises(workflow.AppealError, match="only be restored by an appeal lead"):
            self.decide(appeal)
        result = self.decide(
            appeal,
            actor=self.carol,
            justification="Salary and provident fund verified with the employer by phone.",
        )
        assert result.decision is not None
        assert Account.objects.get(pk=appeal.account_id).status == "active"

    def test_a_frozen_line_is_not_restored_by_an_appeal(self):
        appeal = self.shopper()
        Account.objects.filter(pk=appeal.account_id).update(status="frozen")
        with pytest.raises(workflow.AppealError, match="unfreeze it on the account page"):
            self.decide(appeal)
        with pytest.raises(workflow.AppealError, match="unfreeze it on the account page"):
            outcomes.appeal_decide(
                appeal_id=appeal.pk,
                actor=self.bob,
                outcome="full",
                justification="The cut was a misjudgment.",
            )


def test_verified_values_are_typed_and_checked():
    assert reevaluation.verified_values(monthly_income="12,000.5", provident_fund=True) == {
        "verified_monthly_income": Decimal("12000.50"),
        "provident_fund_verified": True,
    }
    values = {"verified_assets": Decimal("5.00"), "provident_fund_verified": True}
    assert reevaluation.from_json(reevaluation.as_json(values)) == values


class WorkbenchTests(ReevaluateTests):
    def test_the_workbench_shows_the_contested_decisions_why_and_the_accounts_history(self):
        appeal = self.shopper()
        self.client.force_login(self.bob)
        url = reverse("appeals:detail", args=[appeal.pk])
        with self.assertNumQueries(14):  # 2 of them the navigation's My work count
            page = self.client.get(url)
        self.assertContains(page, "Why the contested decision")
        self.assertContains(
            page, "Applications at other lenders or debt elsewhere lowered the score"
        )
        self.assertContains(page, "Thresholds crossed")
        self.assertContains(page, "Applications at other lenders in 30 days")
        self.assertContains(page, "The account's history")
        self.assertContains(page, "¥8,000.00 → ¥3,000.00")  # the timeline row

    def test_the_handler_previews_a_reevaluation_then_confirms_it(self):
        appeal = self.shopper()
        self.client.force_login(self.bob)
        url = reverse("appeals:decide", args=[appeal.pk])
        data = {
            "outcome": "reevaluated",
            "verified_monthly_income": "12000",
            "provident_fund_verified": "on",
            "justification": "Salary flow verified.",
        }
        preview = self.client.post(url, data)
        self.assertContains(preview, "Re-evaluation")
        self.assertContains(preview, "band E → D")
        self.assertContains(preview, "¥3,000.00 → ¥5,600.00")
        self.assertContains(
            preview,
            "We have re-assessed your line with the proof you sent. "
            "Your credit limit is restored to ¥5,600.00.",
        )
        self.assertContains(preview, "您的信用额度已恢复至 ¥5,600.00")
        self.assertContains(preview, "What still keeps it from the limit you had before:")
        assert not LimitDecision.objects.filter(source="appeal").exists()
        done = self.client.post(url, {**data, "confirm": "1"}, follow=True)
        self.assertContains(done, "Decided; the outcome is on the account")
        self.assertContains(done, "re-evaluated with the evidence")
        assert Account.objects.get(pk=appeal.account_id).current_limit == Decimal("5600.00")

    def test_bad_values_come_back_with_a_message_and_change_nothing(self):
        appeal = self.shopper()
        self.client.force_login(self.bob)
        url = reverse("appeals:decide", args=[appeal.pk])
        data = {
            "outcome": "reevaluated",
            "verified_assets": "lots",
            "justification": "Assets verified.",
        }
        for extra in ({}, {"confirm": "1"}):
            page = self.client.post(url, {**data, **extra})
            self.assertContains(page, "Enter the verified assets as an amount in yuan")
        assert AccountSignals.objects.get(account_id=appeal.account_id).verified_assets is None
        assert not LimitDecision.objects.filter(source="appeal").exists()

"""What an appeal showed (asked when deciding, required to close, counted for the
reports) and the guardrails of the outcome: a restoration the next scheduled run
would cut again is warned about, an evidence outcome needs evidence, a send-back
needs a reason the handler reads."""

from datetime import UTC, datetime
from decimal import Decimal

from django.urls import reverse

from accounts.models import Account
from appeals import outcomes, responses, services, workflow
from appeals.models import Appeal, AppealEvent
from decisions import overrides
from tests.base import BaseTestCase, make_account, make_signals

# A rate shopper (as in test_reevaluate): the active policy cuts this line at 8,000.
SHOPPER = {
    "credit_score": 680,
    "lender_applications_30d": 14,
    "lender_applications_90d": 17,
    "external_debt_to_income": Decimal("0.9500"),
    "age": 27,
}


class Base(BaseTestCase):
    def contest(self, old: str = "8000", new: str = "3000", signals=None) -> Appeal:
        account = make_account(current_limit=Decimal(old))
        if signals is not None:
            make_signals(account, **signals)
        overrides.account_override_limit(
            account_id=account.pk,
            expected_version=account.version,
            new_limit=Decimal(new),
            actor=self.alice,
            justification="Cut after the bureau check.",
        )
        appeal = services.appeal_intake(
            account=account,
            actor=self.bob,
            channel="hotline",
            category="evidence",
            statement="My salary is verified; please restore.",
            decision_id=account.decisions.get().pk,
        ).appeal
        services.appeal_claim_next(handler=self.bob)
        return Appeal.objects.get(pk=appeal.pk)

    def state_of(self, appeal: Appeal):
        appeal = Appeal.objects.get(pk=appeal.pk)
        account = Account.objects.get(pk=appeal.account_id)
        return (
            appeal.state,
            appeal.outcome,
            appeal.close_label,
            appeal.outcome_pending,
            account.current_limit,
            AppealEvent.objects.filter(appeal=appeal).count(),
        )


class CloseLabelTests(Base):
    def test_a_label_chosen_when_deciding_is_kept_shown_and_required_to_close(self):
        appeal = self.contest()
        self.client.force_login(self.bob)
        url = reverse("appeals:decide", args=[appeal.pk])
        data = {
            "outcome": "partial",
            "limit": "5000",
            "justification": "Salary flow verified at the branch.",
            "close_label": "misjudged",
            "confirm": "1",
        }
        response = self.client.post(url, data, follow=True)
        self.assertContains(response, "Decided; the outcome is on the account")
        appeal.refresh_from_db()
        assert (appeal.state, appeal.close_label) == ("decided", "misjudged")
        self.assertContains(response, "What the appeal showed")
        self.assertContains(response, "misjudged: the decision was wrong")
        assert "misjudged: the decision was wrong" in appeal.events.get(move="decide").note
        # Closing keeps it, and the queue header and the SLA page count it.
        response = self.client.post(
            reverse("appeals:close", args=[appeal.pk]), {"close_label": "misjudged"}, follow=True
        )
        self.assertContains(response, "Closed.")
        appeal.refresh_from_db()
        assert appeal.state == "closed"
        self.client.force_login(self.carol)
        self.assertContains(
            self.client.get(reverse("appeals:queue")), "misjudged: the decision was wrong: 1"
        )
        sla = self.client.get(reverse("appeals:sla"))
        assert [(c.label, c.count) for c in sla.context["labels"]] == [("misjudged", 1)]

    def test_closing_without_a_label_is_refused_and_changes_nothing(self):
        appeal = self.contest()
        outcomes.appeal_decide(
            appeal_id=appeal.pk,
            actor=self.bob,
            outcome="upheld",
            justification="The bureau data is right.",
        )
        before = self.state_of(appeal)
        self.client.force_login(self.bob)
        page = self.client.get(reverse("appeals:detail", args=[appeal.pk]))
        self.assertContains(page, "Close the appeal")
        url = reverse("appeals:close", args=[appeal.pk])
        for data in ({}, {"close_label": "nonsense"}):
            response = self.client.post(url, data, follow=True)
            self.assertContains(response, "Choose what the appeal showed")
            assert self.state_of(appeal) == before
        with self.assertRaisesMessage(workflow.AppealError, "Choose what the appeal showed"):
            outcomes.appeal_close(appeal_id=appeal.pk, actor=self.bob)
        assert self.state_of(appeal) == before
        outcomes.appeal_close(appeal_id=appeal.pk, actor=self.bob, close_label="correct_cut")
        appeal.refresh_from_db()
        assert (appeal.state, appeal.close_label) == ("closed", "correct_cut")
        event = appeal.events.get(move="close")
        assert event.note == "correct: the decision was right"

    def test_an_open_appeal_cannot_be_closed(self):
        appeal = self.contest()
        with self.assertRaisesMessage(workflow.AppealError, "cannot be closed now"):
            outcomes.appeal_close(appeal_id=appeal.pk, actor=self.bob, close_label="other")
        with self.assertRaisesMessage(workflow.AppealError, "Choose what the appeal showed"):
            outcomes.appeal_decide(
                appeal_id=appeal.pk,
                actor=self.bob,
                outcome="upheld",
                justification="The bureau data is right.",
                close_label="bogus",
            )
        assert Appeal.objects.get(pk=appeal.pk).state == "in_review"


class EvidenceGuardrailTests(Base):
    def test_an_evidence_outcome_without_evidence_is_refused_and_nothing_changes(self):
        appeal = self.contest(signals=SHOPPER)
        before = self.state_of(appeal)
        refusal = "Upload the evidence first: a re-evaluation rests on proof"
        with self.assertRaisesMessage(workflow.AppealError, refusal):
            outcomes.appeal_decide(
                appeal_id=appeal.pk,
                actor=self.bob,
                outcome="reevaluated",
                justification="Salary flow of 12,000 a month verified.",
                verified={"monthly_income": "12000", "provident_fund": True},
            )
        assert self.state_of(appeal) == before
        self.client.force_login(self.bob)
        response = self.client.post(
            reverse("appeals:decide", args=[appeal.pk]),
            {
                "outcome": "reevaluated",
                "verified_monthly_income": "12000",
                "justification": "Salary flow of 12,000 a month verified.",
                "confirm": "1",
            },
        )
        self.assertContains(response, "Upload the evidence first: a re-evaluation rests on proof")
        assert self.state_of(appeal) == before


class SendBackTests(Base):
    def pending(self) -> Appeal:
        appeal = self.contest()
        with self.settings(APPEAL_APPROVAL_ABOVE=Decimal("1000")):
            result = outcomes.appeal_decide(
                appeal_id=appeal.pk,
                actor=self.bob,
                outcome="partial",
                limit="5000",
                justification="Salary flow verified at the branch.",
                close_label="misjudged",
            )
        assert result.pending
        return appeal

    def test_a_send_back_needs_a_reason_the_handler_reads_on_the_appeal(self):
        appeal = self.pending()
        before = self.state_of(appeal)
        self.client.force_login(self.carol)
        url = reverse("appeals:approve", args=[appeal.pk])
        page = self.client.get(reverse("appeals:detail", args=[appeal.pk]))
        self.assertContains(page, "Why it goes back (the handler reads this)")
        for note in ("", "   ", "too short"):
            response = self.client.post(url, {"decision": "reject", "note": note})
            self.assertContains(response, "at least 10 characters")
            assert self.state_of(appeal) == before
        # The text typed stays in the form.
        response = self.client.post(url, {"decision": "reject", "note": "Nope"})
        self.assertContains(response, "Nope</textarea>")
        with self.assertRaisesMessage(workflow.AppealError, "at least 10 characters"):
            outcomes.appeal_outcome_reject(appeal_id=appeal.pk, lead=self.carol, note="short")
        assert self.state_of(appeal) == before
        reason = "The salary slip is from 2023; ask for this year's."
        response = self.client.post(url, {"decision": "reject", "note": reason}, follow=True)
        self.assertContains(response, "Sent back to the handler.")
        event = AppealEvent.objects.get(appeal=appeal, move="outcome_rejected")
        assert (event.note, event.actor) == (reason, self.carol)
        appeal.refresh_from_db()
        assert (appeal.outcome, appeal.outcome_pending, appeal.close_label) == ("", False, "")
        # The handler sees it on the appeal, until they propose again.
        self.client.force_login(self.bob)
        page = self.client.get(reverse("appeals:detail", args=[appeal.pk]))
        self.assertContains(page, "Outcome sent back by a lead")
        self.assertContains(page, "The salary slip is from 2023; ask for this year&#x27;s.")
        outcomes.appeal_decide(
            appeal_id=appeal.pk,
            actor=self.bob,
            outcome="upheld",
            justification="The bureau data is right after all.",
        )
        page = self.client.get(reverse("appeals:detail", args=[appeal.pk]))
        self.assertNotContains(page, "Outcome sent back by a lead")


class RecutWarningTests(Base):
    def test_the_next_run_is_read_from_the_beat_schedule(self):
        at = datetime(2026, 12, 3, 17, 0, tzinfo=UTC)
        assert responses.next_scheduled_run(at) == datetime(2026, 12, 3, 18, 0, tzinfo=UTC)
        later = datetime(2026, 12, 3, 18, 30, tzinfo=UTC)
        assert responses.next_scheduled_run(later) == datetime(2026, 12, 4, 18, 0, tzinfo=UTC)
        with self.settings(CELERY_BEAT_SCHEDULE={}):
            assert responses.next_scheduled_run(at) is None

    def test_a_restoration_the_policy_would_cut_again_is_warned_not_refused(self):
        appeal = self.contest(signals=SHOPPER)
        warning = responses.recut_warning(appeal.account, Decimal("8000"))
        assert warning is not None and warning.kept < Decimal("8000")
        assert warning.next_run is not None
        when = warning.next_run.strftime("%Y-%m-%d %H:%M")
        self.client.force_login(self.bob)
        url = reverse("appeals:decide", args=[appeal.pk])
        data = {"outcome": "full", "justification": "Salary flow verified at the branch."}
        preview = self.client.post(url, data)
        self.assertContains(preview, "The next scheduled run would cut this restoration again.")
        self.assertContains(preview, f"the nightly re-score on {when} UTC would cut")
        self.assertContains(preview, "unless the line is frozen")
        self.assertContains(preview, "Confirm the decision")  # a warning, not a refusal
        response = self.client.post(url, {**data, "confirm": "1"}, follow=True)
        self.assertContains(response, "Decided; the outcome is on the account")
        self.assertContains(response, f"the nightly re-score on {when} UTC would cut")
        assert Account.objects.get(pk=appeal.account_id).current_limit == Decimal("8000.00")

    def test_the_lead_approving_a_large_restoration_sees_it_too(self):
        appeal = self.contest(old="30000", new="3000", signals=SHOPPER)
        outcomes.appeal_decide(
            appeal_id=appeal.pk,
            actor=self.bob,
            outcome="full",
            justification="Salary flow verified at the branch.",
        )
        self.client.force_login(self.carol)
        page = self.client.get(reverse("appeals:detail", args=[appeal.pk]))
        self.assertContains(page, "Waiting for a lead")
        self.assertContains(page, "The next scheduled run would cut this restoration again.")

    def test_no_warning_when_the_policy_keeps_the_limit(self):
        appeal = self.contest(signals={})  # healthy signals
        assert responses.recut_warning(appeal.account, Decimal("5000")) is None
        self.client.force_login(self.bob)
        preview = self.client.post(
            reverse("appeals:decide", args=[appeal.pk]),
            {"outcome": "partial", "limit": "5000", "justification": "Salary flow verified."},
        )
        self.assertContains(preview, "Confirm the decision")
        self.assertNotContains(preview, "would cut this restoration again")

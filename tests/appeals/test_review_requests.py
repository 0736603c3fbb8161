"""Human review on request (docs/architecture.md, "Human review on request"): a
customer asks for an explanation of an automated decision or for a person to review
it, through the API or on the account page; it is an appeal of its own category with
its own SLA, and the answer records who reviewed it."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.urls import reverse
from django.utils import timezone

import scoring
from accounts import roles
from accounts.models import AccountSignals
from api import services as api_services
from api.models import ApiCall
from appeals import outcomes, review_requests, services, workflow
from appeals.models import Appeal, AppealEvent, SlaTarget
from decisions import overrides
from decisions.models import LimitDecision
from decisions.services import Change, decision_record
from policies.models import Policy
from tests.base import BaseTestCase, make_account, make_signals, make_user

URL = "/api/v1/review-requests"
# Case A: many applications at other lenders; the active policy cuts the line.
SHOPPER = {
    "credit_score": 680,
    "lender_applications_30d": 14,
    "lender_applications_90d": 17,
    "external_debt_to_income": Decimal("0.9500"),
    "age": 27,
}
VIEW = "I only compared rates at other lenders; I never borrowed from them."


def cut_by_a_run(reference: str, limit: str = "8000") -> LimitDecision:
    """An account whose limit the active policy cut, as a run records it (source "run")."""
    account = make_account(reference=reference, current_limit=Decimal(limit), score=700, band="B")
    make_signals(account, **SHOPPER)
    active = Policy.objects.get(state="active")
    compiled = scoring.compile_rules(scoring.parse_policy(active.rules))
    outcome = scoring.evaluate(
        compiled,
        AccountSignals.objects.get(account=account).as_dict(),
        limit=scoring.cents(account.current_limit),
        status="active",
        in_cooldown=False,
        good_cycles=0,
    )
    assert outcome.action == "reduce", outcome
    decision = decision_record(
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
            idempotency_key=f"cut:{reference}",
        )
    )
    assert decision is not None
    return decision


def nothing_recorded() -> bool:
    return not Appeal.objects.exists() and not AppealEvent.objects.exists()


class Base(BaseTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.cut = cut_by_a_run("LD-REV-1")
        self.account = self.cut.account
        # A person's decision after the run's: the request still concerns the run's.
        self.account.refresh_from_db()
        overrides.account_override_limit(
            account_id=self.account.pk,
            expected_version=self.account.version,
            new_limit=Decimal("2000"),
            actor=self.alice,
            justification="Bureau check by the branch.",
        )
        self.manual = LimitDecision.objects.get(account=self.account, source="override")
        self.account.refresh_from_db()


class ApiTests(Base):
    def setUp(self) -> None:
        super().setUp()
        admin = make_user("root", roles.ADMINISTRATOR)
        self.key = api_services.api_key_create(
            name="help-centre", scopes=["appeals:write"], actor=admin
        )[1]
        self.signals_only = api_services.api_key_create(
            name="risk-engine", scopes=["signals:write"], actor=admin
        )[1]

    def send(self, key: str | None = None, **fields: Any) -> Any:
        body = {"account": "LD-REV-1", "kind": "both", "view": VIEW, "channel": "app", **fields}
        body = {name: value for name, value in body.items() if value is not None}
        return self.client.post(
            URL,
            body,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {key or self.key}",
        )

    def test_a_request_opens_a_review_appeal_on_the_latest_automated_decision(self):
        before = timezone.now()
        response = self.send()
        assert response.status_code == 201, response.content
        body = response.json()
        appeal = Appeal.objects.get(pk=body["appeal"])
        assert (appeal.category, appeal.review_kind, appeal.channel) == ("review", "both", "app")
        # Not the newer override: the latest decision the scoring made.
        assert appeal.decision_id == self.cut.pk == body["decision"]
        assert appeal.statement == VIEW
        # The category's own target (24 h, migration appeals/0013), not the 72 h default.
        assert SlaTarget.objects.get(category="review").hours == 24
        assert (
            before + timedelta(hours=24) <= appeal.sla_due <= timezone.now() + timedelta(hours=24)
        )
        assert body["sla_due"].startswith(appeal.sla_due.strftime("%Y-%m-%dT%H:%M"))
        assert (body["category"], body["kind"], body["duplicate"]) == ("review", "both", False)
        assert "via help-centre" in appeal.events.get(move="received").note
        call = ApiCall.objects.get(path=URL)
        assert (call.key_name, call.method, call.status) == ("help-centre", "POST", 201)

        again = self.send(kind="explanation", view="Written request about the same cut.")
        assert again.status_code == 200 and again.json()["duplicate"] is True
        assert again.json()["appeal"] == appeal.pk and Appeal.objects.count() == 1

    def test_each_bad_request_is_refused_clearly_and_changes_nothing(self):
        other = cut_by_a_run("LD-REV-2")
        cases: list[tuple[dict[str, Any], int, str]] = [
            ({"account": "LD-NOBODY"}, 404, "No account with this reference."),
            ({"decision": other.pk}, 422, "not one of this account's"),
            ({"decision": self.manual.pk}, 422, "made by a person"),
            ({"view": ""}, 422, "customer's view"),
            ({"view": "  no "}, 422, "customer's view"),
            ({"kind": "refund"}, 422, ""),
            ({"channel": "hotline"}, 422, ""),
        ]
        for fields, status, words in cases:
            response = self.send(**fields)
            assert response.status_code == status, (fields, response.content)
            assert words in str(response.json()["detail"]), (fields, response.content)
            assert nothing_recorded(), fields
        # An account no run has changed: nothing to review.
        make_signals(make_account(reference="LD-REV-3"))
        response = self.send(account="LD-REV-3")
        assert response.status_code == 422
        assert (
            response.json()["detail"] == "No automated decision has changed this account's limit."
        )
        assert nothing_recorded()

    def test_a_key_without_the_appeals_scope_is_refused(self):
        response = self.send(key=self.signals_only)
        assert response.status_code == 403
        assert response.json()["detail"] == "This key lacks the scope appeals:write."
        assert nothing_recorded()
        assert self.send(key="ld_nothing_here").status_code == 401
        assert nothing_recorded()


class SlaAndIntakeTests(Base):
    def test_the_due_time_follows_the_categorys_own_target(self):
        services.sla_targets_set(lead=self.carol, hours={"review": 6, "misjudged": 72})
        before = timezone.now()
        appeal = review_requests.review_request_record(
            account=self.account, actor=self.bob, kind="explanation", view=VIEW, channel="hotline"
        ).appeal
        assert before + timedelta(hours=6) <= appeal.sla_due <= timezone.now() + timedelta(hours=6)
        other = services.appeal_intake(
            account=self.account,
            actor=self.bob,
            channel="hotline",
            category="misjudged",
            statement="Please look again.",
            decision_id=self.cut.pk,
        ).appeal
        assert other.sla_due - other.created_at == timedelta(hours=72)

    def test_a_review_request_is_not_swallowed_by_an_open_appeal_on_the_decision(self):
        contest = services.appeal_intake(
            account=self.account,
            actor=self.bob,
            channel="hotline",
            category="misjudged",
            statement="Please look again.",
            decision_id=self.cut.pk,
        )
        review = review_requests.review_request_record(
            account=self.account, actor=self.bob, kind="human_review", view=VIEW, channel="hotline"
        )
        assert not review.duplicate and review.appeal.pk != contest.appeal.pk
        assert review.appeal.category == "review" and review.appeal.decision_id == self.cut.pk
        # And a second contest joins the contest, not the review request.
        again = services.appeal_intake(
            account=self.account,
            actor=self.bob,
            channel="app",
            category="reason",
            statement="Why was it cut?",
            decision_id=self.cut.pk,
        )
        assert again.duplicate and again.appeal.pk == contest.appeal.pk

    def test_the_review_category_needs_its_kind_and_no_other_category_takes_one(self):
        for category, kind in (("review", ""), ("reason", "explanation")):
            with self.assertRaises(workflow.AppealError):
                services.appeal_intake(
                    account=self.account,
                    actor=self.bob,
                    channel="hotline",
                    category=category,
                    statement="Please explain the cut.",
                    decision_id=self.cut.pk,
                    review_kind=kind,
                )
        assert nothing_recorded()


class AccountPageTests(Base):
    def url(self) -> str:
        return reverse("appeals:review_request", args=["LD-REV-1"])

    def test_the_account_page_offers_the_form_to_those_who_record_appeals(self):
        self.client.force_login(self.bob)
        page = self.client.get(reverse("accounts:detail", args=["LD-REV-1"])).content.decode()
        assert "Customer asks for an explanation / a human review" in page
        assert f'action="{self.url()}"' in page
        self.client.force_login(self.alice)
        page = self.client.get(reverse("accounts:detail", args=["LD-REV-1"])).content.decode()
        assert "Customer asks for an explanation / a human review" not in page

    def test_a_handler_records_a_request_from_the_account_page(self):
        self.client.force_login(self.bob)
        response = self.client.post(
            self.url(), {"kind": "explanation", "channel": "hotline", "view": VIEW}
        )
        appeal = Appeal.objects.get()
        assert response.status_code == 302
        assert response["Location"] == reverse("appeals:detail", args=[appeal.pk])
        assert (appeal.category, appeal.review_kind, appeal.decision_id) == (
            "review",
            "explanation",
            self.cut.pk,
        )
        page = self.client.get(response["Location"]).content.decode()
        assert f"Review request #{appeal.pk} recorded" in page
        assert "Request for an explanation or a human review" in page
        assert "an explanation" in page and VIEW in page and "not reviewed yet" in page

    def test_roles_without_the_permission_are_refused_and_nothing_is_written(self):
        for person in (self.alice, self.dave, self.frank):
            self.client.force_login(person)
            response = self.client.post(
                self.url(), {"kind": "both", "channel": "hotline", "view": VIEW}
            )
            assert response.status_code == 403, person
        assert nothing_recorded()

    def test_bad_input_comes_back_on_the_account_page_and_changes_nothing(self):
        self.client.force_login(self.bob)
        other = cut_by_a_run("LD-REV-2")
        cases = [
            ({"channel": "hotline", "view": VIEW}, "explanation or a review"),
            ({"kind": "both", "channel": "hotline", "view": "ok"}, "customer's view"),
            ({"kind": "both", "channel": "hotline", "view": ""}, "customer's view"),
            (
                {"kind": "both", "channel": "hotline", "view": VIEW, "decision": self.manual.pk},
                "made by a person",
            ),
            (
                {"kind": "both", "channel": "hotline", "view": VIEW, "decision": other.pk},
                "not one of this account's",
            ),
        ]
        for data, words in cases:
            response = self.client.post(self.url(), data, follow=True)
            assert response.redirect_chain[-1][0].startswith(
                reverse("accounts:detail", args=["LD-REV-1"])
            ), data
            assert words in response.content.decode().replace("&#x27;", "'"), data
            assert nothing_recorded(), data
        assert (
            self.client.post(
                reverse("appeals:review_request", args=["LD-NOBODY"]),
                {"kind": "both", "channel": "hotline", "view": VIEW},
            ).status_code
            == 404
        )


class ReviewerTests(Base):
    def request(self, kind: str = "both") -> Appeal:
        return review_requests.review_request_record(
            account=self.account, actor=self.bob, kind=kind, view=VIEW, channel="hotline"
        ).appeal

    def test_the_answer_records_and_shows_who_reviewed_it(self):
        appeal = self.request("explanation")
        services.appeal_claim_next(handler=self.bob)
        outcomes.appeal_decide(
            appeal_id=appeal.pk,
            actor=self.bob,
            outcome="upheld",
            justification="Explained the multi-lending rule to the customer; the cut stands.",
        )
        appeal.refresh_from_db()
        assert (appeal.state, appeal.outcome, appeal.outcome_by) == ("decided", "upheld", self.bob)
        assert appeal.decided_at is not None
        self.client.force_login(self.carol)
        page = self.client.get(reverse("appeals:detail", args=[appeal.pk])).content.decode()
        reviewer = page[page.index('id="reviewer"') :]
        assert reviewer.startswith('id="reviewer">bob on ')
        assert "upheld: the decision stands" in reviewer[:300]
        # The explanation: the reasons the decision states, in the customer's words.
        reasons = page[page.index('id="review-reasons"') :]
        assert "lenders" in reasons[: reasons.index("</ol>")].lower()

    def test_only_the_assignee_or_a_lead_answers_it(self):
        appeal = self.request()
        services.appeal_claim_next(handler=self.bob)
        hank = make_user("hank", roles.APPEAL_HANDLER)
        with self.assertRaisesMessage(workflow.AppealError, "assigned to someone else"):
            outcomes.appeal_decide(
                appeal_id=appeal.pk,
                actor=hank,
                outcome="upheld",
                justification="Looked at it and it stands.",
            )
        appeal.refresh_from_db()
        assert appeal.state == "in_review" and appeal.outcome_by is None
        with self.assertRaisesMessage(workflow.AppealError, "cannot work appeals"):
            outcomes.appeal_decide(
                appeal_id=appeal.pk,
                actor=self.alice,
                outcome="upheld",
                justification="Looked at it and it stands.",
            )
        # A lead steps in.
        outcomes.appeal_decide(
            appeal_id=appeal.pk,
            actor=self.carol,
            outcome="upheld",
            justification="Reviewed by a lead; the cut stands.",
        )
        appeal.refresh_from_db()
        assert appeal.outcome_by == self.carol and appeal.state == "decided"

    def test_no_one_approves_their_own_restoration_of_a_review_request(self):
        appeal = self.request("human_review")
        appeal = services.appeal_assign(appeal_id=appeal.pk, assignee=self.carol, lead=self.carol)
        with self.settings(APPEAL_APPROVAL_ABOVE=Decimal("1000")):
            result = outcomes.appeal_decide(
                appeal_id=appeal.pk,
                actor=self.carol,
                outcome="partial",
                limit="5000",
                justification="On review the multi-lending cut was too deep.",
            )
            assert result.pending
            with self.assertRaisesMessage(workflow.AppealError, "cannot approve it"):
                outcomes.appeal_outcome_approve(appeal_id=appeal.pk, lead=self.carol)
            appeal.refresh_from_db()
            assert appeal.outcome_pending and appeal.decided_at is None
            lena = make_user("lena", roles.APPEAL_LEAD)
            outcomes.appeal_outcome_approve(appeal_id=appeal.pk, lead=lena)
        appeal.refresh_from_db()
        assert (appeal.state, appeal.outcome_by) == ("decided", self.carol)
        assert appeal.outcome_decision is not None and appeal.outcome_decision.approver == lena
        self.client.force_login(self.frank)
        page = self.client.get(reverse("appeals:detail", args=[appeal.pk])).content.decode()
        reviewer = page[page.index('id="reviewer"') :][:400]
        assert "carol on " in reviewer and "partly restored" in reviewer
        assert "approved by lena" in reviewer
        # A human review only: no explanation section.
        assert 'id="review-reasons"' not in page


class QueueAndSlaPageTests(Base):
    def test_the_queue_filters_by_the_category_and_the_sla_page_sets_its_target(self):
        review_requests.review_request_record(
            account=self.account, actor=self.bob, kind="both", view=VIEW, channel="hotline"
        )
        services.appeal_intake(
            account=self.account,
            actor=self.bob,
            channel="hotline",
            category="misjudged",
            statement="Please look again.",
            decision_id=self.cut.pk,
        )
        self.client.force_login(self.carol)
        page = self.client.get(reverse("appeals:queue"), {"view": "all", "category": "review"})
        text = page.content.decode()
        assert '<option value="review" selected>explanation or human review</option>' in text
        assert text.count("LD-REV-1") == 1 and "explanation or human review" in text
        sla = self.client.get(reverse("appeals:sla")).content.decode()
        assert 'name="review"' in sla and 'value="24"' in sla[sla.index('name="review"') - 200 :]
        response = self.client.post(
            reverse("appeals:sla"),
            {"reason": 24, "misjudged": 72, "evidence": 72, "closure": 48, "review": 8},
        )
        assert response.status_code == 302
        assert SlaTarget.objects.get(category="review").hours == 8

"""Explanations that are true: LD-CASE-A's page and notice, any decision picked from the
timeline, the contested one by default, and an account no decision has changed."""

from decimal import Decimal

from django.contrib.auth.models import User
from django.core.management import call_command
from django.urls import reverse

from accounts.models import Account
from appeals import services as appeal_services
from appeals.models import Appeal
from decisions import services
from tests.base import BaseTestCase, make_account, make_signals


class ExplanationTests(BaseTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        call_command("seed_demo", "--accounts", "0", verbosity=0)
        cls.alice = User.objects.get(username="alice")

    def case_a_cut(self):
        return Account.objects.get(reference="LD-CASE-A").decisions.get(sequence=1)

    def test_case_a_names_the_band_ceiling_first_with_its_figures_and_no_false_reason(self):
        self.client.force_login(self.alice)
        response = self.client.get(reverse("accounts:detail", args=["LD-CASE-A"]))
        reasons = response.context["why"].reasons
        assert [r.code for r in reasons][:2] == ["BAND_CEILING", "MULTI_LENDING"]
        assert reasons[0].deciding and not reasons[1].deciding
        assert "HIGH_UTILIZATION" not in [r.code for r in reasons]  # 35 %: not material
        self.assertContains(response, "Set the limit")
        self.assertContains(
            response,
            "The limit ¥8,000 is above band E&#x27;s ceiling of ¥3,000; this set the limit: ¥3,000",
        )
        self.assertContains(
            response,
            "Applications at other lenders in 30 days: 14 (the rule applies at ≥ 10); cuts by 30 %",
        )
        self.assertContains(
            response,
            "Applications at other lenders in 30 days: 14; under 2 scores best (90 points below)",
        )
        self.assertContains(response, "Months since the line was opened: 30; 60 or more scores")
        # Which score is which.
        self.assertContains(response, "Limit Desk score")
        self.assertContains(response, "the credit bureau score is one of its signals")
        # What would restore it, computed by the policy itself.
        self.assertContains(response, "What would restore it")
        self.assertContains(
            response,
            "Applications at other lenders in 30 days under 2 (now 14): the limit would have "
            "stayed at ¥8,000 (band D).",
        )

    def test_the_customer_notice_gives_the_figures_and_the_way_back_in_both_languages(self):
        self.client.force_login(self.alice)
        response = self.client.get(reverse("decisions:decision", args=[self.case_a_cut().pk]))
        notices = {code: notice for code, _label, notice in response.context["notices"]}
        assert notices["en"].reasons[0].customer.startswith("Your limit was above the most")
        assert "band E's ceiling of ¥3,000" in notices["en"].reasons[0].facts[0]
        assert notices["zh-hans"].reasons[0].customer.startswith("您的额度高于当前评分分段")
        assert notices["en"].restoration.endswith("the limit would have stayed at ¥8,000 (band D).")
        self.assertContains(response, "What would restore your limit:")

    def test_any_decision_is_explained_when_picked_from_the_timeline(self):
        account = Account.objects.get(reference="LD-CASE-A")
        cut = self.case_a_cut()
        later = services.decision_record(
            change=services.Change(
                account_id=account.pk,
                action="set",
                source="override",
                new_limit=Decimal("3500.00"),
                new_status="active",
                reasons=("MANUAL_OVERRIDE",),
                idempotency_key="later",
                expected_version=account.version,
                justification="Customer called; proof seen.",
                actor_id=self.alice.pk,
            )
        )
        self.client.force_login(self.alice)
        url = reverse("accounts:detail", args=["LD-CASE-A"])
        assert self.client.get(url).context["why"].decision == later  # the newest by default
        response = self.client.get(url, {"decision": cut.pk})
        assert response.context["why"].decision == cut
        self.assertContains(response, "This explains decision 1, not the newest.")
        self.assertContains(response, f'href="{url}?decision={cut.pk}#why"')
        # A decision of another account, or no number, is not found here.
        other = Account.objects.get(reference="LD-CASE-B").decisions.get(sequence=1)
        assert self.client.get(url, {"decision": other.pk}).status_code == 404
        assert self.client.get(url, {"decision": "x"}).status_code == 404

    def test_the_decision_an_open_appeal_contests_is_explained_by_default(self):
        account = Account.objects.get(reference="LD-CASE-B")
        first = account.decisions.get(sequence=1)
        appeal_services.appeal_intake(
            account=account,
            actor=self.alice,
            channel=Appeal.Channel.HOTLINE,
            category=Appeal.Category.MISJUDGMENT,
            statement="The first cut was wrong.",
            decision_id=first.pk,
        )
        self.client.force_login(self.alice)
        response = self.client.get(reverse("accounts:detail", args=["LD-CASE-B"]))
        assert response.context["why"].decision == first
        self.assertContains(response, "Contested in appeal #")
        self.assertContains(response, "This explains decision 1, not the newest.")

    def test_an_account_no_decision_changed_says_how_its_limit_was_set(self):
        account = make_account(status="closed", current_limit="0.00", score=None, band="")
        make_signals(account, days_past_due=120, max_dpd_12m=120)
        self.client.force_login(self.alice)
        response = self.client.get(reverse("accounts:detail", args=[account.reference]))
        self.assertContains(response, "How was this limit set?")
        self.assertContains(response, "No decision has changed this line: its limit of ¥0.00")
        self.assertContains(response, "Scored today by policy v1: Limit Desk score")
        self.assertContains(response, "Days past due now: 120 (the rule applies at ≥ 90)")

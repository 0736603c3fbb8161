"""Appeals as feedback (docs/architecture.md, "Appeals as feedback"): of the decided
appeals, how many overturned the contested decision, by its principal reason and by
the policy version that made it; on the policy pages and the overview."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.urls import reverse
from django.utils import timezone

from appeals import feedback, outcomes, services
from appeals.models import Appeal
from decisions.models import LimitDecision
from decisions.services import Change, decisions_write
from tests.base import BaseTestCase, make_account, make_signals


class Base(BaseTestCase):
    def contested(self, reasons: tuple[str, ...], version: int | None, old="8000") -> Appeal:
        """An account cut from `old` to 3,000 by a decision of `version` stating
        `reasons`, and an appeal against it, claimed by bob."""
        account = make_account(current_limit=Decimal(old))
        make_signals(account)
        key = f"test-cut:{account.pk}"
        decisions_write(
            [
                Change(
                    account_id=account.pk,
                    expected_version=account.version,
                    action="reduce",
                    source="run",
                    new_limit=Decimal("3000"),
                    new_status="active",
                    reasons=reasons,
                    policy_version=version,
                    idempotency_key=key,
                )
            ],
            cooldown_days=90,
        )
        appeal = services.appeal_intake(
            account=account,
            actor=self.bob,
            channel="hotline",
            category="misjudged",
            statement="Please look at my limit again.",
            decision_id=LimitDecision.objects.get(idempotency_key=key).pk,
        ).appeal
        services.appeal_claim_next(handler=self.bob)
        return Appeal.objects.get(pk=appeal.pk)

    def decide(self, appeal: Appeal, outcome: str, limit: str | None = None) -> Appeal:
        outcomes.appeal_decide(
            appeal_id=appeal.pk,
            actor=self.bob,
            outcome=outcome,
            justification="Looked at the account again.",
            limit=limit,
        )
        return Appeal.objects.get(pk=appeal.pk)

    def book(self) -> None:
        """Five decided appeals and one open, by hand:

        v1 BAND_CEILING: full (overturned), upheld          -> 1 of 2
        v1 MULTI_LENDING (then BAND_CEILING): partial       -> 1 of 1
        v2 BAND_CEILING: upheld                             -> 0 of 1
        a person's decision (no version), MANUAL_OVERRIDE: partial -> 1 of 1
        v2 MULTI_LENDING: open, not decided                 -> not counted
        """
        self.decide(self.contested(("BAND_CEILING", "SCORE_LOW"), 1), "full")
        self.decide(self.contested(("BAND_CEILING",), 1), "upheld")
        self.decide(self.contested(("MULTI_LENDING", "BAND_CEILING"), 1), "partial", "5000")
        self.decide(self.contested(("BAND_CEILING",), 2), "upheld")
        self.decide(self.contested(("MANUAL_OVERRIDE",), None), "partial", "4000")
        self.open = self.contested(("MULTI_LENDING",), 2)


class OverturnTests(Base):
    def test_by_principal_reason_each_appeal_counted_once(self):
        self.book()
        found = feedback.overturns_by_reason()
        rows = {row.key: (row.decided, row.overturned) for row in found.rows}
        assert rows == {"BAND_CEILING": (3, 1), "MULTI_LENDING": (1, 1), "MANUAL_OVERRIDE": (1, 1)}
        assert found.rows[0].key == "BAND_CEILING"  # the most decided first
        assert (found.decided, found.overturned) == (5, 3)
        band = found.rows[0]
        assert band.rate_pct == 33 and band.label == "Band ceiling"
        low, high = band.interval_pct
        assert low < 33 < high

    def test_by_policy_version_newest_first_and_a_persons_decisions_last(self):
        self.book()
        rows = [(r.key, r.decided, r.overturned) for r in feedback.overturns_by_version().rows]
        assert rows == [(2, 1, 0), (1, 3, 2), (None, 1, 1)]

    def test_one_versions_rate_by_reason(self):
        self.book()
        found = feedback.overturns_by_reason(policy_version=1)
        assert {r.key: (r.decided, r.overturned) for r in found.rows} == {
            "BAND_CEILING": (2, 1),
            "MULTI_LENDING": (1, 1),
        }
        assert found.total is not None and found.total.rate_pct == 67
        assert feedback.overturns_by_reason(policy_version=9).total is None

    def test_the_overview_window_counts_appeals_decided_in_it(self):
        self.book()
        old = Appeal.objects.filter(outcome="full").get()
        Appeal.objects.filter(pk=old.pk).update(decided_at=timezone.now() - timedelta(days=91))
        recent = feedback.recent_overturns()
        assert (recent.decided, recent.overturned) == (4, 2)
        assert {r.key: r.overturned for r in recent.rows}["BAND_CEILING"] == 0

    def test_a_large_restoration_counts_once_a_lead_approves_it(self):
        appeal = self.contested(("BAND_CEILING",), 1, old="30000")
        outcomes.appeal_decide(
            appeal_id=appeal.pk,
            actor=self.bob,
            outcome="full",
            justification="Restore it all; a lead approves.",
        )
        assert Appeal.objects.get(pk=appeal.pk).outcome_pending
        assert feedback.overturns_by_reason().decided == 0
        outcomes.appeal_outcome_approve(appeal_id=appeal.pk, lead=self.carol)
        found = feedback.overturns_by_reason()
        assert (found.decided, found.overturned) == (1, 1)


class OverturnPagesTests(Base):
    def test_the_policy_pages_load_the_rates_from_the_appeals_app(self):
        self.book()
        self.client.force_login(self.dave)
        index = self.client.get(reverse("policies:index"))
        self.assertContains(index, f'hx-get="{reverse("appeals:overturns")}"')
        version = self.client.get(reverse("policies:version", args=[1]))
        self.assertContains(version, f'hx-get="{reverse("appeals:overturns")}?version=1"')

        by_version = self.client.get(reverse("appeals:overturns"))
        body = by_version.content.decode()
        # v2: 0 of 1; v1: 2 of 3 (67 %); a person's decision: 1 of 1.
        v2 = reverse("policies:version", args=[2])
        self.assertContains(by_version, f'<a href="{v2}">v2</a>', html=False)
        assert body.index(">v2<") < body.index(">v1<") < body.index("s decision<")
        self.assertContains(by_version, '<td class="num">67 %</td>', html=False)

        one = self.client.get(reverse("appeals:overturns") + "?version=1")
        self.assertContains(
            one, "Appeals overturned 2 of the 3 decided appeals against decisions of v1: 67 %."
        )
        self.assertContains(one, "Band ceiling")
        self.assertContains(one, "Multi-lending")
        self.assertContains(one, '<td class="num">50 %</td>', html=False)

    def test_a_bad_version_is_refused_and_the_rates_need_the_policy_right(self):
        self.client.force_login(self.dave)
        assert self.client.get(reverse("appeals:overturns") + "?version=x").status_code == 400
        self.client.force_login(self.bob)  # a handler does not read policy versions
        assert self.client.get(reverse("appeals:overturns")).status_code == 403

    def test_the_overview_card_links_each_reason_to_the_queue_filtered(self):
        self.book()
        self.client.force_login(self.carol)
        page = self.client.get(reverse("overview"))
        self.assertContains(page, "Appeals overturned, last 90 days")
        self.assertContains(
            page, "3 of 5 decided appeals overturned the decision they contested (60 %)."
        )
        queue = reverse("appeals:queue")
        self.assertContains(page, f'href="{queue}?view=all&amp;reason=MULTI_LENDING"', html=False)
        listed = self.client.get(queue, {"view": "all", "reason": "MULTI_LENDING"})
        assert [a.pk for a in listed.context["page"].appeals] == [self.open.pk]
        self.assertContains(listed, "Contested for: <strong>Multi-lending</strong>", html=False)
        band = self.client.get(queue, {"view": "all", "reason": "BAND_CEILING"})
        assert band.context["page"].appeals == []  # every BAND_CEILING appeal is decided

    def test_the_overview_without_decided_appeals_says_so(self):
        self.client.force_login(self.alice)
        self.assertContains(
            self.client.get(reverse("overview")), "No appeal decided in the last 90 days."
        )

"""Decrease protection (docs/architecture.md, "Decrease protection"): after an appeal
restores a limit, score-based cuts (the band's ceiling, the overlay's) skip the
account for the policy's decrease_protection_days; hard triggers and closures apply,
each cut by its own percentage."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone
from hypothesis import given

from accounts.models import Account
from appeals import outcomes, responses, services
from appeals.models import Appeal
from decisions import fidelity, overrides, reason_check
from decisions.models import LimitDecision
from policies.models import Policy
from scoring import (
    BAND_CEILING,
    CLOSE,
    KEEP,
    MULTI_LENDING,
    NEVER_RESTORED,
    PORTFOLIO_OVERLAY,
    RAISE,
    REDUCE,
    compile_rules,
    parse_policy,
)
from tests.base import BaseTestCase, make_account, make_signals, open_the_breaker
from tests.decisions.test_policy import (
    CHEAP,
    DEFAULT,
    DEFAULT_POLICY,
    accounts,
    compiled_policies,
    policy,
    run_one,
    story,
)

HEALTHY_D = {  # scores into band D (ceiling 9,000) with no rule firing
    "credit_score": 605,
    "utilization": Decimal("0.6200"),
    "active_days_90d": 20,
    "consumption_amount_90d": Decimal("3000.00"),
    "repayment_amount_90d": Decimal("2900.00"),
}
SHOPPER = {**HEALTHY_D, "lender_applications_30d": 14, "lender_applications_90d": 17}


def signals(**changes):
    from demo.stories import HEALTHY

    return {**HEALTHY, "tenure_months": 36, **HEALTHY_D, **changes}


# --------------------------------------------------------------------------
# The rule, pure


def test_a_protected_limit_above_the_band_ceiling_is_kept_and_states_no_ceiling():
    limit = 2_000_000  # 20,000.00, band D's ceiling is 9,000
    cut = story(signals(), limit=limit)
    assert (cut.action, cut.new_limit, cut.reasons[0]) == (REDUCE, 900_000, BAND_CEILING)
    kept = story(signals(), limit=limit, days_since_restoration=89)
    assert (kept.action, kept.new_limit) == (KEEP, limit)
    assert BAND_CEILING not in kept.triggers and kept.reasons == ()
    # On the 90th day the default policy's protection is over.
    again = story(signals(), limit=limit, days_since_restoration=90)
    assert (again.action, again.new_limit, again.reasons[0]) == (REDUCE, 900_000, BAND_CEILING)


def test_the_overlay_ceiling_is_score_based_too():
    overlay = compile_rules(
        parse_policy(policy(overlay_factor="0.8", overlay_rationale="Portfolio stress."))
    )
    state: dict[str, Any] = {"status": "active", "in_cooldown": False, "good_cycles": 0}
    from scoring import evaluate

    cut = evaluate(overlay, signals(), limit=850_000, **state)
    assert (cut.action, cut.new_limit, cut.reasons[0]) == (REDUCE, 720_000, PORTFOLIO_OVERLAY)
    kept = evaluate(overlay, signals(), limit=850_000, days_since_restoration=0, **state)
    assert (kept.action, kept.new_limit, kept.triggers) == (KEEP, 850_000, ())


def test_a_hard_trigger_cuts_by_its_own_percentage_not_down_to_the_ceiling():
    limit = 2_000_000
    unprotected = story(signals(**SHOPPER), limit=limit)
    assert unprotected.new_limit == 300_000  # the applications drop it to band E (3,000)
    assert unprotected.reasons[:2] == (BAND_CEILING, MULTI_LENDING)
    protected = story(signals(**SHOPPER), limit=limit, days_since_restoration=10)
    # 30 % off 20,000 is 14,000: the ceiling (3,000) does not apply on top.
    assert (protected.action, protected.new_limit) == (REDUCE, 1_400_000)
    assert protected.reasons[0] == MULTI_LENDING and BAND_CEILING not in protected.reasons


def test_closures_still_close_a_protected_line():
    closed = story(signals(days_past_due=95), limit=2_000_000, days_since_restoration=1)
    assert (closed.action, closed.new_limit, closed.new_status) == (CLOSE, 0, "closed")


def test_raises_are_the_same_with_or_without_protection():
    healthy = {"credit_score": 700, "active_days_90d": 45}
    plain = story(signals(**healthy), limit=500_000, good_cycles=6)
    protected = story(signals(**healthy), limit=500_000, good_cycles=6, days_since_restoration=3)
    assert plain.action == RAISE and protected == plain


def test_a_policy_without_protection_cuts_at_once():
    none = compile_rules(parse_policy(policy(decrease_protection_days=0)))
    from scoring import evaluate

    outcome = evaluate(
        none,
        signals(),
        limit=2_000_000,
        status="active",
        in_cooldown=False,
        good_cycles=0,
        days_since_restoration=0,
    )
    assert (outcome.action, outcome.new_limit) == (REDUCE, 900_000)


@CHEAP
@given(compiled=compiled_policies, account=accounts(statuses=("active",)))
def test_protection_only_ever_keeps_more_and_never_claims_a_ceiling(compiled, account):
    protected = run_one(compiled, account, days_since_restoration=0)
    plain = run_one(compiled, account, days_since_restoration=NEVER_RESTORED)
    if compiled.rules.decrease_protection_days == 0:
        assert protected == plain
        return
    assert BAND_CEILING not in protected.triggers
    assert PORTFOLIO_OVERLAY not in protected.triggers
    if plain.action in (CLOSE, RAISE):
        assert protected == plain
    else:
        assert protected.new_limit >= plain.new_limit
    if protected.action == REDUCE:
        assert protected.reasons[0] in protected.triggers


# --------------------------------------------------------------------------
# The independent reason check


def _stated(outcome, inputs, limit, *, protected):
    return fidelity.Stated(
        action=outcome.action,
        reasons=outcome.reasons,
        inputs=inputs,
        rules=DEFAULT.rules,
        old_limit=Decimal(limit) / 100,
        new_limit=Decimal(outcome.new_limit) / 100,
        old_status="active",
        new_status=outcome.new_status,
        score=outcome.score,
        band=outcome.band,
        protected=protected,
    )


def test_a_protected_account_is_never_told_its_score_cut_the_limit():
    inputs = signals(**SHOPPER)
    unprotected = story(inputs, limit=2_000_000)
    # The same ceiling cut, claimed for a protected account: refused.
    found = fidelity.problems(_stated(unprotected, inputs, 2_000_000, protected=True))
    assert any("BAND_CEILING does not hold" in problem for problem in found)
    protected = story(inputs, limit=2_000_000, days_since_restoration=5)
    assert fidelity.problems(_stated(protected, inputs, 2_000_000, protected=True)) == []
    # Read without protection, the protected cut looks wrong: the ceiling was lower.
    assert fidelity.problems(_stated(protected, inputs, 2_000_000, protected=False))


# --------------------------------------------------------------------------
# With the database: who sets restored_at, and what the runs and pages do with it


def protect(days: int = 90) -> Policy:
    active = Policy.objects.get(state="active")
    active.rules = {**active.rules, "decrease_protection_days": days}
    active.save()
    return active


class RestoredAtTests(BaseTestCase):
    def contest(self, old="20000", new="9000", **changes) -> Appeal:
        account = make_account(current_limit=Decimal(old), score=625, band="D")
        make_signals(account, **{**HEALTHY_D, **changes})
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
            category="misjudged",
            statement="My score dipped for a closed card.",
            decision_id=account.decisions.get().pk,
        ).appeal
        services.appeal_claim_next(handler=self.bob)
        return Appeal.objects.get(pk=appeal.pk)

    def decide(self, appeal, outcome, limit=None):
        return outcomes.appeal_decide(
            appeal_id=appeal.pk,
            actor=self.bob,
            outcome=outcome,
            justification="Closed card confirmed with the bureau.",
            limit=limit,
        )

    def test_a_partial_restoration_dates_the_protection_and_an_override_does_not(self):
        appeal = self.contest()
        account = Account.objects.get(pk=appeal.account_id)
        assert account.restored_at is None, "an override never protects"
        before = timezone.now()
        result = self.decide(appeal, "partial", "15000")
        account.refresh_from_db()
        assert result.decision is not None and result.decision.source == "appeal"
        assert account.restored_at == result.decision.created_at >= before
        appeal.refresh_from_db()
        assert appeal.decided_at is not None and appeal.decided_at >= before
        assert account.days_since_restoration() == 0

    def test_an_upheld_appeal_protects_nothing(self):
        appeal = self.contest()
        self.decide(appeal, "upheld")
        assert Account.objects.get(pk=appeal.account_id).restored_at is None

    def test_a_large_restoration_protects_only_once_a_lead_approves_it(self):
        appeal = self.contest(old="30000", new="9000")
        assert self.decide(appeal, "full").pending
        assert Account.objects.get(pk=appeal.account_id).restored_at is None
        outcomes.appeal_outcome_approve(appeal_id=appeal.pk, lead=self.carol)
        account = Account.objects.get(pk=appeal.account_id)
        assert account.restored_at is not None and account.current_limit == Decimal("30000.00")

    def test_the_recut_warning_counts_on_the_protection_the_restoration_starts(self):
        protect(90)
        appeal = self.contest()
        # Band D's ceiling would cut 15,000 to 9,000, but the restoration protects it.
        assert responses.recut_warning(appeal.account, Decimal("15000")) is None
        shopper = self.contest(**{k: v for k, v in SHOPPER.items() if k not in HEALTHY_D})
        warning = responses.recut_warning(shopper.account, Decimal("15000"))
        assert warning is not None and warning.kept == Decimal("10500.00")  # 30 % off only
        protect(0)
        assert responses.recut_warning(appeal.account, Decimal("15000")) is not None


@pytest.mark.django_db
def test_a_run_skips_the_score_based_cut_of_a_protected_account_and_applies_hard_ones():
    from tests.decisions.test_runs import full_run

    open_the_breaker()
    protect(90)
    now = timezone.now()
    kept = make_account(current_limit=Decimal("20000"), score=625, band="D", restored_at=now)
    make_signals(kept, **HEALTHY_D)
    cut = make_account(current_limit=Decimal("20000"), score=625, band="D", restored_at=now)
    make_signals(cut, **SHOPPER)
    expired = make_account(
        current_limit=Decimal("20000"),
        score=625,
        band="D",
        restored_at=now - timedelta(days=90, hours=1),
    )
    make_signals(expired, **HEALTHY_D)
    full_run()
    limits = dict(Account.objects.values_list("pk", "current_limit"))
    assert limits[kept.pk] == Decimal("20000.00")
    assert limits[cut.pk] == Decimal("14000.00")  # the multi-lending cut alone
    assert limits[expired.pk] == Decimal("9000.00")
    decision = LimitDecision.objects.get(account=cut, source="run")
    assert decision.reasons[0] == MULTI_LENDING and BAND_CEILING not in decision.reasons
    assert LimitDecision.objects.get(account=expired, source="run").reasons[0] == BAND_CEILING
    assert not LimitDecision.objects.filter(account=kept).exists()


@pytest.mark.django_db
def test_the_stored_decisions_of_protected_accounts_pass_the_reason_check():
    from tests.decisions.test_runs import full_run

    open_the_breaker()
    protect(90)
    account = make_account(current_limit=Decimal("30000"), score=625, band="D")
    make_signals(account, **SHOPPER)
    # A restoration by an appeal, as the decision writer records it.
    from decisions.services import Change, decisions_write

    decisions_write(
        [
            Change(
                account_id=account.pk,
                expected_version=account.version,
                action="restore",
                source="appeal",
                new_limit=Decimal("40000"),
                new_status="active",
                reasons=("APPEAL_OUTCOME",),
                idempotency_key="test-restore",
            )
        ],
        cooldown_days=90,
        at=timezone.now() - timedelta(days=3),
    )
    full_run()
    decision = LimitDecision.objects.get(account=account, source="run")
    assert decision.new_limit == Decimal("28000.00") and decision.reasons[0] == MULTI_LENDING
    report = reason_check.reason_check_report(run_id=decision.run_id)
    assert report.checked == 1 and report.failures == []


class AccountPageProtectionTests(BaseTestCase):
    def test_the_account_page_says_until_when_and_why_only_while_protected(self):
        protect(90)
        restored = timezone.localtime() - timedelta(days=30)
        account = make_account(current_limit=Decimal("15000"), restored_at=restored)
        make_signals(account, **HEALTHY_D)
        version = Policy.objects.get(state="active").version
        until = timezone.localtime(restored + timedelta(days=90))
        self.client.force_login(self.alice)
        page = self.client.get(reverse("accounts:detail", args=[account.reference]))
        self.assertContains(
            page,
            f"Protected from score-based cuts until {until:%-d %b %Y} — an appeal restored "
            f"the limit on {restored:%-d %b %Y}; policy v{version} protects for 90 days. "
            "Overdue and other hard triggers still apply.",
        )
        protect(30)  # over: restored 30 days ago
        page = self.client.get(reverse("accounts:detail", args=[account.reference]))
        self.assertNotContains(page, "Protected from score-based cuts")
        protect(0)
        page = self.client.get(reverse("accounts:detail", args=[account.reference]))
        self.assertNotContains(page, "Protected from score-based cuts")

    def test_an_account_no_appeal_restored_costs_no_query_for_it(self):
        from appeals.feedback import decrease_protection

        account = make_account()
        with self.assertNumQueries(0):
            assert decrease_protection(account) is None


def test_the_default_policy_protects_for_ninety_days_and_old_versions_for_none():
    assert parse_policy(DEFAULT_POLICY).decrease_protection_days == 90
    old = {k: v for k, v in DEFAULT_POLICY.items() if k != "decrease_protection_days"}
    assert parse_policy(old).decrease_protection_days == 0


def test_an_explanation_reads_the_protection_from_the_decision_itself():
    from decisions.explanations import made_protected

    def cut(old: str, triggers: list[str], action: str = "reduce") -> LimitDecision:
        return LimitDecision(
            action=action, band_after="E", old_limit=Decimal(old), triggers=triggers
        )

    # From 20,000, above band E's 3,000, a cut naming no ceiling was protected.
    assert made_protected(cut("20000", [MULTI_LENDING]), DEFAULT)
    assert not made_protected(cut("20000", [BAND_CEILING, MULTI_LENDING]), DEFAULT)
    assert not made_protected(cut("2500", [MULTI_LENDING]), DEFAULT)  # under the ceiling
    assert not made_protected(cut("20000", ["SERIOUS_OVERDUE"], action="close"), DEFAULT)

"""The notice register (docs/architecture.md, "Notices: the register"): every decrease or
closure written by `decisions_write` gets exactly one notice, in its own transaction,
with the decision's reasons, the customer's language, its due-by date and its
classification. Runs are driven chunk by chunk in the test process."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import IntegrityError

import scoring
from accounts import roles
from accounts.models import Account
from decisions import overrides, runs, services
from decisions.models import LimitDecision, Notice, RescoreRun
from policies.models import Policy
from tests.base import make_account, make_signals, make_user, open_the_breaker, run_in_process

pytestmark = pytest.mark.django_db

HEALTHY_D: dict[str, Any] = {  # scores into band D (ceiling 9,000) with no rule firing
    "credit_score": 605,
    "utilization": Decimal("0.6200"),
    "active_days_90d": 20,
    "consumption_amount_90d": Decimal("3000.00"),
    "repayment_amount_90d": Decimal("2900.00"),
}
SHOPPER: dict[str, Any] = {"lender_applications_30d": 14, "lender_applications_90d": 15}


def full_run() -> RescoreRun:
    run = run_in_process()
    assert run.state == "done"
    return run


def account(
    *,
    limit: str = "8000.00",
    score: int = 612,
    fields: dict[str, Any] | None = None,
    **signals: Any,
) -> Account:
    made = make_account(current_limit=Decimal(limit), score=score, **(fields or {}))
    make_signals(made, **{"credit_score": score, **signals})
    return made


def active_rules(**changes) -> None:
    active = Policy.objects.get(state="active")
    active.rules = {**active.rules, **changes}
    active.save()


def test_a_runs_cuts_and_closures_each_get_one_notice_and_a_raise_none():
    open_the_breaker()
    shopper = account(**SHOPPER)
    english = account(**SHOPPER, fields={"language": "en"})
    overdue = account(days_past_due=5, max_dpd_12m=5, overdue_count_12m=1)
    serious = account(days_past_due=95, max_dpd_12m=95, overdue_count_12m=2)
    record = account(bad_public_records=1)
    riser = account(limit="10000.00", score=700, fields={"good_cycles": 5})
    steady = account(limit="10000.00", score=700)

    run = full_run()

    decisions = {d.account_id: d for d in LimitDecision.objects.filter(run=run)}
    assert decisions[riser.pk].action == "raise" and steady.pk not in decisions
    cuts = [shopper, english, overdue, serious, record]
    assert {decisions[a.pk].action for a in cuts} == {"reduce", "close"}
    assert Notice.objects.count() == len(cuts)
    assert not Notice.objects.filter(account=riser).exists()
    expected = {
        shopper.pk: ("individual", "pending", "zh-hans"),
        english.pk: ("individual", "pending", "en"),
        overdue.pk: ("exempt", "not_required", "zh-hans"),
        serious.pk: ("exempt", "not_required", "zh-hans"),
        record.pk: ("individual", "pending", "zh-hans"),
    }
    for notice in Notice.objects.select_related("decision"):
        decision = notice.decision
        assert (notice.kind, notice.state, notice.language) == expected[notice.account_id]
        assert notice.reasons == decision.reasons and notice.reasons  # the decision's own
        assert notice.created_at == decision.created_at
        assert notice.due_by == decision.created_at + timedelta(days=30)
        assert notice.idempotency_key == f"notice-{decision.hash}"
        assert (notice.attempts, notice.last_error, notice.content_sha256) == (0, "", "")
        assert notice.delivered_at is None
        # What waits for the outbox is due at once; what needs no notice never is.
        due = decision.created_at if notice.state == "pending" else None
        assert notice.next_attempt_at == due
    assert Notice.objects.get(account=shopper).reasons[0] in ("BAND_CEILING", "MULTI_LENDING")
    assert Notice.objects.get(account=serious).reasons[0] == "SERIOUS_OVERDUE"
    assert Notice.objects.get(account=record).reasons[0] == "PUBLIC_RECORD"


def test_the_clock_is_a_setting(settings):
    settings.NOTICE_CLOCK_DAYS = 45
    open_the_breaker()
    shopper = account(**SHOPPER)
    full_run()
    notice = Notice.objects.select_related("decision").get(account=shopper)
    assert notice.due_by - notice.decision.created_at == timedelta(days=45)


def test_an_overlay_cut_is_portfolio_wide_and_the_setting_decides_whether_it_is_sent(settings):
    open_the_breaker()
    active_rules(overlay_factor="0.8", overlay_rationale="Regulatory tightening.")
    first = account(limit="8500.00", score=605, **HEALTHY_D)
    full_run()
    notice = Notice.objects.get(account=first)
    assert notice.reasons[0] == "PORTFOLIO_OVERLAY"
    assert (notice.kind, notice.state) == ("portfolio", "pending")

    settings.NOTICE_PORTFOLIO_NEEDS_INDIVIDUAL = False
    second = account(limit="8500.00", score=605, **HEALTHY_D)
    full_run()
    notice = Notice.objects.get(account=second)
    assert (notice.kind, notice.state, notice.next_attempt_at) == (
        "portfolio",
        "not_required",
        None,
    )
    # An individual cut in the same run is still sent.
    assert Notice.objects.get(account=first).state == "pending"


def test_cuts_by_the_version_in_rollout_are_portfolio_wide_the_others_individual():
    open_the_breaker()
    active = Policy.objects.get(state="active")
    Policy.objects.create(
        version=active.version + 1,
        state=Policy.State.ROLLOUT,
        rules=active.rules,
        rationale="The same thresholds, staged.",
        author=make_user("dave", roles.POLICY_ADMIN),
        rollout_share=50,
    )
    cutoff = scoring.rollout_cutoff(50)
    references = [f"RO{number:04d}" for number in range(40)]
    inside = next(r for r in references if scoring.rollout_bucket(r) < cutoff)
    outside = next(r for r in references if scoring.rollout_bucket(r) >= cutoff)
    challenger = account(**SHOPPER, fields={"reference": inside})
    champion = account(**SHOPPER, fields={"reference": outside})

    run = full_run()

    assert run.candidate is not None
    mine = Notice.objects.select_related("decision").get(account=challenger)
    theirs = Notice.objects.select_related("decision").get(account=champion)
    assert mine.decision.policy_version == run.candidate.version
    assert (mine.kind, mine.state) == ("portfolio", "pending")
    assert theirs.decision.policy_version == active.version
    assert (theirs.kind, theirs.state) == ("individual", "pending")


def test_a_persons_cut_gets_a_notice_and_a_raise_none():
    alice = make_user("alice", roles.RISK_ANALYST)
    line = account(limit="10000.00", score=700, fields={"language": "en"})
    cut = overrides.account_override_limit(
        account_id=line.pk,
        expected_version=line.version,
        new_limit="6000",
        actor=alice,
        justification="Customer asked for a lower line.",
    ).decision
    assert cut is not None
    notice = Notice.objects.get(decision=cut)
    assert (notice.kind, notice.state, notice.language) == ("individual", "pending", "en")
    assert notice.reasons == ["MANUAL_OVERRIDE"]

    line.refresh_from_db()
    overrides.account_override_limit(
        account_id=line.pk,
        expected_version=line.version,
        new_limit="9000",
        actor=alice,
        justification="Back to where it was, as agreed.",
    )
    assert Notice.objects.count() == 1


def test_reverting_a_raise_lowers_the_limit_and_owes_a_notice_reverting_a_cut_does_not():
    open_the_breaker()
    alice = make_user("alice", roles.RISK_ANALYST)
    shopper = account(**SHOPPER)
    riser = account(limit="10000.00", score=700, fields={"good_cycles": 5})
    run = full_run()
    assert Notice.objects.count() == 1  # the shopper's cut
    runs.run_revert(run_id=run.pk, actor=alice, justification="Model fault: bad bureau feed.")
    undone = Notice.objects.select_related("decision").get(account=riser)
    assert undone.decision.source == "revert" and undone.reasons == ["INCIDENT_REVERT"]
    assert not Notice.objects.filter(account=shopper, decision__source="revert").exists()


def test_when_the_notice_cannot_be_written_the_decision_is_not_written_either(monkeypatch):
    alice = make_user("alice", roles.RISK_ANALYST)
    line = account(limit="10000.00", score=700)
    # The notice's insert fails in the database (its language would be missing).
    monkeypatch.setattr(
        services, "NOTICE_INSERT", services.NOTICE_INSERT.replace("a.language", "NULL")
    )
    with pytest.raises(IntegrityError):
        overrides.account_override_limit(
            account_id=line.pk,
            expected_version=line.version,
            new_limit="6000",
            actor=alice,
            justification="Customer asked for a lower line.",
        )
    line.refresh_from_db()
    assert line.current_limit == Decimal("10000.00")
    assert not LimitDecision.objects.filter(account=line).exists()
    assert not Notice.objects.exists()

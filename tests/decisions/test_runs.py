"""Re-scoring runs, driven phase by phase in the test process (no worker).

The worker round trip and the kill-and-resume test are in test_run_worker.py.
"""

import io
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

import scoring
from accounts import roles
from accounts.models import Account
from decisions import chunks, errors, overrides, runs, services
from decisions.audit_trail import audit_chain_report
from decisions.models import LimitDecision, RescoreRun
from policies.models import Policy
from tests.base import make_account, make_signals, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice():
    """The demo analyst when the demo book is loaded, else a new one."""
    from django.contrib.auth.models import User

    return User.objects.filter(username="alice").first() or make_user("alice", roles.RISK_ANALYST)


def set_breaker(accounts_pct: str, exposure_pct: str) -> None:
    active = Policy.objects.get(state="active")
    active.rules = {
        **active.rules,
        "breaker_max_accounts_cut_pct": accounts_pct,
        "breaker_max_exposure_cut_pct": exposure_pct,
    }
    active.save()


def compute(run: RescoreRun) -> RescoreRun:
    for index in run.chunks.values_list("index", flat=True):
        chunks.run_compute_chunk(run_id=run.pk, index=index)
    run.refresh_from_db()
    return run


def apply(run: RescoreRun) -> RescoreRun:
    for index in run.chunks.values_list("index", flat=True):
        chunks.run_apply_chunk(run_id=run.pk, index=index)
    run.refresh_from_db()
    return run


def full_run(**kwargs) -> RescoreRun:
    run = compute(runs.run_start(trigger="button", **kwargs))
    assert run.state == "applying", run.breaker_reason
    return apply(run)


@pytest.fixture
def demo_book(settings):
    settings.RESCORE_CHUNK_SIZE = 700
    call_command("seed_demo", "--accounts", "3000", "--seed", "5", verbosity=0)
    set_breaker("100", "100")


def story(reference: str) -> Account:
    return Account.objects.get(reference=reference)


def test_the_story_accounts_get_the_decisions_their_stories_predict(demo_book):
    run = full_run()
    assert run.state == "done"

    # Case A was cut before the run (its demo history) ...
    case_a = story("LD-CASE-A").decisions.get(sequence=1)
    assert case_a.action == "reduce" and case_a.source == "run"
    # Band E's ceiling (3,000) set the limit, below the multi-lending cut's 5,600.
    assert case_a.reasons[:2] == ["BAND_CEILING", "MULTI_LENDING"]
    assert "HIGH_UTILIZATION" not in case_a.reasons  # 35 %: 5 points, not material
    assert (case_a.old_limit, case_a.new_limit) == (Decimal("8000.00"), Decimal("3000.00"))
    assert case_a.inputs["lender_applications_30d"] == 14
    assert "MULTI_LENDING" in case_a.triggers
    # ... and, with 14 applications still on file, the run cuts it again.
    again = story("LD-CASE-A").decisions.get(run=run)
    assert again.reasons[0] == "MULTI_LENDING"
    assert again.new_limit < again.old_limit == Decimal("3000.00")

    case_b = story("LD-CASE-B")
    assert case_b.status == "closed" and not case_b.decisions.filter(run=run).exists()

    gradual = story("LD-GRADUAL").decisions.get(run=run)
    assert gradual.action == "raise" and gradual.reasons == ["GOOD_HISTORY"]
    assert gradual.new_limit == Decimal("110000.00"), "capped at +10% in one cycle"


def test_every_decision_explains_itself(demo_book):
    run = full_run()
    decisions = LimitDecision.objects.filter(run=run)
    assert decisions.count() == run.changed > 0
    for decision in decisions:
        assert 1 <= len(decision.reasons) <= scoring.MAX_REASONS
        assert set(decision.contributions) == {c.signal for c in scoring.SCORECARD}
        assert decision.score_after == min(
            max(scoring.BASE_SCORE + sum(decision.contributions.values()), 350), 950
        )
        assert decision.policy_version == 1 and decision.scorecard_version == "sc-1"
        assert decision.idempotency_key == f"run:{run.pk}:{decision.account_id}"
        assert set(decision.inputs) == set(scoring.INPUT_SIGNALS)


def test_a_run_gives_exactly_what_the_per_account_policy_gives(demo_book):
    before = {
        a.pk: (a.current_limit, a.status, a.in_cooldown(), a.good_cycles, a.signals.as_dict())
        for a in Account.objects.select_related("signals")
    }
    compiled = scoring.compile_rules(scoring.parse_policy(scoring.DEFAULT_POLICY))
    full_run()
    after = dict(Account.objects.values_list("pk", "current_limit"))
    for pk, (limit, status, cooling, cycles, signals) in before.items():
        outcome = scoring.evaluate(
            compiled,
            signals,
            limit=scoring.cents(limit),
            status=status,
            in_cooldown=cooling,
            good_cycles=cycles,
        )
        assert after[pk] == outcome.new_limit_decimal, pk


def test_the_breaker_holds_a_run_that_cuts_too_many(demo_book):
    set_breaker("1", "1")
    run = compute(runs.run_start(trigger="button"))
    assert run.state == "waiting"
    assert "it would cut" in run.breaker_reason and "(the limit is 1%)" in run.breaker_reason
    assert apply(run).state == "waiting"
    assert not LimitDecision.objects.filter(run=run).exists(), "nothing applies while it waits"


def test_a_held_run_can_be_discarded_and_nothing_changes(demo_book, alice):
    set_breaker("1", "1")
    limits = dict(Account.objects.values_list("pk", "current_limit"))
    run = compute(runs.run_start(trigger="button"))
    runs.run_discard(run_id=run.pk, actor=alice)
    run.refresh_from_db()
    assert run.state == "discarded"
    assert not LimitDecision.objects.filter(run=run).exists()
    assert dict(Account.objects.values_list("pk", "current_limit")) == limits


def test_a_held_run_applies_once_a_person_approves(demo_book, alice):
    set_breaker("1", "1")
    run = compute(runs.run_start(trigger="button"))
    runs.run_approve(run_id=run.pk, actor=alice)
    run = apply(run)
    assert run.state == "done" and run.decided_by == alice
    assert LimitDecision.objects.filter(run=run).count() == run.changed


def test_running_a_chunk_twice_writes_nothing_twice(demo_book):
    run = compute(runs.run_start(trigger="button"))
    assert not chunks.run_compute_chunk(run_id=run.pk, index=0)
    run = apply(run)
    written = LimitDecision.objects.count()
    assert not chunks.run_apply_chunk(run_id=run.pk, index=0)
    assert LimitDecision.objects.count() == written
    assert audit_chain_report().broken == []


def test_an_account_a_person_changed_mid_run_keeps_the_persons_decision(demo_book, alice):
    run = compute(runs.run_start(trigger="button"))
    gradual = story("LD-GRADUAL")  # the run would raise it
    overrides.account_override_limit(
        account_id=gradual.pk,
        expected_version=gradual.version,
        new_limit="7000",
        actor=alice,
        justification="Reviewed by hand during the run.",
    )
    run = apply(run)
    gradual.refresh_from_db()
    assert gradual.current_limit == Decimal("7000.00")
    assert run.skipped == 1
    assert not LimitDecision.objects.filter(run=run, account=gradual).exists()


def test_a_reverted_run_restores_every_limit_with_new_decisions(demo_book, alice):
    limits = dict(Account.objects.values_list("pk", "current_limit"))
    run = full_run()
    moved = LimitDecision.objects.filter(run=run).count()
    runs.run_revert(run_id=run.pk, actor=alice, justification="Model fault: bad bureau feed.")
    run.refresh_from_db()
    assert run.state == "reverted"
    assert dict(Account.objects.values_list("pk", "current_limit")) == limits
    restores = LimitDecision.objects.filter(source="revert")
    assert restores.count() == moved
    for restore in restores.select_related("reverts"):
        assert restore.reverts is not None
        assert restore.reverts.run_id == run.pk
        assert restore.new_limit == restore.reverts.old_limit
        assert restore.reasons == ["INCIDENT_REVERT"]
    assert LimitDecision.objects.filter(run=run).count() == moved, "history stays"
    assert audit_chain_report().broken == []


def test_a_revert_needs_a_reason_and_a_finished_run(demo_book, alice):
    run = compute(runs.run_start(trigger="button"))
    with pytest.raises(errors.DecisionError, match="Only a finished run"):
        runs.run_revert(run_id=run.pk, actor=alice, justification="A good long reason.")
    apply(run)
    with pytest.raises(errors.DecisionError, match="Write why the run is reverted"):
        runs.run_revert(run_id=run.pk, actor=alice, justification="oops")


def test_the_gradual_raise_is_capped_per_cycle_and_stops_at_the_ceiling(demo_book):
    limits = []
    for _ in range(4):
        full_run()
        limits.append(story("LD-GRADUAL").current_limit)
    assert limits == [
        Decimal("110000.00"),
        Decimal("120000.00"),
        Decimal("120000.00"),
        Decimal("120000.00"),
    ]


def test_case_b_stays_closed_through_its_cool_down(demo_book):
    for _ in range(3):
        full_run()
    case_b = story("LD-CASE-B")
    assert case_b.status == "closed" and case_b.current_limit == 0
    assert not case_b.decisions.filter(run__isnull=False).exists()


def test_a_single_account_re_score_touches_only_that_account(alice):
    set_breaker("1", "1")  # a single account is never held by the portfolio breaker
    shopper = make_account(current_limit=Decimal("8000.00"), score=612)
    make_signals(shopper, credit_score=612, lender_applications_30d=14, lender_applications_90d=15)
    other = make_account(current_limit=Decimal("8000.00"), score=612)
    make_signals(other, credit_score=612, lender_applications_30d=14, lender_applications_90d=15)
    run = compute(runs.run_start(trigger="signal", account_id=shopper.pk))
    assert run.state == "applying" and run.accounts_total == 1
    apply(run)
    assert shopper.decisions.count() == 1 and not other.decisions.exists()


def test_a_handler_cannot_start_a_run():
    bob = make_user("bob", roles.APPEAL_HANDLER)
    with pytest.raises(errors.DecisionError, match="Your role cannot start a re-score"):
        runs.run_start(trigger="button", started_by=bob)


def test_only_one_portfolio_run_at_a_time(demo_book, alice):
    runs.run_start(trigger="button", started_by=alice)
    with pytest.raises(errors.DecisionError, match="already running"):
        runs.run_start(trigger="button", started_by=alice)


def test_every_reason_of_the_demo_and_of_a_run_holds_for_its_numbers(demo_book):
    # The demo's own history (its decisions before any run), then a whole run.
    run = full_run()
    out = io.StringIO()
    call_command("verify_reasons", stdout=out)
    assert out.getvalue().startswith("Every reason holds:"), out.getvalue()
    checked = int(out.getvalue().split(":")[1].split("decisions")[0].replace(",", ""))
    assert checked == LimitDecision.objects.filter(policy__isnull=False).count() > run.changed


def test_verify_reasons_names_a_decision_whose_reason_does_not_hold(demo_book):
    account = story("LD-CASE-A")
    truth = account.decisions.get(sequence=1)  # its utilization is 35 %
    services.decision_record(
        change=services.Change(
            account_id=account.pk,
            action="reduce",
            source="run",
            new_limit=Decimal("2000.00"),
            new_status="active",
            reasons=("HIGH_UTILIZATION",),
            idempotency_key="false-reason",
            expected_version=account.version,
            score_after=truth.score_after,
            band_after=truth.band_after,
            contributions=truth.contributions,
            triggers=(),
            inputs=truth.inputs,
            policy_id=truth.policy_id,
            policy_version=truth.policy_version,
        )
    )
    with pytest.raises(CommandError) as refused:
        call_command("verify_reasons", "--since", "2000-01-01")
    message = str(refused.value)
    assert message.startswith("1 of ")
    assert "of LD-CASE-A (HIGH_UTILIZATION): HIGH_UTILIZATION does not hold" in message
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("verify_reasons", "--since", "yesterday")

"""Policy administration: drafts, simulation, four-eyes, staged rollout, rollback,
kill switch. Runs and simulations are driven chunk by chunk in the test process."""

from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection

import scoring
from accounts import roles
from accounts.models import Account
from decisions import runs
from decisions.models import LimitDecision, RescoreRun
from policies import services, simulations
from policies.models import Policy, PolicyEvent, Simulation
from tests.base import make_user, open_the_breaker, run_in_process

pytestmark = pytest.mark.django_db


def user(username: str, role: str):
    """The demo user when the demo book is loaded, else a new one."""
    from django.contrib.auth.models import User

    return User.objects.filter(username=username).first() or make_user(username, role)


@pytest.fixture
def admins(book):
    return user("dave", roles.POLICY_ADMIN), user("erin", roles.POLICY_ADMIN)


@pytest.fixture
def book(settings):
    settings.RESCORE_CHUNK_SIZE = 700
    call_command("seed_demo", "--accounts", "3000", "--seed", "5", verbosity=0)
    open_the_breaker()


def tightening(rules: dict) -> dict:
    """Multi-lending cut from 10 applications down to 5, band D's ceiling lowered."""
    bands = [dict(band) for band in rules["bands"]]
    bands[3]["ceiling"] = "7000"
    return {**rules, "multi_lending_applications_30d": 5, "bands": bands}


def simulate(version: int, actor) -> Simulation:
    simulation = simulations.simulation_start(version=version, actor=actor)
    for index in simulation.chunks.values_list("index", flat=True):
        simulations.simulation_compute_chunk(simulation_id=simulation.pk, index=index)
    simulation.refresh_from_db()
    return simulation


def drafted(author, *, rules=None) -> Policy:
    draft = services.policy_draft_create(author=author)
    return services.policy_draft_update(
        version=draft.version,
        author=author,
        rules=rules or tightening(draft.rules),
        rationale="Seed 004: multi-lending has doubled; tighten in a small step.",
    )


def submitted(author) -> Policy:
    draft = drafted(author)
    simulate(draft.version, author)
    return services.policy_submit(version=draft.version, author=author)


def run_all() -> RescoreRun:
    run: RescoreRun = run_in_process()
    return run


def test_bad_thresholds_are_refused_by_name_and_nothing_is_saved(admins):
    dave, _erin = admins
    draft = services.policy_draft_create(author=dave)
    created = dict(draft.rules)
    bands = [dict(band) for band in draft.rules["bands"]]
    bands[1]["min_score"] = 760  # above band A's 750
    bands[2]["ceiling"] = "-5"
    bad = {**draft.rules, "bands": bands, "overdue_reduce_pct": "140", "close_dpd": 0}
    with pytest.raises(services.PolicyAdminError) as refused:
        services.policy_draft_update(version=draft.version, author=dave, rules=bad, rationale="x")
    errors = refused.value.errors
    assert errors["bands"] == (
        "cut-offs must be strictly decreasing, best band first; "
        "a better band cannot have a lower ceiling than a worse one"
    )
    assert errors["bands.2.ceiling"] == "must not be negative"
    assert errors["overdue_reduce_pct"] == "must be between 0 and 100, not 140"
    assert errors["close_dpd"] == "must be between 1 and 3650, not 0"
    assert "rationale" in errors
    draft.refresh_from_db()
    assert draft.rules == created and draft.rationale == ""
    # The draft starts from the active version, every threshold written out.
    assert created == {**scoring.READ_AS_DEFAULT, **Policy.objects.get(state="active").rules}


def test_a_draft_is_simulated_before_it_is_submitted_and_again_after_an_edit(admins):
    dave, _erin = admins
    draft = drafted(dave)
    with pytest.raises(services.PolicyAdminError, match="Simulate the draft"):
        services.policy_submit(version=draft.version, author=dave)
    simulate(draft.version, dave)
    rules = {**draft.rules, "hysteresis_pct": "6"}
    services.policy_draft_update(
        version=draft.version, author=dave, rules=rules, rationale=draft.rationale
    )
    with pytest.raises(services.PolicyAdminError, match="Simulate the draft"):
        services.policy_submit(version=draft.version, author=dave)
    simulate(draft.version, dave)
    assert services.policy_submit(version=draft.version, author=dave).state == "pending"


def test_a_simulation_writes_no_decision_and_counts_both_versions(admins):
    dave, _erin = admins
    draft = drafted(dave)
    decisions_before = LimitDecision.objects.count()
    limits_before = list(Account.objects.order_by("id").values_list("current_limit", "score"))
    simulation = simulate(draft.version, dave)
    assert simulation.state == "done" and simulation.accounts_done == 3007
    assert LimitDecision.objects.count() == decisions_before
    assert list(Account.objects.order_by("id").values_list("current_limit", "score")) == (
        limits_before
    )
    draft_result, active_result = simulation.results["draft"], simulation.results["active"]
    assert draft_result["accounts"] == active_result["accounts"] == 3007
    # The tightening cuts more accounts, for more applications, and removes exposure.
    down = sum(row.get("reduce", 0) for row in draft_result["counts"].values())
    down_now = sum(row.get("reduce", 0) for row in active_result["counts"].values())
    assert down > down_now
    assert draft_result["reasons"]["MULTI_LENDING"] > active_result["reasons"]["MULTI_LENDING"]
    assert draft_result["exposure_after"] < active_result["exposure_after"]
    assert draft_result["exposure_before"] == active_result["exposure_before"]
    assert len(draft_result["movers"]) == 20


def test_the_author_can_never_approve_their_own_version(admins):
    dave, erin = admins
    pending = submitted(dave)
    with pytest.raises(services.PolicyAdminError, match="author of a version can never approve"):
        services.policy_approve(
            version=pending.version, approver=dave, comment="Looks fine.", share=100
        )
    with pytest.raises(services.PolicyAdminError, match="cannot approve"):
        services.policy_approve(
            version=pending.version,
            approver=user("alice", roles.RISK_ANALYST),
            comment="Looks fine.",
            share=100,
        )
    pending.refresh_from_db()
    assert pending.state == "pending" and pending.approver is None
    approved = services.policy_approve(
        version=pending.version, approver=erin, comment="Impact checked.", share=100
    )
    assert (approved.state, approved.approver) == ("active", erin)
    assert Policy.objects.get(version=1).state == "retired"
    actions = list(PolicyEvent.objects.filter(policy=approved).values_list("action", flat=True))
    assert set(actions) == {"drafted", "submitted", "approved", "activated"}


def test_a_rejected_version_goes_back_to_its_author_as_a_draft(admins):
    dave, erin = admins
    pending = submitted(dave)
    with pytest.raises(services.PolicyAdminError, match="at least 5"):
        services.policy_reject(version=pending.version, approver=erin, comment="")
    back = services.policy_reject(
        version=pending.version, approver=erin, comment="Too deep for one step."
    )
    assert (back.state, back.review_comment) == ("draft", "Too deep for one step.")


@pytest.mark.parametrize("share", ["0", "101", "ten", ""])
def test_a_bad_rollout_share_is_refused(admins, share):
    dave, erin = admins
    pending = submitted(dave)
    with pytest.raises(services.PolicyAdminError, match="whole percentage from 1 to 100"):
        services.policy_approve(
            version=pending.version, approver=erin, comment="Fine by me.", share=share
        )
    pending.refresh_from_db()
    assert pending.state == "pending"


def test_a_staged_rollout_scores_its_share_with_the_new_version_then_widens(admins):
    dave, erin = admins
    pending = submitted(dave)
    services.policy_approve(
        version=pending.version, approver=erin, comment="Start small.", share=30
    )
    run = run_all()
    assert run.candidate is not None
    assert (run.policy.version, run.candidate.version, run.rollout_share) == (1, 2, 30)
    counts = run.by_policy
    assert counts["1"]["accounts"] + counts["2"]["accounts"] == 3007
    assert 0.25 < counts["2"]["accounts"] / 3007 < 0.35
    # Each decision names the version that made it, as the bucket of its reference says.
    cutoff = scoring.rollout_cutoff(30)
    for decision in LimitDecision.objects.filter(run=run).select_related("account"):
        in_share = scoring.rollout_bucket(decision.account.reference) < cutoff
        assert decision.policy_version == (2 if in_share else 1)
    assert LimitDecision.objects.filter(run=run, policy_version=2).exists()

    widened = services.policy_rollout_widen(actor=erin, share=100)
    assert widened.state == "active"
    assert runs.run_start(trigger="button").candidate is None


def test_rollback_of_a_rollout_and_of_an_active_version_for_the_next_run(admins):
    dave, erin = admins
    pending = submitted(dave)
    services.policy_approve(
        version=pending.version, approver=erin, comment="Start small.", share=10
    )
    in_force = services.policy_rollback(actor=erin, reason="Appeals doubled within a day.")
    assert in_force.version == 1
    next_run = runs.run_start(trigger="button")
    assert next_run.policy.version == 1 and next_run.candidate is None
    RescoreRun.objects.filter(pk=next_run.pk).update(state="discarded")

    second = submitted(dave)
    services.policy_approve(
        version=second.version, approver=erin, comment="All at once.", share=100
    )
    assert runs.run_start(trigger="button").policy.version == second.version
    RescoreRun.objects.update(state="discarded")
    back = services.policy_rollback(actor=dave, reason="Exposure fell more than simulated.")
    assert back.version == 1 and Policy.objects.get(version=second.version).state == "retired"
    assert runs.run_start(trigger="button").policy.version == 1
    rolled = PolicyEvent.objects.filter(action="rolled_back").values_list(
        "policy__version", flat=True
    )
    assert sorted(rolled) == [2, second.version]


def test_the_kill_switch_holds_every_automatic_cut_and_is_audited(admins):
    dave, _erin = admins
    services.kill_switch_set(actor=dave, paused=True, reason="Seed 004: sudden mass cut.")
    with pytest.raises(services.PolicyAdminError, match="already paused"):
        services.kill_switch_set(actor=dave, paused=True, reason="Seed 004: sudden mass cut.")
    run = run_all()
    assert run.reduced + run.closed > 0
    assert run.held_cuts == run.reduced + run.closed
    assert not LimitDecision.objects.filter(run=run, action__in=["reduce", "close"]).exists()
    assert LimitDecision.objects.filter(run=run, action="raise").exists()
    services.kill_switch_set(actor=dave, paused=False, reason="Cause found and fixed.")
    assert list(PolicyEvent.objects.values_list("action", flat=True).order_by("id")) == [
        "paused",
        "resumed",
    ]


def test_rollout_buckets_are_stable_and_close_to_the_share_on_100000_accounts():
    references = [f"LD{n:08d}" for n in range(100_000)]
    buckets = [scoring.rollout_bucket(reference) for reference in references]
    assert buckets == [scoring.rollout_bucket(reference) for reference in references]
    for share in (1, 10, 50):
        chosen = sum(bucket < scoring.rollout_cutoff(share) for bucket in buckets)
        assert abs(chosen / 100_000 - share / 100) < 0.005, (share, chosen)
    # Widening keeps everyone already in the share.
    ten = {r for r, b in zip(references, buckets, strict=True) if b < scoring.rollout_cutoff(10)}
    twenty = {r for r, b in zip(references, buckets, strict=True) if b < scoring.rollout_cutoff(20)}
    assert ten <= twenty


def test_postgres_computes_the_same_bucket_as_python():
    references = ["LD-CASE-A", "LD00000001", "T00000042", "一二三"]
    sql = scoring.ROLLOUT_BUCKET_SQL.replace("a.reference", "r")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT r, {sql} FROM unnest(%s::text[]) AS r", [references])  # noqa: S608
        assert dict(cursor.fetchall()) == {r: scoring.rollout_bucket(r) for r in references}


def test_only_policy_admins_draft_and_decimal_ceilings_stay_exact(admins):
    dave, _erin = admins
    with pytest.raises(services.PolicyAdminError, match="cannot draft"):
        services.policy_draft_create(author=user("bob", roles.APPEAL_HANDLER))
    draft = services.policy_draft_create(author=dave)
    bands = [dict(band) for band in draft.rules["bands"]]
    bands[4]["ceiling"] = "2999.99"
    saved = services.policy_draft_update(
        version=draft.version,
        author=dave,
        rules={**draft.rules, "bands": bands},
        rationale="Band E ceiling to the cent.",
    )
    assert saved.rules["bands"][4]["ceiling"] == "2999.99"
    assert Decimal(saved.rules["bands"][4]["ceiling"]) == Decimal("2999.99")

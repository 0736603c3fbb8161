"""The demo's history: twelve complete monthly snapshots behind the book, with one
drifted signal, a score population to watch, a cohort the fairness check flags and a
staged rollout whose challenger clearly wins (docs/architecture.md, "The demo's
history")."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from io import StringIO

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

import scoring
from accounts import book
from accounts.models import Account
from demo import history, stories
from history import readout, snapshots, stats
from history.models import DriftAlert, Snapshot
from policies.models import Policy, PolicyEvent
from scoring import metrics

pytestmark = pytest.mark.django_db

STORIES = len(stories.STORY_ACCOUNTS)


def seed(accounts: int, *extra: str) -> str:
    out = StringIO()
    call_command(
        "seed_demo", "--accounts", str(accounts), "--seed", "7", "--history-months", "12",
        *extra, stdout=out,
    )  # fmt: skip
    return out.getvalue()


def months() -> list[Snapshot]:
    return list(Snapshot.objects.order_by("taken_on"))


def worst_after(taken_on: date, horizon: int, ids: np.ndarray) -> np.ndarray:
    """Each account's worst days past due in the `horizon` months after `taken_on`."""
    found = snapshots.outcomes_after(taken_on, horizon)
    worst = dict(zip(found.account_id.tolist(), found.worst_dpd.tolist(), strict=True))
    return np.asarray([worst.get(i, 0) for i in ids.tolist()])


def test_twelve_months_of_the_whole_book_with_a_drift_to_watch_and_a_cohort_flagged():
    output = seed(2000)
    total = 2000 + STORIES
    assert f"Generated 12 monthly snapshots of {total:,} accounts in" in output
    taken = months()
    expected = history.history_months(timezone.now().date(), 12)
    assert [s.taken_on for s in taken] == expected
    assert all(day.day == 1 for day in expected) and expected[-1] < timezone.now().date()
    assert {s.state for s in taken} == {Snapshot.State.COMPLETE}
    assert {s.accounts for s in taken} == {total}
    assert all(s.run_id is None for s in taken)

    # The first version went into force early in the history (the monitor's baseline);
    # dave's challenger in a staged rollout that erin approved, as the services write it.
    active = Policy.objects.get(state=Policy.State.ACTIVE)
    challenger = Policy.objects.get(state=Policy.State.ROLLOUT)
    assert active.version == 1 and challenger.version == 2
    assert active.activated_at is not None
    assert expected[1] <= active.activated_at.date() < expected[2]
    assert challenger.author is not None and challenger.approver is not None
    assert (challenger.author.username, challenger.approver.username) == ("dave", "erin")
    assert challenger.rollout_share == history.ROLLOUT_SHARE
    events = list(PolicyEvent.objects.filter(policy=challenger).order_by("at", "id"))
    assert [e.action for e in events] == ["drafted", "submitted", "approved", "rollout"]
    assert [e.actor.username for e in events] == ["dave", "dave", "erin", "erin"]
    rollout_at = events[-1].at
    assert expected[4] < rollout_at.date() < expected[5]
    rules = scoring.parse_policy(challenger.rules)
    assert rules.multi_lending_applications_30d == 6
    assert rules.linked_risk_threshold == Decimal("0.5")

    references = dict(Account.objects.values_list("id", "reference"))
    share = {
        pk for pk, ref in references.items() if scoring.rollout_bucket(ref) < 2500
    }  # 25 % of the buckets
    previous = None
    for month, snapshot in enumerate(taken):
        rows = snapshots.snapshot_load(snapshot.taken_on)
        assert len(rows) == total
        assert rows.account_id.tolist() == sorted(references)
        in_rollout = month >= 5
        assert snapshot.candidate_version == (2 if in_rollout else None)
        scored_by_challenger = {int(i) for i in rows.account_id[rows.policy_version == 2]}
        assert scored_by_challenger == (share if in_rollout else set())
        assert set(rows.policy_version.tolist()) <= {1, 2}
        # The distributions kept beside the rows are those of the rows.
        recount = stats.row_stats(rows, book.SEGMENTS)
        kept = dict(snapshot.stats)
        assert sum(kept.pop("reasons").values()) >= kept["actions"].get("reduce", 0)
        recount.pop("reasons")
        assert kept == recount
        # One month leads to the next: the limit and status after are the next before.
        if previous is not None:
            assert np.array_equal(rows.limit_before, previous.limit_after)
            assert np.array_equal(rows.status_before, previous.status_after)
        previous = rows
    # The months are what the engine did: a limit moves only by the actions.
    assert previous is not None
    kept_rows = previous.action == scoring.ACTION_CODES[scoring.KEEP]
    assert np.array_equal(previous.limit_after[kept_rows], previous.limit_before[kept_rows])

    # One signal drifts, the score population is to watch, the young are flagged.
    baseline, latest = taken[1], taken[-1]
    apps = metrics.psi(
        baseline.stats["signal_bins"]["lender_applications_30d"],
        latest.stats["signal_bins"]["lender_applications_30d"],
    )
    assert apps >= 0.25, apps
    # The drift is recent: before the last five months the signal is stable.
    early = metrics.psi(
        baseline.stats["signal_bins"]["lender_applications_30d"],
        taken[6].stats["signal_bins"]["lender_applications_30d"],
    )
    assert early < 0.10, early
    score_psi = metrics.psi(baseline.stats["score_bins"], latest.stats["score_bins"])
    assert metrics.stability(score_psi) == "watch", score_psi
    # The next real run scores the book as it is now: against the baseline it must stay
    # under the circuit breaker's PSI, or the demo's first run would be held.
    active = Policy.objects.get(state=Policy.State.ACTIVE)
    compiled = scoring.compile_rules(scoring.parse_policy(active.rules))
    ids = list(Account.objects.order_by("id").values_list("id", flat=True))
    now = book.load_chunk(ids[0], ids[-1], [b.name for b in compiled.rules.bands])
    current = stats.counts(
        scoring.score_chunk(compiled, now).score.astype(float), stats.SCORE_EDGES
    )
    assert metrics.psi(baseline.stats["score_bins"], current) < float(
        compiled.rules.breaker_max_psi
    )

    def flagged(snapshot: Snapshot, kind: str) -> set[str]:
        cohorts = snapshot.stats["cohorts"][kind]
        impacts = metrics.adverse_impact(
            {label: (c["accounts"], c["cut"] + c["closed"]) for label, c in cohorts.items()}
        )
        return {impact.cohort for impact in impacts if impact.flagged}

    # The monitor's own derivation and drift check ran at once: outcomes and alerts.
    assert all(snapshot.outcomes.get("3") for snapshot in taken[:-1])
    alerts = set(DriftAlert.objects.filter(snapshot=latest).values_list("kind", "subject"))
    assert ("csi", "lender_applications_30d") in alerts
    assert ("fairness", "age: 18-24") in alerts
    assert not any(kind == "psi" for kind, _subject in alerts)
    assert flagged(latest, "age") == {"18-24"}
    assert flagged(latest, "segment") == {"young"}
    assert not flagged(baseline, "age") and not flagged(baseline, "segment")


def test_low_scores_go_past_due_more_often_and_the_challenger_clearly_wins():
    seed(10000)
    taken = months()
    # Separation: the score at a snapshot against 30+ days past due in the six months
    # after, among the accounts not already 30+ then.
    rows = snapshots.snapshot_load(taken[3].taken_on)
    worst = worst_after(taken[3].taken_on, 6, rows.account_id)
    fresh = rows.days_past_due < 30
    gini = metrics.gini(metrics.auc(rows.score[fresh], worst[fresh] >= 30))
    assert 0.4 <= gini <= 0.7, gini
    low = rows.score < np.median(rows.score)
    assert (worst[low] >= 90).mean() > 2 * (worst[~low] >= 90).mean()

    # The champion-challenger readout of the rollout (history.readout): the accounts the
    # challenger scored in its first snapshot have fewer 30+ and 90+ days past due in
    # every month since, the 30+ interval wholly below zero, and no more good
    # customers cut: widen.
    found = readout.readout(Policy.objects.get(state=Policy.State.ROLLOUT))
    assert found.first is not None and found.first.taken_on == taken[5].taken_on
    assert found.months == 6
    assert found.recommendation is not None
    assert found.recommendation.action == readout.WIDEN, found.recommendation
    dpd30, dpd90, goods = (
        found.rows[0].difference,
        found.rows[1].difference,
        found.rows[2].difference,
    )
    assert dpd30 is not None and dpd90 is not None and goods is not None
    assert dpd30.low < dpd30.high < 0, (dpd30.low, dpd30.high)
    assert dpd90.value < 0
    assert not goods.worse


def test_the_history_loads_once_and_goes_with_a_replaced_book():
    # A book loaded without its history gets it on the next `make run` (--if-empty).
    call_command("seed_demo", "--accounts", "500", "--seed", "7", verbosity=0)
    assert not Snapshot.objects.exists()
    assert "Generated 12 monthly snapshots" in seed(500, "--if-empty")
    before = [(s.taken_on, s.accounts, s.stats) for s in months()]
    policies = Policy.objects.count()
    events = PolicyEvent.objects.count()
    # Loaded once: a second `make run` adds nothing.
    again = history.demo_history_load(months=12, seed=7)
    assert (again.snapshots, again.accounts) == (0, 0)
    output = seed(900, "--if-empty")
    assert "already loaded" in output and "Generated" not in output
    assert [(s.taken_on, s.accounts, s.stats) for s in months()] == before
    assert (Policy.objects.count(), PolicyEvent.objects.count()) == (policies, events)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM history_accountsnapshot")
        assert cursor.fetchone()[0] == 12 * (500 + STORIES)

    # A new book replaces the old one's history; the versions stand as they are.
    seed(300, "--replace")
    assert {s.accounts for s in months()} == {300 + STORIES}
    assert (Policy.objects.count(), PolicyEvent.objects.count()) == (policies, events)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM history_accountsnapshot")
        assert cursor.fetchone()[0] == 12 * (300 + STORIES)

    with pytest.raises(CommandError, match="--history-months must be between 0 and 36"):
        call_command("seed_demo", "--history-months", "-1", verbosity=0)
    with pytest.raises(ValueError, match="at least one month"):
        history.demo_history_load(months=0)

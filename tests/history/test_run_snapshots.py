"""A portfolio run writes its snapshot in the same pass: one row per account, COPYed
in each chunk's transaction, the stats merged when every chunk is scored; the cadence,
a discarded run, and the retention of month partitions."""

import os
from datetime import date, timedelta
from decimal import Decimal
from unittest import mock
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import psycopg
import pytest
from django.db import connection
from django.utils import timezone
from redis.exceptions import RedisError

import scoring
from accounts import roles
from accounts.book import SEGMENTS
from accounts.models import Account, AccountSignals
from decisions import chunks, runs
from decisions.models import LimitDecision, RescoreRun
from history import services, snapshots, stats
from history import tasks as history_tasks
from history.models import Backtest, Snapshot
from history.snapshots import snapshot_load
from policies.models import Policy
from tests.base import make_account, make_signals, make_user, open_the_breaker
from tests.decisions.test_runs import apply, compute

pytestmark = pytest.mark.django_db


def move_snapshot(snapshot: Snapshot, day: date) -> None:
    """As if the snapshot had been taken on `day` (rows and all)."""
    snapshots.partition_ensure(day)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE history_accountsnapshot SET taken_on = %s WHERE taken_on = %s",
            [day, snapshot.taken_on],
        )
    Snapshot.objects.filter(pk=snapshot.pk).update(taken_on=day)


def other_day_this_month(day: date) -> date:
    return day - timedelta(days=1) if day.day > 1 else day + timedelta(days=1)


@pytest.fixture
def book(settings):
    """Nine accounts in three chunks: healthy, overdue (a cut), serious overdue (a
    closure), frozen, closed, and a spread of credit scores."""
    settings.RESCORE_CHUNK_SIZE = 3
    open_the_breaker()
    made = []
    for credit in (520, 610, 680, 720, 790):
        account = make_account(segment=Account.Segment.MASS)
        make_signals(account, credit_score=credit)
        made.append(account)
    overdue = make_account(segment=Account.Segment.YOUNG, good_cycles=2)
    make_signals(overdue, days_past_due=12, max_dpd_12m=12, credit_score=640)
    serious = make_account(current_limit=Decimal("8000.00"))
    make_signals(serious, days_past_due=95, max_dpd_12m=95)
    frozen = make_account(status=Account.Status.FROZEN)
    make_signals(frozen)
    closed = make_account(status=Account.Status.CLOSED, current_limit=Decimal("0.00"))
    make_signals(closed, age=41)
    return [*made, overdue, serious, frozen, closed]


def test_a_portfolio_run_writes_one_row_per_account_as_it_saw_it(book):
    before = {
        a.pk: (a.current_limit, a.status, a.good_cycles, a.segment) for a in Account.objects.all()
    }
    run = compute(runs.run_start(trigger="button"))
    snapshot = Snapshot.objects.get(run_id=run.pk)
    assert (snapshot.state, snapshot.taken_on) == ("complete", timezone.localdate())
    assert snapshot.accounts == 9 and run.chunks_total == 3
    assert snapshot.policy_version == run.policy.version
    run = apply(run)
    assert run.state == "done"

    rows = snapshot_load(snapshot.taken_on)
    assert rows.account_id.tolist() == sorted(before)
    bands = [band.name for band in scoring.parse_policy(run.policy.rules).bands]
    status_codes, action_codes = scoring.STATUS_CODES, scoring.ACTION_CODES
    for i, account_id in enumerate(rows.account_id.tolist()):
        limit, status, cycles, segment = before[account_id]
        account = Account.objects.get(pk=account_id)
        signals = AccountSignals.objects.get(pk=account_id)
        # As the run saw it before deciding ...
        assert rows.limit_before[i] == int(limit * 100)
        assert rows.status_before[i] == status_codes[status]
        assert rows.good_cycles[i] == cycles
        assert SEGMENTS[rows.segment[i]] == segment
        assert rows.days_past_due[i] == signals.days_past_due
        assert rows.signals[i, scoring.INPUT_SIGNALS.index("credit_score")] == float(
            signals.credit_score
        )
        assert rows.days_since_restoration[i] == scoring.NEVER_RESTORED
        # ... and what it made of it: the decision written, the score and band kept.
        assert rows.policy_version[i] == run.policy.version
        assert rows.score[i] == account.score
        assert bands[rows.band[i]] == account.band
        decision = LimitDecision.objects.filter(run=run, account_id=account_id).first()
        if decision is None:
            assert rows.action[i] == action_codes[scoring.KEEP]
            assert rows.limit_after[i] == rows.limit_before[i]
        else:
            assert rows.action[i] == action_codes[decision.action]
            assert rows.limit_after[i] == int(decision.new_limit * 100)
            assert rows.status_after[i] == status_codes[decision.new_status]
        assert rows.limit_after[i] == int(account.current_limit * 100)
        assert rows.status_after[i] == status_codes[account.status]

    # Both the cut and the closure happened, and the snapshot says so.
    actions = LimitDecision.objects.filter(run=run).values_list("action", flat=True)
    assert {"reduce", "close"} <= set(actions)
    # The stats are a recount of the rows; the reasons, of the decisions' triggers.
    recount = stats.row_stats(rows, SEGMENTS)
    assert {k: v for k, v in snapshot.stats.items() if k != "reasons"} == {
        k: v for k, v in recount.items() if k != "reasons"
    }
    reasons: dict[str, int] = {}
    for decision in LimitDecision.objects.filter(run=run, action__in=["reduce", "close"]):
        for code in decision.triggers:
            reasons[code] = reasons.get(code, 0) + 1
    assert snapshot.stats["reasons"] == reasons
    assert sum(snapshot.stats["score_bins"]) == 9
    assert snapshot.stats["actions"]["close"] == 1


def test_a_single_account_re_score_writes_no_snapshot(book):
    run = compute(runs.run_start(trigger="button", account_id=book[0].pk))
    assert run.state == "applying"
    assert not Snapshot.objects.exists()
    assert run.chunks.get().stats == {}


def test_monthly_a_second_run_in_the_month_writes_none(book, settings):
    settings.PORTFOLIO_SNAPSHOT_CADENCE = "monthly"
    first = apply(compute(runs.run_start(trigger="button")))
    taken = Snapshot.objects.get(run_id=first.pk)
    move_snapshot(taken, other_day_this_month(taken.taken_on))
    second = apply(compute(runs.run_start(trigger="schedule")))
    assert second.state == "done"
    assert list(Snapshot.objects.values_list("run_id", flat=True)) == [first.pk]
    assert len(snapshot_load(timezone.localdate())) == 0
    # The second run still counted its scores, for the stability check.
    assert sum(stats.merge(second.chunks.values_list("stats", flat=True))["score_bins"]) == 9


def test_every_run_writes_one_a_day(book, settings):
    settings.PORTFOLIO_SNAPSHOT_CADENCE = "every-run"
    first = apply(compute(runs.run_start(trigger="button")))
    taken = Snapshot.objects.get(run_id=first.pk)
    # The same day: the day is taken.
    again = apply(compute(runs.run_start(trigger="button")))
    assert not Snapshot.objects.filter(run_id=again.pk).exists()
    move_snapshot(taken, other_day_this_month(taken.taken_on))
    third = apply(compute(runs.run_start(trigger="button")))
    written = Snapshot.objects.get(run_id=third.pk)
    assert (written.state, written.taken_on, written.accounts) == (
        "complete",
        timezone.localdate(),
        9,
    )
    assert len(snapshot_load(written.taken_on)) == 9
    assert Snapshot.objects.filter(state="complete").count() == 2


def test_a_chunk_that_rolls_back_writes_its_rows_once_when_done_again(book):
    run = runs.run_start(trigger="button")
    day = Snapshot.objects.get(run_id=run.pk).taken_on
    # The chunk's rows are COPYed, then the transaction fails before it commits.
    with (
        mock.patch("decisions.chunks.tally", side_effect=RuntimeError("connection lost")),
        pytest.raises(RuntimeError),
    ):
        chunks.run_compute_chunk(run_id=run.pk, index=0)
    assert len(snapshot_load(day)) == 0
    assert run.chunks.get(index=0).state == "pending"
    run = compute(run)
    # A redelivered task finds the chunk done and writes nothing.
    assert chunks.run_compute_chunk(run_id=run.pk, index=0) is False
    rows = snapshot_load(day)
    assert len(rows) == 9 and len(set(rows.account_id.tolist())) == 9
    assert Snapshot.objects.get(run_id=run.pk).accounts == 9


def test_a_discarded_run_leaves_its_snapshot_discarded_with_its_rows(book):
    active = Policy.objects.get(state="active")
    active.rules = {**active.rules, "breaker_max_accounts_cut_pct": "1"}
    active.save()
    starter = make_user("starter", roles.RISK_ANALYST)
    other = make_user("other", roles.RISK_ANALYST)
    run = compute(runs.run_start(trigger="button", started_by=starter))
    assert run.state == "waiting"
    assert Snapshot.objects.get(run_id=run.pk).state == "complete"
    runs.run_discard(run_id=run.pk, actor=other)
    snapshot = Snapshot.objects.get(run_id=run.pk)
    assert snapshot.state == "discarded"
    assert len(snapshot_load(snapshot.taken_on)) == 9
    # Not a complete snapshot of the month: the next run writes one (another day).
    assert services.snapshot_due(day=other_day_this_month(snapshot.taken_on), cadence="monthly")


def test_a_candidate_rows_band_is_its_own_versions(book):
    data = scoring.ChunkInput(
        ids=np.asarray([1, 2, 3]),
        limit=np.asarray([100, 200, 300]),
        status=np.zeros(3, dtype=np.int64),
        version=np.zeros(3, dtype=np.int64),
        good_cycles=np.asarray([0, 1, 2]),
        score=np.zeros(3, dtype=np.int64),
        band=np.full(3, -1),
        bucket=np.zeros(3, dtype=np.int64),
        in_cooldown=np.zeros(3, dtype=bool),
        signals=np.zeros((3, len(scoring.INPUT_SIGNALS))),
        segment=np.asarray([0, 1, 2]),
        days_since_restoration=np.asarray([5, scoring.NEVER_RESTORED, 30]),
    )
    data.signals[:, scoring.INPUT_SIGNALS.index("days_past_due")] = [0, 31, 7]
    result = scoring.ChunkResult(
        action=np.asarray([0, 2, 0], dtype=np.int64),
        new_limit=np.asarray([100, 150, 300], dtype=np.int64),
        new_status=np.zeros(3, dtype=np.int64),
        score=np.asarray([700, 550, 640], dtype=np.int64),
        band=np.asarray(
            [1, 6, 2], dtype=np.int64
        ),  # the second row is the candidate's band 6 - 5 = 1
        points=np.zeros((3, len(scoring.SCORECARD)), dtype=np.int64),
        triggers=np.zeros(3, dtype=np.int64),
        good_cycles=np.asarray([1, 0, 3], dtype=np.int64),
    )
    rows = chunks.snapshot_rows(data, result, np.asarray([0, 1, 0]), [3, 4], [0, 5])
    assert rows.band.tolist() == [1, 1, 2]
    assert rows.policy_version.tolist() == [3, 4, 3]
    assert rows.days_past_due.tolist() == [0, 31, 7]
    assert rows.good_cycles.tolist() == [0, 1, 2]  # before the run
    assert rows.days_since_restoration.tolist() == [5, scoring.NEVER_RESTORED, 30]


def months_ago(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def test_retention_drops_old_partitions_and_keeps_recent_and_back_tested_ones(book):
    today = timezone.localdate()
    old, older, kept_for_backtest, recent = (
        months_ago(today, 37),
        months_ago(today, 40),
        months_ago(today, 38),
        months_ago(today, 35),
    )
    rows = snapshots.SnapshotRows(
        **{
            name: np.zeros(1, dtype=np.int64)
            for name in snapshots.SnapshotRows.__dataclass_fields__
            if name != "signals"
        },
        signals=np.zeros((1, len(scoring.INPUT_SIGNALS))),
    )
    for day in (old, older, kept_for_backtest, recent):
        snapshots.partition_ensure(day)
        Snapshot.objects.create(taken_on=day, policy_version=1, state="complete")
        snapshots.snapshot_rows_write(day, rows)
    active = Policy.objects.get(state="active")
    Backtest.objects.create(
        policy=active,
        base=active,
        rules=active.rules,
        snapshot=Snapshot.objects.get(taken_on=kept_for_backtest),
        started_by=make_user("analyst", roles.RISK_ANALYST),
    )
    done = services.partitions_maintain(months=36)
    assert sorted(done.dropped) == [older, old]
    assert done.kept == [kept_for_backtest]
    assert snapshots.month_start(snapshots.next_month(today)) in {
        month for _name, month in snapshots.partitions()
    }
    months = {month for _name, month in snapshots.partitions()}
    assert old not in months and older not in months
    assert {kept_for_backtest, recent} <= months
    assert set(Snapshot.objects.values_list("taken_on", flat=True)) == {kept_for_backtest, recent}
    assert len(snapshot_load(recent)) == 1 and len(snapshot_load(kept_for_backtest)) == 1
    # Nothing left to do the next day.
    again = services.partitions_maintain(months=36)
    assert (again.created, again.dropped) == ([], [])


@pytest.mark.django_db(transaction=True)
def test_the_apps_login_makes_and_drops_month_partitions_only_through_the_functions():
    """The worker and the web log in as a role that owns no table (config/grants.py):
    the month partitions are made and dropped by the owner's two functions."""
    url = urlsplit(os.environ.get("DATABASE_APP_URL") or os.environ["DATABASE_URL"])
    app_url = urlunsplit(url._replace(path=f"/{connection.settings_dict['NAME']}"))
    with psycopg.connect(app_url, autocommit=True) as app:
        assert app.execute("SELECT history_partition_ensure('2019-03-10')").fetchone() == (True,)
        assert app.execute("SELECT history_partition_ensure('2019-03-31')").fetchone() == (False,)
        assert date(2019, 3, 1) in {month for _name, month in snapshots.partitions()}
        if os.environ.get("DATABASE_APP_URL"):  # two logins: the app's may not do it itself
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                app.execute(
                    "CREATE TABLE history_accountsnapshot_p201904 PARTITION OF "
                    "history_accountsnapshot FOR VALUES FROM ('2019-04-01') TO ('2019-05-01')"
                )
        with pytest.raises(psycopg.errors.RaiseException, match="not in the past"):
            app.execute("SELECT history_partition_drop(current_date, '1 second')")
        dropped = app.execute("SELECT history_partition_drop('2019-03-01', '1 second')")
        assert dropped.fetchone() == (True,)
    assert date(2019, 3, 1) not in {month for _name, month in snapshots.partitions()}


def test_a_run_the_queue_never_took_leaves_no_snapshot_behind(book):
    with (
        mock.patch("config.queue.send", side_effect=RedisError("connection refused")),
        pytest.raises(runs.QueueUnavailable),
    ):
        runs.run_start(trigger="button")
    assert not RescoreRun.objects.exists()
    assert not Snapshot.objects.exists()
    # The day is free: the next run writes the month's snapshot.
    run = compute(runs.run_start(trigger="button"))
    assert Snapshot.objects.get(run_id=run.pk).state == "complete"


def test_the_daily_task_makes_next_months_partition_ahead(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["history-partitions"]
    assert entry["task"] == "history.tasks.maintain_partitions"
    ahead = snapshots.next_month(timezone.localdate())
    done = history_tasks.maintain_partitions()
    assert ahead in {month for _name, month in snapshots.partitions()}
    assert done["dropped"] == [] and done["kept"] == []
    assert history_tasks.maintain_partitions()["created"] == []  # nothing left to make

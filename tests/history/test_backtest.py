"""A back-test replays a draft and the active version on a past snapshot and judges
both by the outcomes in later snapshots; the figures are checked against a book of
20 accounts counted by hand."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal
from unittest import mock

import numpy as np
import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

import scoring
from accounts import roles
from history import backtests, snapshots, tasks
from history.models import Backtest, Snapshot
from history.snapshots import SnapshotRows
from policies import services
from policies.models import Policy
from policies.services import PolicyAdminError
from tests.base import make_user

pytestmark = pytest.mark.django_db(transaction=True)

FIRST, SECOND, THIRD = date(2026, 1, 1), date(2026, 2, 1), date(2026, 4, 1)
LIMIT = 200_000  # cents: ¥2,000, under every band's ceiling
HEALTHY = {
    "credit_score": 700,
    "on_time_ratio": 1.0,
    "lender_applications_90d": 1,
    "external_debt_to_income": 0.3,
    "utilization": 0.35,
    "active_days_90d": 45,
    "tenure_months": 24,
    "consumption_amount_90d": 9000.0,
    "age": 40,
    "real_name_verified": 1,
    "bank_card_bound": 1,
}


def book(ids: list[int], dpd: dict[int, int], **signals: dict[int, float]) -> SnapshotRows:
    """Active lines of LIMIT, healthy signals but those given per account id."""
    n = len(ids)
    values = np.zeros((n, len(scoring.INPUT_SIGNALS)), dtype=np.float64)
    for name, value in HEALTHY.items():
        values[:, scoring.INPUT_SIGNALS.index(name)] = value
    for name, per_account in signals.items():
        for row, account_id in enumerate(ids):
            if account_id in per_account:
                values[row, scoring.INPUT_SIGNALS.index(name)] = per_account[account_id]
    overdue = np.asarray([dpd.get(i, 0) for i in ids])
    values[:, scoring.INPUT_SIGNALS.index("days_past_due")] = overdue
    return SnapshotRows(
        account_id=np.asarray(ids),
        segment=np.zeros(n),
        status_before=np.zeros(n),
        limit_before=np.full(n, LIMIT),
        good_cycles=np.zeros(n),
        in_cooldown=np.zeros(n, dtype=bool),
        days_since_restoration=np.full(n, scoring.NEVER_RESTORED),
        days_past_due=overdue,
        score=np.full(n, 700),
        band=np.full(n, 1),
        policy_version=np.full(n, 1),
        action=np.zeros(n),
        limit_after=np.full(n, LIMIT),
        status_after=np.zeros(n),
        signals=values,
    )


def taken(day: date, rows: SnapshotRows) -> Snapshot:
    with transaction.atomic():
        snapshots.partition_ensure(day)
        snapshot = Snapshot.objects.create(taken_on=day, policy_version=1, state="complete")
        snapshots.snapshot_rows_write(day, rows)
    return snapshot


@pytest.fixture
def history():
    return hand_counted_history()


def hand_counted_history() -> Snapshot:
    """20 accounts on 1 January 2026, seen again on 1 February and 1 April.

    1-6: seven applications at other lenders in 30 days (aged 22): the draft (a
    trigger at 5 instead of 10) cuts them by 30 %, the active version does not.
    7-8: 95 days past due: both versions close them. 9-20: healthy, kept by both.
    Later: 1, 2, 7 and 9 reach 90+ days past due (bad); 6 reaches 45 and 10 reaches
    30 (neither); 8 and 20 are never seen again; the others stay current (good)."""
    ids = list(range(1, 21))
    first = taken(
        FIRST,
        book(
            ids,
            {7: 95, 8: 95},
            lender_applications_30d=dict.fromkeys(range(1, 7), 7),
            age=dict.fromkeys(range(1, 7), 22),
        ),
    )
    later = [i for i in ids if i not in (8, 20)]
    taken(SECOND, book(later, {1: 40, 6: 45, 7: 100, 10: 30}))
    taken(THIRD, book(later, {1: 120, 2: 95, 7: 130, 9: 90}))
    return first


@pytest.fixture
def draft():
    dave = make_user("dave-bt", roles.POLICY_ADMIN)
    created = services.policy_draft_create(author=dave)
    return services.policy_draft_update(
        version=created.version,
        author=dave,
        rules={**created.rules, "multi_lending_applications_30d": 5},
        rationale="Multi-lending doubled: trigger at five applications.",
    )


def test_the_figures_of_both_versions_are_the_hand_counted_ones(history, draft):
    with mock.patch("config.queue.send") as queued:
        backtest = backtests.backtest_start(
            version=draft.version, snapshot_id=history.pk, months="3", actor=draft.author
        )
    queued.assert_called_once_with("history.tasks.run_backtest", backtest.pk)
    assert backtest.base.version == 1 and backtest.state == "queued"
    assert tasks.run_backtest(backtest.pk) is True
    backtest.refresh_from_db()
    assert backtest.state == "done", backtest.error
    results = backtest.results
    assert (results["accounts"], results["unseen"], results["goods"], results["bads"]) == (
        18,
        2,
        12,  # 3, 4, 5 and 11-19
        4,  # 1, 2, 7, 9
    )
    draft_side, base_side = results["versions"]["draft"], results["versions"]["base"]
    assert {key: draft_side[key] for key in backtests._COUNTS} == {
        "accounts": 18,
        "cut": 6,
        "closed": 1,  # 7; 8 is left out, never seen again
        "goods_cut": 3,
        "bads_caught": 3,
        "bads_missed": 1,
        "exposure_from_bads": 60_000 * 2 + LIMIT,  # ¥600 from 1 and 2, all of 7's line
        "exposure_from_goods": 60_000 * 3,
    }
    assert {key: base_side[key] for key in backtests._COUNTS} == {
        "accounts": 18,
        "cut": 0,
        "closed": 1,
        "goods_cut": 0,
        "bads_caught": 1,
        "bads_missed": 3,
        "exposure_from_bads": LIMIT,
        "exposure_from_goods": 0,
    }
    assert draft_side["cohorts"]["age"] == {
        "18-24": {"accounts": 6, "cut": 6, "closed": 0},
        "35-44": {"accounts": 12, "cut": 0, "closed": 1},
    }
    assert draft_side["cohorts"]["segment"] == {"mass": {"accounts": 18, "cut": 6, "closed": 1}}
    # A second run of the same back-test does nothing.
    assert tasks.run_backtest(backtest.pk) is False

    view = backtests.backtest_view(backtest)
    assert view.draft is not None and view.draft.exposure_from_bads == Decimal("3200")
    goods = next(row for row in view.rows if row.attribute == "goods_cut")
    assert (goods.base, goods.draft, goods.difference) == (0, 3, 3)


def test_only_matured_windows_of_complete_snapshots_are_offered(history):
    choices = backtests.snapshot_choices()
    # 1 February: its 3-month window ends 1 May, after the last snapshot.
    assert [(c.snapshot.taken_on, c.matured) for c in choices] == [(FIRST, (3,))]
    default = backtests.default_choice(choices)
    assert default is not None and default.snapshot == history  # no 12 months: the oldest
    assert backtests.window_matured(FIRST, 3, [date(2026, 3, 26)])  # within a week of its end
    assert not backtests.window_matured(FIRST, 3, [date(2026, 3, 24)])


def test_bad_input_is_refused_with_the_reason_and_creates_nothing(history, draft):
    second = Snapshot.objects.get(taken_on=SECOND)
    analyst = make_user("alice-bt", roles.RISK_ANALYST)
    refused = [
        ({"version": 1, "snapshot_id": history.pk, "months": 3}, "this one is active"),
        ({"version": draft.version, "snapshot_id": history.pk, "months": 6}, "has not matured"),
        ({"version": draft.version, "snapshot_id": second.pk, "months": 3}, "No complete snapshot"),
        ({"version": draft.version, "snapshot_id": 999_999, "months": 3}, "No complete snapshot"),
        ({"version": draft.version, "snapshot_id": "", "months": 3}, "Choose a snapshot"),
        ({"version": draft.version, "snapshot_id": history.pk, "months": 4}, "3, 6 or 12 months"),
        ({"version": draft.version, "snapshot_id": history.pk, "months": "x"}, "3, 6 or 12 months"),
        ({"version": 99, "snapshot_id": history.pk, "months": 3}, "No policy version 99"),
    ]
    with mock.patch("config.queue.send") as queued:
        for arguments, reason in refused:
            with pytest.raises(PolicyAdminError, match=reason):
                backtests.backtest_start(**arguments, actor=draft.author)
        with pytest.raises(PolicyAdminError, match="cannot back-test"):
            backtests.backtest_start(
                version=draft.version, snapshot_id=history.pk, months=3, actor=analyst
            )
    assert Backtest.objects.count() == 0
    queued.assert_not_called()


def test_one_back_test_of_a_version_runs_at_a_time_unless_it_stalled(history, draft):
    arguments = {"version": draft.version, "snapshot_id": history.pk, "months": 3}
    with mock.patch("config.queue.send"):
        first = backtests.backtest_start(**arguments, actor=draft.author)
        with pytest.raises(PolicyAdminError, match="already running"):
            backtests.backtest_start(**arguments, actor=draft.author)
        stalled = timezone.now() - backtests.STALLED_AFTER - timedelta(minutes=1)
        Backtest.objects.filter(pk=first.pk).update(created_at=stalled)
        again = backtests.backtest_start(**arguments, actor=draft.author)
    assert again.pk != first.pk and Backtest.objects.count() == 2


def test_a_failed_back_test_says_why(history, draft):
    with mock.patch("config.queue.send"):
        backtest = backtests.backtest_start(
            version=draft.version, snapshot_id=history.pk, months=3, actor=draft.author
        )
    with (
        mock.patch("history.backtests.outcomes_after", side_effect=MemoryError("no room")),
        pytest.raises(MemoryError),
    ):
        tasks.run_backtest(backtest.pk)
    backtest.refresh_from_db()
    assert backtest.state == "failed" and "no room" in backtest.error


def test_an_admin_starts_it_from_the_page_and_reads_the_comparison(history, draft, client):
    dave = draft.author
    client.force_login(dave)
    start = reverse("history:backtest_start", args=[draft.version])
    page = client.get(start).content.decode()
    assert "Start the back-test" in page and "2026-01-01" in page
    with mock.patch("config.queue.send"):
        response = client.post(start, {"snapshot": history.pk, "months": "3"})
    backtest = Backtest.objects.get()
    detail = reverse("history:backtest", args=[draft.version, backtest.pk])
    assert response.status_code == 302 and response["Location"] == detail
    panel = reverse("history:backtest_panel", args=[draft.version, backtest.pk])
    assert f'hx-get="{panel}"' in client.get(panel).content.decode()  # polls while queued

    tasks.run_backtest(backtest.pk)
    body = re.sub(r"\s+", " ", client.get(detail).content.decode())
    assert panel not in body  # done: no more polling
    assert (
        f"Of the 7 accounts v{draft.version} would cut or close, 3 stayed below 30 days past "
        "due for 3 months: good customers cut."
    ) in body
    assert "v1 would cut or close 1, 0 of them good customers." in body
    assert (
        f"Of the 4 accounts that reached 90 days past due or more within 3 months, "
        f"v{draft.version} would have cut or closed 3 beforehand and v1 1."
    ) in body
    assert "¥3,200.00 of limit from those bad accounts (v1: ¥2,000.00)" in body
    assert "¥1,800.00 from good customers (v1: ¥0.00)" in body
    assert "2 accounts of the snapshot that no later snapshot saw are left out" in body
    assert "Fairness by age band" in body
    # Under 30 accounts a cohort gets no ratio.
    assert "too few" in body

    # The draft's page links to its back-tests.
    version_page = client.get(reverse("policies:version", args=[draft.version])).content.decode()
    assert start in version_page


def test_an_auditor_reads_back_tests_but_starts_none(history, draft, client):
    with mock.patch("config.queue.send"):
        backtest = backtests.backtest_start(
            version=draft.version, snapshot_id=history.pk, months=3, actor=draft.author
        )
    client.force_login(make_user("frank-bt", roles.AUDITOR))
    start = reverse("history:backtest_start", args=[draft.version])
    page = client.get(start).content.decode()
    assert "Start the back-test" not in page
    assert client.post(start, {"snapshot": history.pk, "months": "3"}).status_code == 403
    detail = reverse("history:backtest", args=[draft.version, backtest.pk])
    assert client.get(detail).status_code == 200
    # A back-test is reached only through its own version.
    assert client.get(reverse("history:backtest", args=[1, backtest.pk])).status_code == 404
    assert Backtest.objects.count() == 1
    assert Policy.objects.get(version=draft.version).state == "draft"

"""Outcomes of a snapshot counted from the later ones, against a count by hand.

The book: accounts 1-20 on 2026-01-01, scored 500 + 20 * id (520 to 900), so bands
(v1) E = ids 1-4, D = 5-7, C = 8-9, B = 10-12, A = 13-20. The run cut 1-4 and 6 and
closed 5. Later snapshots on 2026-04-01 and 2026-07-01 (account 6 in neither,
account 20 missing from July):

  id:        1   2   3   7   9   10   (every other account 0 days past due)
  April:    95  35   0 100  40    0   account 5 closed
  July:      0   0  92   0   0  120   account 7 closed
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from django.urls import reverse
from scipy.stats import ks_2samp, mannwhitneyu  # type: ignore[import-untyped]

from accounts import roles
from history import performance, snapshots
from history.models import Snapshot
from history.tasks import derive_outcomes
from tests.base import make_user
from tests.history.books import book, fresh_partitions, take  # noqa: F401 (a fixture)
from tests.history.test_monitoring_page import row, text_of

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_partitions")]

JAN, APR, JUL = date(2026, 1, 1), date(2026, 4, 1), date(2026, 7, 1)
IDS = list(range(1, 21))
SCORES = [500 + 20 * i for i in IDS]
CUT = {1, 2, 3, 4, 6}
CLOSED = {5}


def later(ids: list[int], dpd: dict[int, int], closed: set[int]):
    return book(
        ids,
        score=700,
        dpd=[dpd.get(i, 0) for i in ids],
        closed=[i in closed for i in ids],
    )


@pytest.fixture
def history():
    take(
        JAN,
        book(
            IDS,
            score=SCORES,
            action=["reduce" if i in CUT else "close" if i in CLOSED else "keep" for i in IDS],
        ),
    )
    april_ids = [i for i in IDS if i != 6]
    take(APR, later(april_ids, {1: 95, 2: 35, 7: 100, 9: 40}, {5}))
    july_ids = [i for i in IDS if i not in (6, 20)]
    take(JUL, later(july_ids, {3: 92, 10: 120}, {7}))


def test_outcomes_of_each_horizon_are_the_hand_count(history):
    assert derive_outcomes() == 2  # January and April; July has nothing after it yet
    outcomes = Snapshot.objects.get(taken_on=JAN).outcomes

    three = outcomes["3"]
    assert three["matured"] is True and three["window_end"] == "2026-04-01"
    assert (three["accounts"], three["seen"]) == (20, 19)  # account 6 never seen again
    assert (three["bad30"], three["bad90"]) == (4, 2)  # {1, 2, 7, 9}, {1, 7}
    assert three["good_cut"] == 3  # 3 and 4 cut, 5 closed, none late by April
    assert three["cut_or_closed"] == 5  # 1-5 seen again (6 was not)
    assert three["bads_missed"] == 1  # 7: kept, then 100 days past due
    assert three["closures"] == 1  # 5
    assert three["ks"] is None  # three months: no separation measured

    six = outcomes["6"]
    assert six["matured"] is True and six["window_end"] == "2026-07-01"
    assert (six["seen"], six["bad30"], six["bad90"]) == (19, 6, 4)  # 90+: {1, 3, 7, 10}
    assert six["good_cut"] == 2  # 4 and 5 (3 went 92 days past due in July)
    assert six["bads_missed"] == 2  # 7 and 10
    assert six["closures"] == 2  # 5 and 7
    # Goods above bads: bads score 520, 560, 640, 700; of the 15 goods, 540 beats
    # 1 bad, 580 and 600 beat 2, 660 and 680 beat 3, the ten from 720 beat all 4:
    # 1 + 2 + 2 + 3 + 3 + 40 = 51 of 60 pairs.
    assert six["auc"] == pytest.approx(51 / 60)
    assert six["gini"] == pytest.approx(2 * 51 / 60 - 1)
    # The widest gap: by 700 every bad and 5 of 15 goods, 1 - 1/3.
    assert six["ks"] == pytest.approx(2 / 3)
    by_band = {row["band"]: row for row in six["bands"]}
    assert [row["band"] for row in six["bands"]] == ["A", "B", "C", "D", "E"]
    assert (by_band["A"]["accounts"], by_band["A"]["seen"], by_band["A"]["bad90"]) == (8, 8, 0)
    assert (by_band["B"]["accounts"], by_band["B"]["bad30"], by_band["B"]["bad90"]) == (3, 1, 1)
    assert (by_band["C"]["bad30"], by_band["C"]["bad90"]) == (1, 0)
    assert (by_band["D"]["accounts"], by_band["D"]["seen"], by_band["D"]["bad90"]) == (3, 2, 1)
    assert (by_band["E"]["seen"], by_band["E"]["bad30"], by_band["E"]["bad90"]) == (4, 3, 2)

    twelve = outcomes["12"]
    assert twelve["matured"] is False  # no snapshot near 2027-01-01 yet
    assert twelve["bad90"] == 4  # what the window shows so far

    april = Snapshot.objects.get(taken_on=APR).outcomes
    assert april["3"]["matured"] is True and april["6"]["matured"] is False
    assert april["3"]["bad90"] == 2  # 3 and 10 in July
    assert Snapshot.objects.get(taken_on=JUL).outcomes == {}


def test_separation_agrees_with_scipy(history):
    derive_outcomes()
    six = Snapshot.objects.get(taken_on=JAN).outcomes["6"]
    seen = [i for i in IDS if i != 6]
    bad = np.array([i in {1, 3, 7, 10} for i in seen])
    scores = np.array([500 + 20 * i for i in seen])
    u = mannwhitneyu(scores[~bad], scores[bad]).statistic
    assert six["auc"] == pytest.approx(u / (bad.sum() * (~bad).sum()))
    assert six["ks"] == pytest.approx(ks_2samp(scores[~bad], scores[bad]).statistic)


def test_the_windows_are_what_outcomes_after_says(history):
    take(date(2026, 8, 1), later(IDS, {2: 31, 20: 91}, {20}), state=Snapshot.State.DISCARDED)
    take(date(2026, 9, 1), later(IDS, {4: 200}, set()), state=Snapshot.State.WRITING)
    # As the service reads them: complete snapshots only. One still being written shows
    # nothing yet; a discarded run's statuses (here a closure) never happened.
    days = list(Snapshot.objects.filter(state="complete").values_list("taken_on", flat=True))
    ids = np.asarray([*IDS, 99], dtype=np.int64)  # 99: in no snapshot
    for months in (3, 6, 7, 8, 12):
        seen, worst, closed = performance.windows(ids, JAN, [months], days)[months]
        expected = snapshots.outcomes_after(JAN, months)
        assert ids[seen].tolist() == expected.account_id.tolist(), months
        assert worst[seen].tolist() == expected.worst_dpd.tolist(), months
        assert closed[seen].tolist() == expected.closed.tolist(), months


def test_the_outcome_columns_are_the_rows_as_written(history):
    full = snapshots.snapshot_load(JAN)
    packed = snapshots.snapshot_outcome_columns(JAN)
    for name in packed:
        assert packed[name].tolist() == getattr(full, name).tolist(), name
    assert all(len(v) == 0 for v in snapshots.snapshot_outcome_columns(date(2020, 1, 1)).values())


def test_derived_once_until_a_new_snapshot_comes(history):
    assert derive_outcomes() == 2
    assert derive_outcomes() == 0  # nothing new since
    # A snapshot five days before January's 12-month window ends matures it.
    take(date(2026, 12, 27), later(IDS, {}, set()))
    assert derive_outcomes() == 3  # January, April and July
    january = Snapshot.objects.get(taken_on=JAN).outcomes
    assert january["12"]["matured"] is True
    assert january["3"]["bad90"] == 2  # a matured horizon is kept as it was
    assert derive_outcomes() == 0  # open horizons wait for the next snapshot


def test_add_months_clamps_to_the_months_end():
    assert performance.add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert performance.add_months(date(2026, 11, 15), 3) == date(2027, 2, 15)
    assert performance.add_months(date(2024, 2, 29), 12) == date(2025, 2, 28)


def test_the_page_shows_the_performance_of_each_snapshot(client, history):
    derive_outcomes()
    client.force_login(make_user("ana", roles.RISK_ANALYST))
    page = client.get(reverse("history:monitoring"), {"horizon": "6"}).content.decode()
    html = page[page.index('id="performance-heading"') : page.index('id="fairness-heading"')]
    # January, six months: 19 of 20 seen; 6 and 4 of 19 bad; KS 2/3, Gini 0.7.
    assert row(html, "2026-01-01") == (
        "2026-01-01 2026-07-01 19 of 20 31.6 % 21.1 % 0.667 0.700 2 2 2"
    )
    assert row(html, "2026-04-01").startswith("2026-04-01 2026-10-01 not matured 18 of 19")
    # By band: the newest snapshot whose window matured, January.
    assert "Bad rate by band, snapshot of 2026-01-01" in text_of(html)
    assert row(html, "E") == "E 4 4 3 75.0 % 2 50.0 %"
    assert row(html, "A") == "A 8 8 0 0.0 % 0 0.0 %"

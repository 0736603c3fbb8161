"""The champion-challenger readout: the recommendation rule, the arms' figures
against hand counts, and the page, whose buttons act through the rollout's own
four-eyes rules."""

from __future__ import annotations

import re
from datetime import date

import numpy as np
import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

import scoring
from accounts import roles
from history import readout, snapshots
from history.models import Snapshot
from history.performance import add_months
from history.readout import HOLD, ROLL_BACK, WIDEN, Arm, recommend
from history.snapshots import SnapshotRows
from policies import services
from policies.models import Policy, Simulation
from scoring import metrics
from tests.base import make_user

LIMIT = 200_000  # cents
CUT, CLOSE = scoring.ACTION_CODES[scoring.REDUCE], scoring.ACTION_CODES[scoring.CLOSE]


def arm(
    version: int = 1,
    *,
    judged: int = 2000,
    dpd30: int = 100,
    goods: int = 1800,
    goods_cut: int = 50,
) -> Arm:
    return Arm(version, judged, judged, dpd30, dpd30 // 4, goods, goods_cut, 80, 10, 0, 0)


# --------------------------------------------------------------------------
# The rule


def test_a_clearly_higher_bad_rate_rolls_back():
    advice = recommend(arm(1), arm(2, dpd30=160), months=6)
    assert advice.action == ROLL_BACK
    assert "30+ days past due rate is higher by +3.00 points" in advice.reasons[0]


def test_more_good_customers_cut_rolls_back_even_with_fewer_bads():
    advice = recommend(arm(1), arm(2, dpd30=90, goods_cut=200), months=6)
    assert advice.action == ROLL_BACK
    assert "more good customers" in advice.reasons[0]


def test_a_lower_bad_rate_whose_interval_rules_out_a_worsening_widens():
    _low, high = metrics.difference_interval(60, 2000, 100, 2000)
    assert high < 0.005
    advice = recommend(arm(1), arm(2, dpd30=60), months=6)
    assert advice.action == WIDEN


def test_an_interval_that_cannot_tell_them_apart_holds():
    # The same rate: the interval's upper end (about +1.4 points) allows a worsening.
    advice = recommend(arm(1), arm(2, dpd30=100), months=6)
    assert advice.action == HOLD
    assert "wait for more outcomes" in advice.reasons[0]
    # Slightly fewer bads, still not enough to rule out half a point worse.
    champion = arm(1, judged=300, dpd30=15, goods=270, goods_cut=10)
    challenger = arm(2, judged=300, dpd30=14, goods=270, goods_cut=10)
    assert recommend(champion, challenger, months=6).action == HOLD


def test_too_few_months_or_accounts_hold_and_say_why():
    months = recommend(arm(1), arm(2, dpd30=400), months=2)
    assert months.action == HOLD and "Only 2 months of outcomes" in months.reasons[0]
    few = recommend(arm(1), arm(2, judged=99, dpd30=40), months=6)
    assert few.action == HOLD
    assert few.reasons == ["v2 has 99 accounts with outcomes; at least 100 are needed."]


def test_months_of_outcomes_count_whole_months_covered():
    first = date(2026, 1, 1)
    assert readout.months_of_outcomes(first, []) == 0
    assert readout.months_of_outcomes(first, [date(2026, 1, 20)]) == 0
    assert readout.months_of_outcomes(first, [date(2026, 2, 1), date(2026, 3, 28)]) == 3
    assert readout.months_of_outcomes(first, [date(2026, 7, 1)]) == 6


# --------------------------------------------------------------------------
# The arms, from the snapshots


def rows(
    ids: list[int], *, version: dict[int, int], action: dict[int, int], dpd: dict[int, int]
) -> SnapshotRows:
    n = len(ids)
    acts = np.asarray([action.get(i, 0) for i in ids])
    return SnapshotRows(
        account_id=np.asarray(ids),
        segment=np.zeros(n),
        status_before=np.zeros(n),
        limit_before=np.full(n, LIMIT),
        good_cycles=np.zeros(n),
        in_cooldown=np.zeros(n, dtype=bool),
        days_since_restoration=np.full(n, scoring.NEVER_RESTORED),
        days_past_due=np.asarray([dpd.get(i, 0) for i in ids]),
        score=np.full(n, 700),
        band=np.full(n, 1),
        policy_version=np.asarray([version.get(i, 1) for i in ids]),
        action=acts,
        limit_after=np.where(acts == CUT, 140_000, np.where(acts == CLOSE, 0, LIMIT)),
        status_after=np.where(acts == CLOSE, scoring.STATUS_CODES["closed"], 0),
        signals=np.zeros((n, len(scoring.INPUT_SIGNALS))),
    )


def taken(day: date, written: SnapshotRows, candidate: int | None) -> None:
    with transaction.atomic():
        snapshots.partition_ensure(day)
        Snapshot.objects.create(
            taken_on=day, policy_version=1, candidate_version=candidate, state="complete"
        )
        snapshots.snapshot_rows_write(day, written)


@pytest.fixture
def rollout(transactional_db):
    """v2 by dave, approved by erin for half the accounts, then three snapshots.

    Challenger (v2): accounts 1-10; it cut 1-3 and closed 4. Later 1 reached 95 days
    past due, 5 reached 35, 2 reached 10; 10 was never seen again.
    Champion (v1): accounts 11-20; it cut 11. Later 11 reached 100, 12 reached 120,
    13 reached 40; 20 was never seen again."""
    dave = make_user("dave-ro", roles.POLICY_ADMIN)
    erin = make_user("erin-ro", roles.POLICY_ADMIN)
    draft = services.policy_draft_create(author=dave)
    draft = services.policy_draft_update(
        version=draft.version,
        author=dave,
        rules={**draft.rules, "multi_lending_applications_30d": 5},
        rationale="Multi-lending doubled: trigger at five applications.",
    )
    Simulation.objects.create(
        policy=draft, base=Policy.objects.get(state="active"), rules=draft.rules,
        started_by=dave, state="done",
    )  # fmt: skip
    services.policy_submit(version=draft.version, author=dave)
    services.policy_approve(version=draft.version, approver=erin, comment="Half first.", share=50)
    first = timezone.now().date()
    challenger = dict.fromkeys(range(1, 11), draft.version)
    taken(
        first,
        rows(
            list(range(1, 21)),
            version=challenger,
            action={1: CUT, 2: CUT, 3: CUT, 4: CLOSE, 11: CUT},
            dpd={},
        ),
        draft.version,
    )
    later = [i for i in range(1, 21) if i not in (10, 20)]
    taken(
        add_months(first, 1),
        rows(later, version=challenger, action={}, dpd={1: 40, 2: 10, 11: 100, 13: 40}),
        draft.version,
    )
    taken(
        add_months(first, 3),
        rows(later, version=challenger, action={}, dpd={1: 95, 5: 35, 12: 120}),
        draft.version,
    )
    return draft, dave, erin


def test_the_arms_are_the_hand_counted_ones(rollout):
    candidate, _dave, _erin = rollout
    shown = readout.readout(Policy.objects.get(pk=candidate.pk))
    assert shown.first is not None and shown.months == 3 and len(shown.later) == 2
    assert shown.champion == Arm(1, 10, 9, 3, 2, 6, 0, 1, 0, 10 * LIMIT, 9 * LIMIT + 140_000)
    assert shown.challenger == Arm(
        candidate.version, 10, 9, 2, 1, 7, 3, 3, 1, 10 * LIMIT, 3 * 140_000 + 6 * LIMIT
    )
    dpd30 = shown.rows[0]
    assert (dpd30.champion.part, dpd30.champion.whole) == (3, 9)
    assert dpd30.challenger.interval == metrics.wilson(2, 9)
    assert dpd30.difference is not None
    assert dpd30.difference.value == pytest.approx(2 / 9 - 3 / 9)
    assert (dpd30.difference.low, dpd30.difference.high) == metrics.difference_interval(2, 9, 3, 9)
    goods = shown.rows[2]
    assert (goods.challenger.part, goods.challenger.whole, goods.champion.part) == (3, 7, 0)
    assert str(shown.challenger.exposure_change) == "-3800"
    assert shown.recommendation is not None and shown.recommendation.action == HOLD


def test_the_author_reads_the_recommendation_but_a_second_admin_widens(rollout, client):
    candidate, dave, erin = rollout
    url = reverse("history:readout")
    client.force_login(dave)
    body = re.sub(r"\s+", " ", client.get(url).content.decode())
    assert "Hold: keep the rollout as it is" in body
    assert "v1 has 9 accounts with outcomes; at least 100 are needed." in body
    assert f"A second policy admin, not the author of v{candidate.version}, acts on it" in body
    assert "fewer than 3 months of outcomes or fewer than 100 accounts" in body  # the rule
    assert f"You wrote v{candidate.version}: a second policy admin widens its rollout." in body
    assert 'name="share"' not in body  # no widen button for the author
    # Posted anyway, the rollout's own rule refuses it.
    refused = client.post(
        reverse("policies:rollout"), {"action": "widen", "share": "100"}, follow=True
    )
    assert "a second policy admin widens its rollout" in refused.content.decode()
    assert Policy.objects.get(pk=candidate.pk).rollout_share == 50

    client.force_login(erin)
    page = client.get(url).content.decode()
    assert 'id="readout-widen-share"' in page and reverse("policies:rollout") in page
    client.post(reverse("policies:rollout"), {"action": "widen", "share": "100"})
    assert Policy.objects.get(pk=candidate.pk).state == "active"
    assert "No version is in staged rollout" in client.get(url).content.decode()


def test_analysts_and_auditors_read_it_only(rollout, client):
    for role, name in ((roles.RISK_ANALYST, "alice-ro"), (roles.AUDITOR, "frank-ro")):
        client.force_login(make_user(name, role))
        body = client.get(reverse("history:readout")).content.decode()
        assert "Recommendation" in body and 'name="reason"' not in body

"""Every simulation reports cut and closure rates and the adverse impact ratio per
cohort (age band, segment) for the active version and the draft, flagged below 0.8."""

from __future__ import annotations

import re
from decimal import Decimal
from unittest import mock

import numpy as np
import pytest
from django.urls import reverse

import scoring
from accounts import roles
from accounts.models import Account
from policies import impact, selectors, services, simulations, tasks
from scoring import cohorts
from tests.base import make_account, make_signals, make_user

pytestmark = pytest.mark.django_db


def test_a_chunk_counts_cuts_and_closures_per_cohort():
    codes = scoring.ACTION_CODES
    action = np.asarray(
        [codes[scoring.REDUCE], codes[scoring.CLOSE], codes[scoring.KEEP], codes[scoring.REDUCE]]
    )
    result = mock.Mock(
        action=action,
        band=np.zeros(4, dtype=np.int64),
        new_limit=np.asarray([100, 0, 300, 100]),
        new_status=np.asarray([0, 2, 0, 0]),
        triggers=np.zeros(4, dtype=np.int64),
    )
    rules = scoring.parse_policy(scoring.DEFAULT_POLICY)
    summary = impact.chunk_summary(
        np.arange(1, 5),
        np.asarray([200, 200, 300, 200]),
        np.zeros(4, dtype=np.int64),
        result,
        rules,
        ages=np.asarray([19.0, 24.9, 25.0, 70.0]),
        segments=np.asarray([0, 1, 1, -1]),  # -1: no segment, left out
        segment_labels=("mass", "young"),
    )
    assert summary["cohorts"] == {
        "age": {
            "18-24": {"accounts": 2, "cut": 1, "closed": 1},
            "25-34": {"accounts": 1, "cut": 0, "closed": 0},
            "65+": {"accounts": 1, "cut": 1, "closed": 0},
        },
        "segment": {
            "mass": {"accounts": 1, "cut": 1, "closed": 0},
            "young": {"accounts": 2, "cut": 0, "closed": 1},
        },
    }
    merged = impact.merge_summaries([summary, summary])
    assert merged["cohorts"]["age"]["18-24"] == {"accounts": 4, "cut": 2, "closed": 2}


def test_the_ratio_is_against_the_most_favoured_cohort_and_flagged_below_four_fifths():
    rows = cohorts.fairness_rows(
        {
            "18-24": {"accounts": 40, "cut": 10, "closed": 2},  # favourable 28/40 = 0.70
            "25-34": {"accounts": 50, "cut": 5, "closed": 0},  # 45/50 = 0.90, the reference
            "35-44": {"accounts": 60, "cut": 15, "closed": 0},  # 45/60 = 0.75
            "65+": {"accounts": 10, "cut": 10, "closed": 0},  # too few to judge
        },
        cohorts.AGE_LABELS,
    )
    figures = {
        row.cohort: (round(row.ratio, 4) if row.ratio else None, row.flagged) for row in rows
    }
    assert figures == {
        "18-24": (round(0.70 / 0.90, 4), True),
        "25-34": (1.0, False),
        "35-44": (round(0.75 / 0.90, 4), False),
        "65+": (None, False),
    }
    assert rows[0].cut_rate == 0.25 and rows[0].closure_rate == 0.05


@pytest.fixture
def book():
    """30 young professionals aged 22 who applied at seven lenders this month, and
    30 mass-market customers aged 40 with healthy signals."""
    for _ in range(30):
        young = make_account(current_limit=Decimal("2000.00"), segment=Account.Segment.YOUNG)
        make_signals(young, age=22, lender_applications_30d=7, lender_applications_90d=9)
        older = make_account(current_limit=Decimal("2000.00"), segment=Account.Segment.MASS)
        make_signals(older, age=40)


def test_the_simulation_page_shows_each_cohort_under_both_versions(book, client):
    dave = make_user("dave-fair", roles.POLICY_ADMIN)
    draft = services.policy_draft_create(author=dave)
    services.policy_draft_update(
        version=draft.version,
        author=dave,
        rules={**draft.rules, "multi_lending_applications_30d": 5},
        rationale="Multi-lending doubled: trigger at five applications.",
    )
    with mock.patch("config.queue.send"):
        simulation = simulations.simulation_start(version=draft.version, actor=dave)
    for index in range(simulation.chunks_total):
        tasks.simulate_chunk(simulation.pk, index)
    simulation.refresh_from_db()
    assert simulation.state == "done"
    assert simulation.results["draft"]["cohorts"]["age"] == {
        "18-24": {"accounts": 30, "cut": 30, "closed": 0},
        "35-44": {"accounts": 30, "cut": 0, "closed": 0},
    }
    assert simulation.results["active"]["cohorts"]["segment"] == {
        "mass": {"accounts": 30, "cut": 0, "closed": 0},
        "young": {"accounts": 30, "cut": 0, "closed": 0},
    }
    view = selectors.simulation_view(simulation)
    age = next(table for table in view.fairness if table.kind == "age")
    young = age.rows[0]
    assert young.cohort == "18-24" and young.before is not None and young.after is not None
    assert young.before.ratio == 1.0 and not young.before.flagged
    assert young.after.ratio == 0.0 and young.after.flagged and young.after.cut_rate == 1.0

    client.force_login(dave)
    body = re.sub(
        r"\s+", " ", client.get(reverse("policies:version", args=[draft.version])).content.decode()
    )
    assert "Fairness by age band" in body and "Fairness by segment" in body
    row = re.search(r'<th scope="row">18-24</th>(.*?)</tr>', body)
    assert row is not None
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row[1])
    assert cells[0] == "30"
    assert cells[1:4] == ["0 %", "0 %", "1.00"]
    assert cells[4:6] == ["100 %", "0 %"]
    assert "0.00" in cells[6] and "below 0.8" in cells[6]

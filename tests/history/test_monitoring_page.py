"""The Monitoring page shows the stability, drift and fairness figures of a small
book worked by hand; the drift check raises its alerts once; the banner goes when
a policy admin acknowledges them.

The book: 60 accounts, ids 1-30 aged 30 (cohort 25-34), ids 31-60 aged 50 (45-54).

  snapshot     scores 620 / 720   utilization        cut (all OVERDUE_NOW)
  2026-01-01   30 / 30            0.1 for all        1-3, 31-33 (6)
  2026-02-01   the same as January
  2026-03-01   15 / 45            0.1; 0.95 for 31-60   1-3, 31-42 (15); 31-36 also MULTI_LENDING

Policy v1 was activated on 2026-01-15, so March is compared with January.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime
from html import unescape

import pytest
from django.urls import reverse

import scoring
from accounts import roles
from accounts.signal_spec import SIGNALS_BY_NAME
from history import selectors
from history.models import DriftAlert, Snapshot
from history.tasks import check_drift
from policies.models import Policy
from tests.base import make_user
from tests.history.books import book, fresh_partitions, take  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_partitions")]

JAN, FEB, MAR = date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)
IDS = list(range(1, 61))
AGES = [30 if i <= 30 else 50 for i in IDS]
OVERDUE, MULTI = scoring.TRIGGER_BITS["OVERDUE_NOW"], scoring.TRIGGER_BITS["MULTI_LENDING"]

# Score PSI: shares 0.5 / 0.5 then 0.25 / 0.75.
SCORE_PSI = 0.25 * math.log(2) + 0.25 * math.log(1.5)
# Utilization CSI: all below 0.3, then half below 0.3 and half at 0.9 or more (the
# baseline's empty bin counts as 0.0001).
UTILIZATION_CSI = (0.5 - 1.0) * math.log(0.5) + (0.5 - 0.0001) * math.log(0.5 / 0.0001)


def month(day: date, *, cut: set[int], multi: set[int], low_scores: int, high_use: set[int]):
    rows = book(
        IDS,
        score=[620 if (i % 2 if low_scores == 30 else i <= low_scores) else 720 for i in IDS],
        action=["reduce" if i in cut else "keep" for i in IDS],
        age=AGES,
        utilization=[0.95 if i in high_use else 0.1 for i in IDS],
    )
    triggers = [(OVERDUE | (MULTI if i in multi else 0)) if i in cut else 0 for i in IDS]
    return take(day, rows, triggers=triggers)


def build_monitored_book() -> None:
    """The three snapshots of the module's docstring."""
    Policy.objects.filter(version=1).update(activated_at=datetime(2026, 1, 15, tzinfo=UTC))
    before = {1, 2, 3, 31, 32, 33}
    month(JAN, cut=before, multi=set(), low_scores=30, high_use=set())
    month(FEB, cut=before, multi=set(), low_scores=30, high_use=set())
    month(
        MAR,
        cut={1, 2, 3, *range(31, 43)},
        multi=set(range(31, 37)),
        low_scores=15,
        high_use=set(range(31, 61)),
    )


@pytest.fixture
def monitored():
    build_monitored_book()


def text_of(html: str) -> str:
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def row(html: str, header: str) -> str:
    """The text of the first table row whose header cell says `header`."""
    for found in re.findall(r"<tr>(.*?)</tr>", html, flags=re.S):
        if re.search(rf'<th scope="row">\s*{re.escape(header)}\s*</th>', found):
            return text_of(found).strip()
    raise AssertionError(f"no row {header!r}")


def baseline_day(current: Snapshot) -> date | None:
    found = selectors.baseline_snapshot(current)
    return None if found is None else found.taken_on


def test_the_baseline_is_the_snapshot_the_version_was_approved_on(monitored):
    march = Snapshot.objects.get(taken_on=MAR)
    assert baseline_day(march) == JAN
    Policy.objects.filter(version=1).update(activated_at=datetime(2026, 2, 10, tzinfo=UTC))
    assert baseline_day(march) == FEB
    # Activated before any snapshot: the earliest.
    Policy.objects.filter(version=1).update(activated_at=datetime(2025, 6, 1, tzinfo=UTC))
    assert baseline_day(march) == JAN
    # An unsaved snapshot (a run that writes none) is compared the same way.
    assert baseline_day(Snapshot(taken_on=date(2026, 3, 15), policy_version=1)) == JAN
    assert selectors.baseline_snapshot(Snapshot.objects.get(taken_on=JAN)) is None


def test_the_page_shows_the_hand_computed_figures(client, monitored, django_assert_max_num_queries):
    client.force_login(make_user("ana", roles.RISK_ANALYST))
    with django_assert_max_num_queries(20):
        response = client.get(reverse("history:monitoring"))
    assert response.status_code == 200
    html = response.content.decode()
    page = text_of(html)
    assert "Current: the snapshot of 2026-03-01 (60 accounts" in page
    assert "Baseline: the snapshot of 2026-01-01" in page
    score = re.search(r'data-testid="score-psi">([^<]+)<', html)
    assert score is not None and score[1] == f"{SCORE_PSI:.4f}" == "0.2747"
    assert row(html, "600 to &lt; 650") == "600 to < 650 30 50.0 % 15 25.0 %"
    # Signals worst first: utilization on top with its CSI, the rest stable at 0.
    found = re.search(r'<table class="csi-table">.*?</table>', html, flags=re.S)
    assert found is not None
    csi = found[0]
    first = text_of(re.findall(r"<tr>(.*?)</tr>", csi, flags=re.S)[1]).split()
    label = str(SIGNALS_BY_NAME["utilization"].label)
    assert " ".join(first) == f"{label[0].upper()}{label[1:]} {UTILIZATION_CSI:.4f} act"
    assert row(csi, "Age in years").endswith("0.0000 stable")
    # Run over run: 6 then 15 of 60 cut.
    assert row(html, "2026-01-01") == "2026-01-01 60 10.0 % — 0.0 % —"
    assert row(html, "2026-02-01") == "2026-02-01 60 10.0 % ±0.0 pts 0.0 % ±0.0 pts"
    assert row(html, "2026-03-01") == "2026-03-01 60 25.0 % +15.0 pts 0.0 % ±0.0 pts"
    assert row(html, "Multi-lending") == "Multi-lending 0.0 % 40.0 % +40.0 pts"
    # Fairness: 45-54 kept 18 of 30 (60 %) against 25-34's 27 of 30 (90 %).
    assert row(html, "45-54") == "45-54 30 40.0 % 0.0 % 0.67 below 0.8"
    assert row(html, "25-34") == "25-34 30 10.0 % 0.0 % 1.00"
    assert row(html, "Mass market") == "Mass market 60 25.0 % 0.0 % 1.00"


def test_a_picked_snapshot_is_compared_with_its_own_baseline(client, monitored):
    client.force_login(make_user("ana", roles.RISK_ANALYST))
    html = client.get(reverse("history:monitoring"), {"current": "2026-02-01"}).content.decode()
    assert re.search(r'data-testid="score-psi">0.0000<', html)
    html = client.get(
        reverse("history:monitoring"), {"current": "2026-03-01", "baseline": "2026-02-01"}
    ).content.decode()
    assert "Baseline: the snapshot of 2026-02-01" in text_of(html)
    assert re.search(r'data-testid="score-psi">0.2747<', html)


def test_the_empty_page_says_what_writes_the_first_snapshot(client):
    client.force_login(make_user("ana", roles.RISK_ANALYST))
    page = text_of(client.get(reverse("history:monitoring")).content.decode())
    assert "No snapshot yet" in page
    assert "written by each monthly portfolio run" in page


def test_the_drift_check_raises_each_alert_once(monitored):
    assert check_drift() == 5
    assert check_drift() == 0
    alerts = {(a.kind, a.subject): a for a in DriftAlert.objects.all()}
    assert set(alerts) == {
        ("psi", "score"),
        ("csi", "utilization"),
        ("cut_rate", "cut rate"),
        ("reasons", "MULTI_LENDING"),
        ("fairness", "age: 45-54"),
    }
    assert float(alerts["psi", "score"].value) == pytest.approx(SCORE_PSI, abs=1e-4)
    assert float(alerts["cut_rate", "cut rate"].value) == pytest.approx(15.0)
    assert float(alerts["fairness", "age: 45-54"].value) == pytest.approx(0.6667, abs=1e-4)
    assert {a.snapshot.taken_on for a in alerts.values()} == {MAR}


def test_the_banner_shows_until_a_policy_admin_acknowledges(client, monitored):
    check_drift()
    analyst = make_user("ana", roles.RISK_ANALYST)
    admin = make_user("pam", roles.POLICY_ADMIN)
    handler = make_user("hal", roles.APPEAL_HANDLER)
    client.force_login(analyst)
    assert "5 drift alerts wait for acknowledgement." in text_of(
        client.get(reverse("policies:index")).content.decode()
    )
    alert = DriftAlert.objects.get(kind="psi")
    url = reverse("history:acknowledge_alert", args=[alert.pk])
    assert client.post(url).status_code == 403  # an analyst reads, a policy admin acknowledges
    client.force_login(handler)
    # No Monitoring, no banner.
    assert "drift alert" not in client.get(reverse("appeals:queue")).content.decode()
    client.force_login(admin)
    response = client.post(url, follow=True)
    assert "Alert acknowledged." in text_of(response.content.decode())
    alert.refresh_from_db()
    assert alert.acknowledged_by == admin and alert.acknowledged_at is not None
    assert "4 drift alerts wait" in text_of(client.get(reverse("policies:index")).content.decode())
    assert client.post(url, follow=True).status_code == 200  # a second time: said, not changed
    for other in DriftAlert.objects.filter(acknowledged_at__isnull=True):
        client.post(reverse("history:acknowledge_alert", args=[other.pk]))
    client.force_login(analyst)
    assert "drift alert" not in client.get(reverse("policies:index")).content.decode()
    page = text_of(client.get(reverse("history:monitoring")).content.decode())
    assert "pam, " in page


def test_the_checks_are_on_the_beat_schedule_under_their_registered_names():
    from celery import current_app
    from django.conf import settings

    import history.tasks  # noqa: F401 (registers the tasks)

    for entry, name in (
        ("check-drift", "history.tasks.check_drift"),
        ("derive-outcomes", "history.tasks.derive_outcomes"),
    ):
        assert settings.CELERY_BEAT_SCHEDULE[entry]["task"] == name
        assert name in current_app.tasks

"""A policy admin back-tests a draft on a past snapshot (the worker replays it) and
reads the comparison; then reads the champion-challenger readout of a rollout."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from accounts import roles
from history.models import Snapshot
from history.performance import add_months
from policies import services
from policies.models import Policy, Simulation
from tests.base import make_user
from tests.browser.conftest import new_page, screenshot, serious_violations
from tests.browser.test_golden_paths import log_in
from tests.history import test_backtest as hand_counted
from tests.history import test_readout as arms

# serialized_rollback, as the other browser tests: the flush after it must not create
# the content types again under new ids, which the next serialized test would clash with.
pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_a_draft_is_back_tested_and_a_rollout_read_out(live_server, browser, worker_factory):
    worker_factory()
    first = hand_counted.hand_counted_history()  # the 20 accounts counted by hand
    dave = make_user("dave-bt", roles.POLICY_ADMIN)
    erin = make_user("erin-bt", roles.POLICY_ADMIN)
    draft = services.policy_draft_create(author=dave)
    draft = services.policy_draft_update(
        version=draft.version,
        author=dave,
        rules={**draft.rules, "multi_lending_applications_30d": 5},
        rationale="Multi-lending doubled: trigger at five applications.",
    )

    page = new_page(browser)
    page.set_viewport_size({"width": 1366, "height": 900})
    log_in(page, live_server.url, "dave-bt")
    page.goto(f"{live_server.url}/policy/v{draft.version}/")
    page.get_by_role("region", name="Back-test on a past snapshot").get_by_role(
        "link", name="Back-test this version"
    ).click()
    start = page.get_by_role("region", name="Back-test on a past snapshot")
    expect(start.get_by_label("Snapshot (date taken, outcome windows matured)")).to_have_value(
        str(first.pk)
    )
    start.get_by_label("Outcome window", exact=True).select_option("3")
    assert serious_violations(page) == []
    start.get_by_role("button", name="Start the back-test").click()
    expect(page.get_by_text("Back-test started: the worker replays both versions.")).to_be_visible()

    results = page.get_by_role("region", name="Results of the back-test")
    table = results.get_by_role("table", name="Both versions side by side on the snapshot")
    expect(table).to_be_visible(timeout=60_000)  # the panel follows the worker
    expect(results).to_contain_text(
        f"Of the 7 accounts v{draft.version} would cut or close, 3 stayed below 30 days past "
        "due for 3 months: good customers cut."
    )
    expect(
        table.get_by_role("row", name=re.compile("Good customers cut or closed"))
    ).to_contain_text("+3")
    expect(results.get_by_role("table", name=re.compile("Fairness by age band"))).to_contain_text(
        "18-24"
    )
    assert serious_violations(page) == []
    screenshot(page, "policy-backtest")

    # The draft goes into a staged rollout, and a snapshot is taken since.
    Simulation.objects.create(
        policy=draft,
        base=Policy.objects.get(state="active"),
        rules=draft.rules,
        started_by=dave,
        state="done",
    )
    services.policy_submit(version=draft.version, author=dave)
    services.policy_approve(version=draft.version, approver=erin, comment="Half first.", share=50)
    today = timezone.now().date()
    challenger = dict.fromkeys(range(1, 11), draft.version)
    arms.taken(
        today,
        arms.rows(list(range(1, 21)), version=challenger, action={1: arms.CUT}, dpd={}),
        draft.version,
    )
    arms.taken(
        add_months(today, 1),
        arms.rows(list(range(1, 21)), version=challenger, action={}, dpd={1: 40}),
        draft.version,
    )
    assert Snapshot.objects.count() == 5

    page.goto(f"{live_server.url}/policy/")
    page.get_by_role("link", name="Champion-challenger readout").first.click()
    expect(page.get_by_role("heading", name="Champion-challenger readout")).to_be_visible()
    recommendation = page.get_by_role("region", name="Recommendation")
    expect(recommendation).to_contain_text("Hold: keep the rollout as it is")
    expect(recommendation).to_contain_text("Only 1 month of outcomes so far")
    expect(recommendation).to_contain_text(
        f"You wrote v{draft.version}: a second policy admin widens its rollout."
    )
    expect(
        page.get_by_role("table", name=re.compile("Rates of each arm with their 95 % intervals"))
    ).to_contain_text("30+ days past due since")
    assert serious_violations(page) == []
    screenshot(page, "policy-readout")
    page.set_viewport_size({"width": 390, "height": 844})
    assert int(page.evaluate("document.documentElement.scrollWidth")) <= 390
    assert page.console_errors == []  # type: ignore[attr-defined]

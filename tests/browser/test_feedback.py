"""Appeals as feedback and decrease protection in the browser, on the demo book: a
policy admin reads the overturn rates on the policy list and a version's page (loaded
by HTMX from the appeals app), an analyst the overview's card and the protection on
an account an appeal restored. axe finds nothing serious; no sideways scroll at 390 px."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from demo.services import DEMO_PASSWORD
from policies.models import Policy
from tests.browser.conftest import new_page, screenshot, serious_violations
from tests.browser.test_golden_paths import log_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_overturn_rates_and_a_protected_account(live_server, browser):
    call_command("seed_demo", "--accounts", "30", verbosity=0)
    # The demo's story appeals: LD-PARTIAL's ceiling cut partly restored (overturned),
    # LD-UPHELD's multi-lending cut upheld; both contest decisions of v1.
    active = Policy.objects.get(state="active")
    active.rules = {**active.rules, "decrease_protection_days": 90}
    active.save()

    admin = new_page(browser)
    admin.set_viewport_size({"width": 1366, "height": 900})
    log_in(admin, live_server.url, "dave", DEMO_PASSWORD)
    admin.goto(f"{live_server.url}/policy/")
    by_version = admin.get_by_role("table", name="Decided appeals by the policy version")
    expect(by_version).to_contain_text("v1")
    expect(by_version.get_by_role("row").nth(1)).to_contain_text("2")
    expect(by_version).to_contain_text("50 %")
    assert serious_violations(admin) == []

    admin.goto(f"{live_server.url}/policy/v{active.version}/")
    expect(admin.get_by_text("Appeals overturned 1 of the 2 decided appeals")).to_be_visible()
    by_reason = admin.get_by_role("table", name="by the decision's principal reason")
    expect(by_reason).to_contain_text("Band ceiling")
    expect(by_reason).to_contain_text("Multi-lending")
    assert serious_violations(admin) == []
    admin.set_viewport_size({"width": 390, "height": 844})
    assert int(admin.evaluate("document.documentElement.scrollWidth")) <= 390
    screenshot(admin, "policy-overturns-390")

    analyst = new_page(browser)
    analyst.set_viewport_size({"width": 1366, "height": 900})
    log_in(analyst, live_server.url, "alice", DEMO_PASSWORD)
    analyst.goto(f"{live_server.url}/")
    card = analyst.get_by_role("region", name="Appeals overturned, last 90 days")
    expect(card).to_contain_text("1 of 2 decided appeals overturned")
    expect(card).to_contain_text("Band ceiling")
    assert serious_violations(analyst) == []

    analyst.goto(f"{live_server.url}/accounts/LD-PARTIAL/")
    expect(analyst.get_by_text("Protected from score-based cuts until")).to_be_visible()
    expect(analyst.get_by_text("Overdue and other hard triggers still apply.")).to_be_visible()
    assert serious_violations(analyst) == []
    screenshot(analyst, "account-protected-1366")

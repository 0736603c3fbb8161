"""The notice register on the pages, on the demo book (docs/architecture.md, "Notices:
the register"): an analyst reads on the account page that Case A's notice is a dead
letter, and on the decision page of LD-PARTIAL's cut that its notice went out late,
with the hash of what was delivered. axe finds nothing serious; no sideways scroll at
390 px."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from decisions.models import Notice
from demo.services import DEMO_PASSWORD
from tests.browser.conftest import new_page, screenshot, serious_violations
from tests.browser.test_golden_paths import log_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_an_analyst_reads_each_notices_state(live_server, browser):
    call_command("seed_demo", "--accounts", "30", verbosity=0)
    late = Notice.objects.get(account__reference="LD-PARTIAL", decision__source="run")

    analyst = new_page(browser)
    analyst.set_viewport_size({"width": 1366, "height": 900})
    log_in(analyst, live_server.url, "alice", DEMO_PASSWORD)
    analyst.goto(f"{live_server.url}/accounts/LD-CASE-A/")
    why = analyst.get_by_role("region", name="Why did the limit change?")
    expect(why).to_contain_text("Customer notice")
    expect(why).to_contain_text("failed (dead letter)")
    expect(why).to_contain_text("Delivery attempts")
    assert serious_violations(analyst) == []

    analyst.goto(f"{live_server.url}/decisions/{late.decision_id}/")
    notice = analyst.get_by_role("region", name="Notice to the customer")
    expect(notice).to_contain_text("delivered")
    expect(notice).to_contain_text("late")
    expect(notice).to_contain_text(late.due_by.strftime("%Y-%m-%d"))
    expect(notice).to_contain_text(late.content_sha256)
    assert serious_violations(analyst) == []
    analyst.set_viewport_size({"width": 390, "height": 844})
    assert int(analyst.evaluate("document.documentElement.scrollWidth")) <= 390
    screenshot(analyst, "decision-notice-390")

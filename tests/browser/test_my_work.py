"""My work in the browser: the navigation's count updating by itself (HTMX polling),
the groups with their ages and reasons, a row's link, at a phone's and a laptop's size,
with axe."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import ViewportSize, expect

from accounts import roles
from tests.base import make_user
from tests.browser.conftest import new_page, screenshot, serious_violations
from tests.browser.test_golden_paths import log_in
from tests.desk import factories

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

PHONE = ViewportSize(width=390, height=844)
LAPTOP = ViewportSize(width=1366, height=900)


def test_a_lead_sees_the_count_grow_by_itself_and_opens_an_item(live_server, browser, settings):
    settings.MY_WORK_POLL_SECONDS = 1  # the navigation asks again every second
    people = {
        name: make_user(name, role)
        for name, role in {
            "alice": roles.RISK_ANALYST,
            "bob": roles.APPEAL_HANDLER,
            "carol": roles.APPEAL_LEAD,
        }.items()
    }
    appeal = factories.proposed_outcome(people["bob"])
    factories.open_appeal(people["carol"])

    for size, name in ((LAPTOP, "laptop"), (PHONE, "phone")):
        lead = new_page(browser)
        lead.set_viewport_size(size)
        log_in(lead, live_server.url, "carol")
        nav = lead.get_by_role("navigation", name="Main")
        my_link = nav.get_by_role("link", name=re.compile(r"^My work"))
        expect(my_link).to_contain_text(re.compile(r"\(\d+ items? waits? for you\)"))
        my_link.click()
        expect(lead.get_by_role("heading", name="My work", exact=True)).to_be_visible()
        expect(my_link).to_have_attribute("aria-current", "page")
        approvals = lead.get_by_role("region", name=re.compile("Waiting for your approval"))
        expect(approvals).to_contain_text(f"Appeal #{appeal.pk} ")
        expect(approvals).to_contain_text("proposed by bob")
        expect(approvals.locator("time").first).to_have_text(re.compile(r"^waiting \d+ (min|h|d)$"))
        expect(
            lead.get_by_role("region", name=re.compile("Appeals assigned to you"))
        ).to_contain_text("due")
        assert serious_violations(lead) == []
        screenshot(lead, f"my-work-lead-{name}")
        if name == "laptop":
            expect(my_link).to_contain_text("(2 items wait for you)")
            # alice proposes a large override meanwhile: the count grows without a reload.
            factories.pending_override(people["alice"], reference="LD-MW-POLL")
            expect(my_link).to_contain_text("(3 items wait for you)", timeout=10_000)
            expect(my_link.locator(".nav-count-figure")).to_have_text("3")
            screenshot(lead, "my-work-count-updated")
            # A row's link leads to where the work is done.
            approvals.get_by_role("link", name=re.compile(f"Appeal #{appeal.pk} ")).click()
            expect(
                lead.get_by_role("region", name="Waiting for a lead's approval")
            ).to_contain_text("bob proposes")
            assert serious_violations(lead) == []
        assert lead.console_errors == []  # type: ignore[attr-defined]
        lead.context.close()


def test_an_analyst_reads_why_her_override_was_rejected(live_server, browser):
    alice = make_user("alice", roles.RISK_ANALYST)
    make_user("carol", roles.APPEAL_LEAD)
    greg = make_user("greg", roles.RISK_ANALYST)
    factories.pending_override(alice, reference="LD-MW-REJ")
    factories.held_run(greg)

    # carol rejects it on the account page; a reason is required.
    lead = new_page(browser)
    lead.set_viewport_size(LAPTOP)
    log_in(lead, live_server.url, "carol")
    lead.goto(f"{live_server.url}/accounts/LD-MW-REJ/")
    pending = lead.get_by_role("region", name="Pending approval")
    pending.get_by_role("button", name="Reject").click()
    expect(lead.get_by_text("Write why the override is rejected")).to_be_visible()
    pending = lead.get_by_role("region", name="Pending approval")
    pending.get_by_label(re.compile("Reason, if you reject")).fill(
        "The asset proof is older than three months."
    )
    assert serious_violations(lead) == []
    screenshot(lead, "my-work-override-reject-reason")
    pending.get_by_role("button", name="Reject").click()
    expect(lead.get_by_text("Override rejected.")).to_be_visible()
    assert lead.console_errors == []  # type: ignore[attr-defined]

    for size, name in ((PHONE, "phone"), (LAPTOP, "laptop")):
        page = new_page(browser)
        page.set_viewport_size(size)
        log_in(page, live_server.url, "alice")
        page.get_by_role("navigation", name="Main").get_by_role(
            "link", name=re.compile(r"^My work")
        ).click()
        sent_back = page.get_by_role("region", name=re.compile("Sent back to you"))
        expect(sent_back).to_contain_text("Your override of LD-MW-REJ to ¥90,000.00 was rejected")
        expect(sent_back).to_contain_text(
            "Reason from carol: The asset proof is older than three months."
        )
        approvals = page.get_by_role("region", name=re.compile("Waiting for your approval"))
        expect(approvals).to_contain_text("held by the circuit breaker, started by greg")
        assert serious_violations(page) == []
        screenshot(page, f"my-work-analyst-{name}")
        if name == "laptop":
            sent_back.get_by_role("link", name=re.compile("Your override of LD-MW-REJ")).click()
            notice = page.get_by_role("region", name="Your override was rejected")
            expect(notice).to_contain_text("The asset proof is older than three months.")
            assert serious_violations(page) == []
        assert page.console_errors == []  # type: ignore[attr-defined]
        page.context.close()

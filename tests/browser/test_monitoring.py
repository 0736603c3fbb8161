"""The Monitoring page in a browser: a policy admin follows the drift banner to the
page, reads the stability figures beside their charts, acknowledges an alert; the
page fits a phone without sideways scroll."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect

from accounts import roles
from history.tasks import check_drift
from tests.base import PASSWORD, make_user
from tests.browser.conftest import chart_drawn, new_page, screenshot, serious_violations
from tests.history.books import fresh_partitions  # noqa: F401 (a fixture)
from tests.history.test_monitoring_page import build_monitored_book

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.usefixtures("fresh_partitions"),
]

LAPTOP = ViewportSize(width=1366, height=900)
PHONE = ViewportSize(width=390, height=844)


def logged_in(browser: Browser, base_url: str, username: str, viewport: ViewportSize) -> Page:
    page = new_page(browser)
    page.set_viewport_size(viewport)
    page.goto(f"{base_url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    return page


def test_a_policy_admin_follows_the_drift_banner_and_acknowledges(live_server, browser):
    build_monitored_book()
    assert check_drift() == 5
    make_user("pam", roles.POLICY_ADMIN)

    pam = logged_in(browser, live_server.url, "pam", LAPTOP)
    pam.goto(f"{live_server.url}/policy/")
    banner = pam.get_by_role("status").filter(has_text="drift alerts wait")
    expect(banner).to_contain_text("5 drift alerts wait for acknowledgement.")
    banner.get_by_role("link", name="See them on the Monitoring page").click()
    expect(pam.get_by_role("heading", name="Monitoring", level=1)).to_be_visible()
    expect(
        pam.get_by_role("navigation", name="Main").get_by_role("link", name="Monitoring")
    ).to_have_attribute("aria-current", "page")

    stability = pam.get_by_role("region", name="Score stability (PSI)")
    expect(stability).to_contain_text("0.2747")
    expect(stability.get_by_role("table", name="Accounts per score bin")).to_be_visible()
    pam.wait_for_function(
        "() => document.querySelector(\"canvas[data-chart='score-data']\")?.dataset.drawn === '1'"
    )
    assert chart_drawn(pam, "score-data")
    assert chart_drawn(pam, "drift-data")
    fairness = pam.get_by_role("region", name="Fairness by cohort")
    expect(fairness.get_by_role("row", name="45-54")).to_contain_text("0.67 below 0.8")
    assert serious_violations(pam) == []
    screenshot(pam, "monitoring")

    alerts = pam.get_by_role("region", name="Drift alerts")
    alerts.get_by_role("row", name="Score population shift (PSI)").get_by_role(
        "button", name="Acknowledge"
    ).click()
    expect(pam.get_by_text("Alert acknowledged.")).to_be_visible()
    expect(pam.get_by_role("status").filter(has_text="drift alerts wait")).to_contain_text(
        "4 drift alerts wait for acknowledgement."
    )
    pam.context.close()

    phone = logged_in(browser, live_server.url, "pam", PHONE)
    phone.goto(f"{live_server.url}/monitoring/")
    expect(phone.get_by_role("heading", name="Monitoring", level=1)).to_be_visible()
    assert int(phone.evaluate("document.documentElement.scrollWidth")) <= PHONE["width"]
    assert serious_violations(phone) == []
    screenshot(phone, "monitoring-phone")
    phone.context.close()

"""The customer notices in a browser: an analyst reads the timeliness page (chart and
table), follows it to the dead letters, sends the unreachable customer's notice again,
and sees it delivered to the receiver; both pages axe-clean."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts import roles
from decisions.models import Notice
from notices import services
from notices.models import NoticeRetry
from tests.base import PASSWORD, make_user
from tests.browser.conftest import chart_drawn, screenshot, serious_violations
from tests.browser.test_layout import PHONE, page_width, spilling
from tests.notices.factories import pending_notice
from tests.notices.receivers import receiver  # noqa: F401 (a fixture)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def log_in(page: Page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()


def test_an_analyst_reads_the_timeliness_and_retries_a_dead_letter(
    live_server,
    page,
    receiver,  # noqa: F811 (the fixture imported above)
):
    now = timezone.now()
    pending_notice(state="delivered", delivered_at=now, content_sha256="0" * 64)
    pending_notice(state="pending", due_by=now + timedelta(days=29))
    dead = pending_notice(
        reference="LD-UNREACHABLE",
        state="dead",
        attempts=1,
        last_error="HTTP 422: no deliverable contact",
    )
    make_user("alan", roles.RISK_ANALYST)

    log_in(page, live_server.url, "alan")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Notices").click()
    expect(page.get_by_role("heading", name="Notice timeliness", level=1)).to_be_visible()
    days = page.get_by_test_id("timeliness-days")
    today = now.date().isoformat()
    row = days.get_by_role("row").filter(has_text=today)
    expect(row).to_contain_text("1")
    expect(days.locator("tfoot")).to_contain_text("3")
    page.wait_for_function(
        "() => document.querySelector(\"canvas[data-chart='timeliness-data']\")"
        "?.dataset.drawn === '1'"
    )
    assert chart_drawn(page, "timeliness-data")
    assert serious_violations(page) == []
    screenshot(page, "notices-timeliness")

    page.get_by_role("link", name="1 failed notice waits in the dead letters.").click()
    expect(page.get_by_role("heading", name="Dead letters", level=1)).to_be_visible()
    table = page.get_by_test_id("dead-letters")
    expect(table).to_contain_text("LD-UNREACHABLE")
    expect(table).to_contain_text("HTTP 422: no deliverable contact")
    assert serious_violations(page) == []
    screenshot(page, "notices-dead-letters")

    table.get_by_role("button", name="Retry LD-UNREACHABLE").click()
    expect(table.get_by_role("status")).to_have_text("Queued to be sent again.")
    dead.refresh_from_db()
    assert dead.state == Notice.State.PENDING
    assert NoticeRetry.objects.get(notice=dead).actor.username == "alan"

    # The receiver answers 422 for this account again: a dead letter once more.
    assert services.deliver_due().dead == 1
    page.reload()
    expect(page.get_by_test_id("dead-letters")).to_contain_text("alan")
    expect(page.get_by_role("button", name="Retry LD-UNREACHABLE")).to_be_visible()

    # Both pages fit a phone: the tables scroll inside their cards.
    page.set_viewport_size(PHONE)
    for path in ("/notices/", "/notices/dead-letters/"):
        page.goto(f"{live_server.url}{path}")
        assert page_width(page) <= PHONE["width"], f"{path}: {spilling(page)}"
        assert serious_violations(page) == [], path

"""An auditor finds the retention periods in force and what the last prune removed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from accounts import roles
from api.models import ApiCall
from retention import services
from tests.base import make_user
from tests.browser.conftest import screenshot, serious_violations
from tests.browser.test_golden_paths import log_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_the_auditor_reads_the_periods_and_the_retention_log(live_server, page):
    make_user("frank", roles.AUDITOR)
    for days in (500, 450, 10):
        ApiCall.objects.create(
            method="POST", path="/api/v1/signals/events", status=200, milliseconds=4,
            at=timezone.now() - timedelta(days=days),
        )  # fmt: skip
    services.retention_prune()

    log_in(page, live_server.url, "frank")
    page.goto(f"{live_server.url}/audit/")
    page.get_by_role("link", name="How long records are kept, and what retention removed").click()
    expect(page.get_by_role("heading", name="Retention", level=1)).to_be_visible()
    periods = page.get_by_role("table", name="How long each kind of record is kept")
    calls = periods.get_by_role("row", name="API call log")
    expect(calls).to_contain_text("400")
    expect(calls).to_contain_text("183")
    expect(calls).to_contain_text("EU AI Act Art. 12 and 26(6)")
    expect(calls).to_contain_text("2 records removed")
    expect(periods.get_by_role("row", name="customer notices")).to_contain_text("762")
    log = page.get_by_role("table", name="The latest prunes, newest first")
    expect(log.get_by_role("row")).to_have_count(6)  # the header and five categories
    expect(log).to_contain_text("command")
    assert serious_violations(page) == []
    screenshot(page, "retention")

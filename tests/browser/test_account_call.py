"""An appeal handler on a call, on a phone (390x844) and a laptop (1366x900): opens the
account, reads the score's rank in its band and the score and limit over time, logs
the call, and records the caller's appeal from the quick actions; axe clean, no console
errors (docs/architecture.md, "The account page on a call")."""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command
from playwright.sync_api import Browser, ViewportSize, expect

from accounts.models import Account, ContactLogEntry
from appeals.models import Appeal
from decisions.models import LimitDecision
from demo.services import DEMO_PASSWORD
from tests.browser.conftest import chart_drawn, new_page, screenshot, serious_violations
from tests.browser.test_golden_paths import log_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

VIEWPORTS = {
    "390": ViewportSize(width=390, height=844),
    "1366": ViewportSize(width=1366, height=900),
}
REFERENCE = "LD-CASE-B"


def expected_rank_text(account: Account) -> str:
    """The rank line, from a hand count of the book."""
    others = list(
        Account.objects.filter(band=account.band, score__isnull=False)
        .exclude(pk=account.pk)
        .values_list("score", flat=True)
    )
    assert account.score is not None
    if not others:
        return f"Score {account.score} — the only scored account in band {account.band}."
    lower = sum(1 for score in others if score is not None and score < account.score)
    percent = lower * 100 // len(others)
    return (
        f"Score {account.score} — higher than {percent} % of the other accounts in band "
        f"{account.band}."
    )


@pytest.mark.parametrize("size", VIEWPORTS)
def test_a_handler_on_a_call_logs_it_and_records_the_appeal(live_server, browser: Browser, size):
    call_command("seed_demo", "--accounts", "40", verbosity=0)
    account = Account.objects.get(reference=REFERENCE)
    newest = LimitDecision.objects.filter(account=account).order_by("-sequence").first()
    assert newest is not None
    page = new_page(browser)
    page.set_viewport_size(VIEWPORTS[size])
    log_in(page, live_server.url, "bob", DEMO_PASSWORD)
    page.goto(f"{live_server.url}/accounts/{REFERENCE}/")

    # The score against its band, as a hand count of the book says.
    expect(page.locator("#band-rank")).to_contain_text(expected_rank_text(account))
    # The score and limit over time, drawn.
    trend = page.get_by_role("region", name="Score and limit over time")
    expect(trend.locator("canvas[data-chart='history-data']")).to_have_attribute("data-drawn", "1")
    assert chart_drawn(page, "history-data")
    assert serious_violations(page) == []
    screenshot(page, f"account-call-page-{size}")

    # The call, logged from the quick actions without leaving the page.
    actions = page.get_by_role("region", name="Quick actions")
    actions.get_by_text("Log a call, message or letter").click()
    actions.get_by_label("Channel").select_option("call")
    actions.get_by_label("Direction").select_option("in")
    actions.get_by_label("What was said").fill("Customer called: repaid in full, asks to reopen.")
    actions.get_by_role("button", name="Log the contact").click()
    expect(actions.get_by_role("status")).to_have_text("Contact logged.")
    contacts = page.get_by_role("region", name="Contacts with the customer")
    expect(contacts).to_contain_text("Customer called: repaid in full, asks to reopen.")
    expect(contacts).to_contain_text("Call, from the customer · bob")
    entry = ContactLogEntry.objects.get(account=account)
    assert (entry.channel, entry.direction, entry.author.username) == ("call", "in", "bob")
    assert serious_violations(page) == []
    screenshot(page, f"account-call-contact-{size}")

    # The caller's appeal, from the quick actions, contesting the decision shown.
    actions.get_by_text("Record an appeal for a caller").click()
    expect(actions).to_contain_text(f"Contests decision #{newest.sequence}, the latest.")
    actions.get_by_label("The customer asks").select_option("closure")
    actions.get_by_label("What the customer says").fill(
        "I repaid everything last month; please reopen my line."
    )
    assert serious_violations(page) == []
    screenshot(page, f"account-call-appeal-form-{size}")
    actions.get_by_role("button", name="Record the appeal").click()
    expect(page.get_by_text(re.compile(r"Appeal #\d+ recorded"))).to_be_visible()
    appeal = Appeal.objects.get(account=account)
    assert appeal.decision == newest and appeal.category == "closure"
    screenshot(page, f"account-call-appeal-recorded-{size}")
    assert page.console_errors == []  # type: ignore[attr-defined]
    page.context.close()

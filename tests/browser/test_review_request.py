"""Human review on request in the browser (docs/architecture.md, "Human review on
request"): a handler records, from the account page, a caller's request for an
explanation and a human review of case A's automated cut; a lead answers it, and the
appeal page says who reviewed it."""

import re

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from demo.services import DEMO_PASSWORD
from tests.browser.conftest import new_page, screenshot, serious_violations
from tests.browser.test_golden_paths import log_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

VIEW = "I only compared rates at other lenders; I never borrowed from them."


def test_a_handler_records_a_review_request_and_a_lead_answers_it(live_server, browser):
    call_command("seed_demo", "--accounts", "30", verbosity=0)
    handler = new_page(browser)
    log_in(handler, live_server.url, "bob", DEMO_PASSWORD)
    handler.goto(f"{live_server.url}/accounts/LD-CASE-A/")
    actions = handler.get_by_role("region", name="Quick actions")
    actions.get_by_text("Customer asks for an explanation / a human review").click()
    form = handler.locator("#review-request")
    expect(form).to_contain_text("About automated decision #")
    assert serious_violations(handler) == []

    # Without the customer's view nothing is recorded: the page says what is missing.
    form.get_by_label("an explanation and a human review").check()
    form.get_by_label("The customer's view of the decision").fill("no")
    form.get_by_role("button", name="Record the request").click()
    expect(handler.get_by_text(re.compile("the customer's view of the decision"))).to_be_visible()
    expect(handler).to_have_url(re.compile(r"/accounts/LD-CASE-A/"))

    handler.get_by_role("region", name="Quick actions").get_by_text(
        "Customer asks for an explanation / a human review"
    ).click()
    form = handler.locator("#review-request")
    form.get_by_label("an explanation and a human review").check()
    form.get_by_label("The customer's view of the decision").fill(VIEW)
    form.get_by_role("button", name="Record the request").click()
    expect(
        handler.get_by_text(re.compile(r"Review request #\d+ recorded; due \d{4}-\d\d-\d\d"))
    ).to_be_visible()
    request = handler.get_by_role("region", name="Request for an explanation or a human review")
    expect(request).to_contain_text("an explanation and a human review")
    expect(request).to_contain_text(VIEW)
    expect(request).to_contain_text("not reviewed yet")
    # The explanation: the reasons the decision states to the customer.
    expect(request.locator("#review-reasons li").first).to_be_visible()
    assert serious_violations(handler) == []
    screenshot(handler, "review-request")
    appeal_url = handler.url

    # The queue lists it under its own category.
    handler.goto(f"{live_server.url}/appeals/?view=all&category=review")
    expect(handler.get_by_role("table")).to_contain_text("explanation or human review")

    lead = new_page(browser)
    log_in(lead, live_server.url, "carol", DEMO_PASSWORD)
    lead.goto(appeal_url)
    decide = lead.get_by_role("region", name="Decide")
    decide.get_by_label("upheld: the decision stands").check()
    decide.get_by_label("Reason for the outcome").fill(
        "Reviewed in person: the applications at other lenders were real; the cut stands."
    )
    decide.get_by_role("button", name="Preview the customer response").click()
    lead.get_by_role("button", name="Confirm the decision").click()
    expect(lead.get_by_text("Decided; the outcome is on the account's history.")).to_be_visible()
    reviewer = lead.locator("#reviewer")
    expect(reviewer).to_contain_text(re.compile(r"carol on \d{4}-\d\d-\d\d \d\d:\d\d: upheld"))
    expect(reviewer).to_contain_text("the cut stands")
    assert serious_violations(lead) == []
    screenshot(lead, "review-request-answered")

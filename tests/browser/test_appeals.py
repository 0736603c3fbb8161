import re
from decimal import Decimal

import pytest
from django.core.management import call_command
from playwright.sync_api import FilePayload, expect

from demo.services import DEMO_PASSWORD
from tests.browser.conftest import (
    SALARY_SCAN,
    expect_latest_decision,
    lead_approves,
    new_page,
    propose_partial_restoration,
    record_and_claim_an_appeal,
    screenshot,
    serious_violations,
    upload_evidence,
)
from tests.browser.test_golden_paths import log_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_a_hotline_appeal_is_claimed_decided_and_approved(live_server, browser, settings, tmp_path):
    settings.APPEAL_APPROVAL_ABOVE = Decimal("4000")  # so that case A's restoration needs a lead
    settings.EVIDENCE_ROOT = tmp_path / "evidence"
    call_command("seed_demo", "--accounts", "30", verbosity=0)
    handler = new_page(browser)
    log_in(handler, live_server.url, "bob", DEMO_PASSWORD)

    # A caller about case A's cut: recorded from the account page, claimed from the queue.
    record_and_claim_an_appeal(
        handler,
        live_server.url,
        "LD-CASE-A",
        category="evidence",
        statement="I only compared rates; my salary of 9,000 a month is paid into your bank.",
    )
    # Beside it, why the limit was cut and what the account went through.
    why = handler.get_by_role("region", name="Why the contested decision")
    expect(why).to_contain_text("MULTI_LENDING")
    expect(why.locator("canvas[data-chart]")).to_have_attribute("data-drawn", "1")
    history = handler.get_by_role("region", name="The account's history")
    expect(history).to_contain_text("¥8,000.00 → ¥3,000.00")

    # The customer's salary flow arrives as a scan; it shows inline.
    upload_evidence(handler, "工资流水.png")
    image = handler.get_by_role("img", name="Evidence: 工资流水.png")
    width = image.evaluate(
        "img => img.complete ? img.naturalWidth"
        " : new Promise(done => { img.onload = img.onerror = () => done(img.naturalWidth); })"
    )
    assert width == 2  # the scan itself, served through the checked view

    notice = propose_partial_restoration(handler, "5000", "Salary flow of 9,000 a month verified.")
    expect(notice.get_by_role("article", name="English")).to_contain_text(
        "Your credit limit is restored to ¥5,000.00."
    )
    # Chinese groups digits by four: 5000 stays whole.
    expect(notice.get_by_role("article", name="简体中文")).to_contain_text("已恢复至 ¥5,000.00")
    assert serious_violations(handler) == []
    screenshot(handler, "appeal-preview")
    handler.get_by_role("button", name="Confirm the decision").click()
    expect(
        handler.get_by_text(
            "The restoration waits for the approval of an appeal lead other than you."
        )
    ).to_be_visible()
    pending = handler.get_by_role("region", name="Waiting for a lead's approval")
    expect(pending).to_contain_text("bob proposes: partly restored, to ¥5,000.00.")
    expect(pending.get_by_role("button", name="Approve and apply")).to_have_count(0)

    lead = new_page(browser)
    log_in(lead, live_server.url, "carol", DEMO_PASSWORD)
    lead_approves(lead, handler.url)
    screenshot(lead, "appeal-decided")
    expect_latest_decision(
        lead,
        live_server.url,
        "LD-CASE-A",
        limit="¥5,000.00",
        shows=["appeal outcome", "bob / carol"],
    )
    assert handler.console_errors == [] and lead.console_errors == []  # type: ignore[attr-defined]


def test_salary_proof_reevaluates_the_account_and_restores_its_line(
    live_server, browser, settings, tmp_path
):
    settings.EVIDENCE_ROOT = tmp_path / "evidence"
    call_command("seed_demo", "--accounts", "30", verbosity=0)
    handler = new_page(browser)
    log_in(handler, live_server.url, "bob", DEMO_PASSWORD)
    handler.goto(f"{live_server.url}/accounts/LD-SALARY/")
    appeals = handler.get_by_role("region", name="Quick actions")
    appeals.get_by_text("Record an appeal for a caller").click()
    appeals.get_by_label("The customer asks").select_option("evidence")
    appeals.get_by_label("What the customer says").fill(
        "My salary is 15,000 a month and I pay into the provident fund; I send the proof."
    )
    appeals.get_by_role("button", name="Record the appeal").click()
    # The demo's rotation gives new appeals to bob: he is on its workbench at once.
    expect(
        handler.get_by_text(re.compile(r"Appeal #\d+ recorded and given to bob\."))
    ).to_be_visible()
    expect(handler.get_by_role("region", name="Why the contested decision")).to_contain_text(
        "BAND_CEILING"
    )

    decide = handler.get_by_role("region", name="Decide")
    decide.get_by_label("re-evaluated with the evidence").check()
    decide.get_by_label("Verified monthly income (yuan)").fill("15000")
    decide.get_by_label("Provident-fund contributions verified").check()
    decide.get_by_label("Reason for the outcome").fill("Salary flow and provident fund verified.")
    decide.get_by_role("button", name="Preview the customer response").click()
    # No proof on file yet: refused, with the reason, and nothing changes.
    expect(handler.get_by_role("alert")).to_contain_text("Upload the evidence first")

    evidence = handler.get_by_role("region", name="Evidence")
    evidence.get_by_label("Add a file (PDF, PNG or JPEG, up to 10 MB)").set_input_files(
        files=FilePayload(name="公积金缴存证明.png", mimeType="image/png", buffer=SALARY_SCAN)
    )
    evidence.get_by_role("button", name="Upload").click()
    expect(handler.get_by_text("公积金缴存证明.png added.")).to_be_visible()
    decide.get_by_label("re-evaluated with the evidence").check()
    decide.get_by_label("Verified monthly income (yuan)").fill("15000")
    decide.get_by_label("Provident-fund contributions verified").check()
    decide.get_by_label("Reason for the outcome").fill("Salary flow and provident fund verified.")
    decide.get_by_role("button", name="Preview the customer response").click()
    result = handler.get_by_role("region", name="Re-evaluation")
    expect(result).to_contain_text("band D → C")
    expect(result).to_contain_text("¥9,000.00 → ¥15,000.00")
    notice = handler.get_by_role("region", name="What the customer will read")
    expect(notice.get_by_role("article", name="English")).to_contain_text(
        "re-assessed your line with the proof you sent. Your credit limit is restored to "
        "¥15,000.00."
    )
    expect(notice.get_by_role("article", name="简体中文")).to_contain_text("已恢复至 ¥15,000.00")
    assert serious_violations(handler) == []
    screenshot(handler, "appeal-reevaluation")
    handler.get_by_role("button", name="Confirm the decision").click()
    expect(handler.get_by_text("Decided; the outcome is on the account's history.")).to_be_visible()

    handler.goto(f"{live_server.url}/accounts/LD-SALARY/")
    expect(handler.get_by_role("region", name="Account summary")).to_contain_text("¥15,000.00")
    why = handler.get_by_role("region", name="Why did the limit change?")
    expect(why).to_contain_text("VERIFIED_CAPACITY")
    expect(why).to_contain_text("Limit Desk score 615 → 650 (band C;")
    assert handler.console_errors == []  # type: ignore[attr-defined]

import re

import pytest
from django.core.management import call_command
from playwright.sync_api import Browser, Page, expect

from accounts import roles
from demo.services import DEMO_PASSWORD
from demo.stories import STORY_ACCOUNTS
from tests.base import PASSWORD, ensure_roles, make_user
from tests.browser.conftest import chart_drawn, new_page, screenshot, serious_violations

# serialized_rollback: the roles from the data migration survive the flush
# that follows each transactional test.
pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def log_in(page: Page, base_url: str, username: str, password: str = PASSWORD) -> None:
    page.goto(f"{base_url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def greg_approves_the_held_run(browser: Browser, base_url: str, run_url: str) -> None:
    """Four eyes on a held run: greg, a second analyst, approves the run someone else started."""
    greg = new_page(browser)
    log_in(greg, base_url, "greg", DEMO_PASSWORD)
    greg.goto(run_url)
    greg.get_by_role("region", name="Circuit breaker: this run waits for a person").get_by_role(
        "button", name="Approve and apply"
    ).click()
    expect(greg.get_by_text("Approved: the run applies its decisions now.")).to_be_visible()
    greg.context.close()


def test_an_analyst_finds_case_a_reads_why_and_a_lead_approves_her_override(live_server, browser):
    ensure_roles()
    call_command("seed_demo", "--accounts", "200", verbosity=0)
    page = new_page(browser)

    page.goto(f"{live_server.url}/login/")
    assert serious_violations(page) == []
    screenshot(page, "login")

    log_in(page, live_server.url, "alice", DEMO_PASSWORD)
    expect(page.get_by_role("heading", name="Portfolio overview")).to_be_visible()
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Runs")).to_be_visible()
    expect(nav.get_by_role("link", name="Audit")).to_have_count(0)
    # Case A's cut and case B's closure happened this month: the chart draws them.
    expect(page.get_by_role("heading", name="Limit changes per day (last 30 days)")).to_be_visible()
    # Waited for by attribute: a polled JavaScript string would need eval, which the CSP refuses.
    expect(page.locator("canvas[data-chart='changes-data']")).to_have_attribute("data-drawn", "1")
    assert chart_drawn(page, "changes-data")
    top = page.get_by_role(
        "table", name="The reasons decisions named most often in the last 7 days"
    )
    expect(top).to_be_visible()
    assert serious_violations(page) == []
    screenshot(page, "overview")

    nav.get_by_role("link", name="Accounts").click()
    page.get_by_label("Reference, or the phone").fill("LD-CASE")
    case_a = page.get_by_role("link", name="LD-CASE-A")
    expect(case_a).to_be_visible()  # live search, swapped in by HTMX
    expect(page.get_by_role("link", name="LD000000001")).to_have_count(0)
    page.get_by_label("Band").select_option("E")  # a filter applies at once
    expect(page.get_by_role("link", name="LD-CASE-B")).to_be_visible()
    expect(page).to_have_url(re.compile(r"band=E"))
    assert serious_violations(page) == []
    screenshot(page, "accounts")

    page.get_by_role("link", name="LD-CASE-A").click()
    expect(page.get_by_role("heading", name="Account LD-CASE-A")).to_be_visible()
    why = page.get_by_role("region", name="Why did the limit change?")
    expect(why).to_contain_text("Applications at other lenders or debt elsewhere lowered the score")
    expect(why).to_contain_text("Avoid applying at several lenders at once")
    # The band ceiling set the limit: named first, with the account's own figures.
    first = why.locator("ol.reasons > li").first
    expect(first).to_contain_text("Set the limit")
    expect(first).to_contain_text("The limit ¥8,000 is above band E's ceiling of ¥3,000")
    expect(why.get_by_role("heading", name="What would restore it")).to_be_visible()
    thresholds = why.get_by_role(
        "table", name="The policy thresholds this decision crossed, with the values it saw"
    )
    expect(thresholds.get_by_role("row", name=re.compile("lenders in 30 days"))).to_contain_text(
        "≥ 10"
    )
    expect(page.get_by_text("林**")).to_be_visible()
    expect(page.get_by_text("林晓雯")).to_have_count(0)
    for chart in ("contributions-data", "history-data"):
        expect(page.locator(f"canvas[data-chart='{chart}']")).to_have_attribute("data-drawn", "1")
    assert chart_drawn(page, "contributions-data") and chart_drawn(page, "history-data")
    assert serious_violations(page) == []
    screenshot(page, "account")

    # A note, added without leaving the page.
    page.get_by_label("New note").fill("Customer says the applications were rate comparisons.")
    page.get_by_role("button", name="Add the note").click()
    notes = page.get_by_role("region", name="Notes")
    expect(notes).to_contain_text("Customer says the applications were rate comparisons.")

    page.get_by_label("New limit").fill("60000")
    page.get_by_label("Justification", exact=True).first.fill(
        "Salary flow verified: 28,000 a month for two years."
    )
    page.get_by_role("button", name="Change the limit").click()
    pending = page.get_by_role("region", name="Pending approval")
    expect(pending).to_contain_text("alice proposed a limit of ¥60,000.00")
    expect(pending).to_contain_text("Can approve: carol")
    expect(pending.get_by_role("button", name="Approve")).to_have_count(0)
    assert serious_violations(page) == []
    screenshot(page, "override-pending")

    lead = new_page(browser)
    log_in(lead, live_server.url, "carol", DEMO_PASSWORD)
    lead.goto(f"{live_server.url}/accounts/LD-CASE-A/")
    lead.get_by_role("region", name="Pending approval").get_by_role(
        "button", name="Approve"
    ).click()
    expect(lead.get_by_text("Override approved and applied.")).to_be_visible()
    expect(lead.get_by_role("region", name="Account summary")).to_contain_text("¥60,000.00")
    timeline = lead.get_by_role("table", name="Limit decisions of this account, newest first")
    expect(timeline.get_by_role("row").nth(1)).to_contain_text("alice / carol")

    # Case B: closed while 95 days past due, repaid since; the page says why.
    page.goto(f"{live_server.url}/accounts/LD-CASE-B/")
    why = page.get_by_role("region", name="Why did the limit change?")
    expect(why).to_contain_text("Serious overdue: days past due reached the closing threshold.")
    expect(why).to_contain_text("Repay in full. The line can be reviewed again")
    inputs = why.get_by_role("table", name="The signals the decision used, beside today's values")
    expect(inputs.get_by_role("row", name="Days past due now 95 0 (changed)")).to_be_visible()
    assert serious_violations(page) == []
    screenshot(page, "account-why")

    timeline = page.get_by_role("table", name="Limit decisions of this account, newest first")
    timeline.get_by_role("link", name="2", exact=True).click()
    notice = page.get_by_role("region", name="Customer notice preview")
    expect(notice.get_by_role("article", name="简体中文")).to_contain_text("您的还款逾期时间较长")
    expect(notice.get_by_role("article", name="English")).to_contain_text("you can appeal")
    assert serious_violations(page) == []
    screenshot(page, "decision")
    assert page.console_errors == [] and lead.console_errors == []  # type: ignore[attr-defined]


def test_the_page_switches_to_chinese_and_refuses_what_the_role_may_not_open(live_server, page):
    make_user("bob", roles.APPEAL_HANDLER)
    log_in(page, live_server.url, "bob")
    page.get_by_label("Language").select_option("zh-hans")
    page.get_by_role("button", name="Switch").click()
    expect(page.get_by_role("heading", name="组合概览")).to_be_visible()
    assert serious_violations(page) == []
    screenshot(page, "overview-zh-hans")

    response = page.goto(f"{live_server.url}/audit/")
    assert response is not None and response.status == 403
    page.console_errors.clear()  # the 403, as expected
    assert serious_violations(page) == []
    screenshot(page, "refused")


def test_a_run_started_on_the_page_is_held_approved_and_reverted_live(
    live_server, page, browser, worker_factory
):
    call_command("seed_demo", "--accounts", str(305 - len(STORY_ACCOUNTS)), verbosity=0)
    worker_factory()
    log_in(page, live_server.url, "alice", DEMO_PASSWORD)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Runs").click()
    expect(page.get_by_role("heading", name="Re-scoring runs")).to_be_visible()
    page.get_by_role("link", name="Re-score the whole portfolio now").click()
    # A confirmation first, saying what the run will do.
    expect(page.get_by_role("heading", name="Re-score the whole portfolio?")).to_be_visible()
    plan = page.get_by_role("region", name="What the run will do")
    expect(plan).to_contain_text("Score all 305 accounts again")
    expect(plan).to_contain_text("circuit breaker stops the run")
    assert serious_violations(page) == []
    screenshot(page, "run-start")
    page.get_by_role("button", name="Start the run: re-score 305 accounts").click()
    expect(page.get_by_role("heading", name=re.compile(r"Re-scoring run #\d+"))).to_be_visible()
    progress = page.get_by_role("region", name="Progress")
    # The panel polls: the worker scores the book and the breaker holds the run.
    expect(progress).to_contain_text("waiting for approval", timeout=60_000)
    page.reload()
    breaker = page.get_by_role("region", name="Circuit breaker: this run waits for a person")
    expect(breaker).to_contain_text("Held: it would cut")
    expect(breaker.get_by_role("table", name="The largest cuts")).to_be_visible()
    assert serious_violations(page) == []
    screenshot(page, "run-held")

    # Four eyes: alice started it, so she may discard it but greg approves it.
    expect(breaker).to_contain_text("You started this run: a second person approves it.")
    expect(breaker.get_by_role("button", name="Approve and apply")).to_have_count(0)
    greg_approves_the_held_run(browser, live_server.url, page.url)
    page.reload()
    expect(progress).to_contain_text("done", timeout=60_000)
    screenshot(page, "run-done")

    page.reload()
    revert = page.get_by_role("region", name="Revert this run")
    revert.get_by_label("Why is this run reverted?").fill("Bureau feed was stale that night.")
    # Without the confirmation ticked, the browser does not send the form.
    revert.get_by_role("button", name=re.compile("Revert run")).click()
    assert revert.get_by_label(re.compile("I understand")).evaluate("box => !box.validity.valid")
    expect(progress).to_contain_text("done")
    revert.get_by_label("Why is this run reverted?").fill("Bureau feed was stale that night.")
    revert.get_by_label(re.compile("I understand")).check()
    revert.get_by_role("button", name=re.compile("Revert run")).click()
    expect(page.get_by_text("The revert is running")).to_be_visible()
    expect(progress).to_contain_text("reverted", timeout=60_000)
    assert serious_violations(page) == []
    screenshot(page, "run-reverted")


def test_policy_and_audit_pages(live_server, page):
    call_command("seed_demo", "--accounts", "20", verbosity=0)
    log_in(page, live_server.url, "carol", DEMO_PASSWORD)  # a lead may reveal
    page.goto(f"{live_server.url}/accounts/LD-CASE-A/")
    page.get_by_label("Why do you need the unmasked data?").select_option("caller")
    page.get_by_role("button", name="Reveal personal data (logged)").click()
    expect(page.get_by_text("林晓雯")).to_be_visible()

    page.goto(f"{live_server.url}/policy/")
    expect(page.get_by_role("region", name=re.compile("Version 1"))).to_contain_text(
        "Close the line at days past due of at least"
    )
    assert serious_violations(page) == []
    screenshot(page, "policy")

    page.context.clear_cookies()
    log_in(page, live_server.url, "frank", DEMO_PASSWORD)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit").click()
    reveals = page.get_by_role("table", name="Reveals of personal data, newest first")
    expect(reveals.get_by_role("row").nth(1)).to_contain_text("carol")
    expect(reveals.get_by_role("row").nth(1)).to_contain_text("LD-CASE-A")
    assert serious_violations(page) == []
    screenshot(page, "audit")

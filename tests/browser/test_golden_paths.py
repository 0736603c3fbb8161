import pytest
from django.core.management import call_command
from playwright.sync_api import Page, expect

from accounts import roles
from accounts.services import DEMO_PASSWORD
from tests.base import PASSWORD, ensure_roles, make_user
from tests.browser.conftest import screenshot, serious_violations

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


def test_an_analyst_logs_in_finds_case_a_and_reads_its_signals(live_server, page):
    ensure_roles()
    call_command("seed_demo", "--accounts", "200", verbosity=0)

    page.goto(f"{live_server.url}/login/")
    assert serious_violations(page) == []
    screenshot(page, "login")

    log_in(page, live_server.url, "alice", DEMO_PASSWORD)
    expect(page.get_by_role("heading", name="Portfolio overview")).to_be_visible()
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Runs")).to_be_visible()
    expect(nav.get_by_role("link", name="Audit")).to_have_count(0)
    assert serious_violations(page) == []
    screenshot(page, "overview")

    nav.get_by_role("link", name="Accounts").click()
    page.get_by_label("Reference, or the last digits of the phone").fill("LD-CASE")
    case_a = page.get_by_role("link", name="LD-CASE-A")
    expect(case_a).to_be_visible()  # live search, swapped in by HTMX
    expect(page.get_by_role("link", name="LD000000001")).to_have_count(0)
    assert serious_violations(page) == []
    screenshot(page, "accounts")

    case_a.click()
    expect(page.get_by_role("heading", name="Account LD-CASE-A")).to_be_visible()
    row = page.get_by_role("row", name="Applications at other lenders in 30 days")
    expect(row).to_contain_text("14")
    expect(page.get_by_text("林**")).to_be_visible()
    expect(page.get_by_text("林晓雯")).to_have_count(0)
    assert serious_violations(page) == []
    screenshot(page, "account")

    # Case B: closed while 95 days past due, repaid since; the page says why.
    page.goto(f"{live_server.url}/accounts/LD-CASE-B/")
    why = page.get_by_role("region", name="Why did the limit change?")
    expect(why).to_contain_text("Serious overdue: days past due reached the closing threshold.")
    expect(why).to_contain_text("Repay in full. The line can be reviewed again")
    inputs = why.get_by_role("table", name="The signals the decision used, beside today's values")
    expect(inputs.get_by_role("row", name="Days past due now 95 0 (changed)")).to_be_visible()
    assert serious_violations(page) == []
    screenshot(page, "account-why")

    page.get_by_role("table", name="Limit decisions of this account, newest first").get_by_role(
        "link", name="2"
    ).click()
    notice = page.get_by_role("region", name="Customer notice preview")
    expect(notice.get_by_role("article", name="简体中文")).to_contain_text("您的还款逾期时间较长")
    expect(notice.get_by_role("article", name="English")).to_contain_text("you can appeal")
    assert serious_violations(page) == []
    screenshot(page, "decision")


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
    assert serious_violations(page) == []
    screenshot(page, "refused")


def test_an_analyst_sees_a_run_held_by_the_circuit_breaker(live_server, page):
    from decisions import runs

    call_command("seed_demo", "--accounts", "300", verbosity=0)
    run = runs.run_start(trigger="button")
    for index in run.chunks.values_list("index", flat=True):
        runs.run_compute_chunk(run_id=run.pk, index=index)

    log_in(page, live_server.url, "alice", DEMO_PASSWORD)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Runs").click()
    expect(page.get_by_role("heading", name="Re-scoring runs")).to_be_visible()
    row = page.get_by_role("row", name=f"#{run.pk}")
    expect(row).to_contain_text("waiting for approval")
    expect(row).to_contain_text("Held: it would cut")
    assert serious_violations(page) == []
    screenshot(page, "runs")


def test_a_large_override_waits_for_a_lead_who_approves_it(live_server, browser):
    call_command("seed_demo", "--accounts", "50", verbosity=0)
    analyst = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    log_in(analyst, live_server.url, "alice", DEMO_PASSWORD)
    analyst.goto(f"{live_server.url}/accounts/LD-GRADUAL/")
    analyst.get_by_label("New limit").fill("110000")
    analyst.get_by_label("Justification", exact=True).first.fill(
        "Verified assets of 1.2 million and 8 years on time."
    )
    analyst.get_by_role("button", name="Change the limit").click()
    pending = analyst.get_by_role("region", name="Pending approval")
    expect(pending).to_contain_text("alice proposed a limit of ¥110,000.00")
    expect(pending).to_contain_text("Can approve: carol")
    expect(pending.get_by_role("button", name="Approve")).to_have_count(0)
    assert serious_violations(analyst) == []
    screenshot(analyst, "override-pending")

    lead = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    log_in(lead, live_server.url, "carol", DEMO_PASSWORD)
    lead.goto(f"{live_server.url}/accounts/LD-GRADUAL/")
    lead.get_by_role("region", name="Pending approval").get_by_role(
        "button", name="Approve"
    ).click()
    expect(lead.get_by_text("Override approved and applied.")).to_be_visible()
    expect(lead.get_by_role("region", name="Account summary")).to_contain_text("¥110,000.00")
    row = (
        lead.get_by_role("table", name="Limit decisions of this account, newest first")
        .get_by_role("row")
        .nth(1)
    )
    expect(row).to_contain_text("alice / carol")

"""The account list and the audit page's reveals in the browser, on a phone (390x844)
and a laptop (1366x900): save a filter and use it, open an account by clicking its
row, download the CSV of the filter; axe clean (docs/architecture.md, "Lists")."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from django.core.management import call_command
from playwright.sync_api import Browser, ViewportSize, expect

from accounts.models import ListExport, SavedFilter
from demo.services import DEMO_PASSWORD
from tests.browser.conftest import new_page, screenshot, serious_violations
from tests.browser.test_golden_paths import log_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

VIEWPORTS: dict[str, ViewportSize] = {
    "390": {"width": 390, "height": 844},
    "1366": {"width": 1366, "height": 900},
}


@pytest.mark.parametrize("size", VIEWPORTS)
def test_save_a_filter_use_it_click_a_row_and_export(live_server, browser: Browser, size, tmp_path):
    call_command("seed_demo", "--accounts", "40", verbosity=0)
    page = new_page(browser)
    page.set_viewport_size(VIEWPORTS[size])
    log_in(page, live_server.url, "alice", DEMO_PASSWORD)
    page.goto(f"{live_server.url}/accounts/")
    results = page.get_by_role("region", name="Matching accounts")
    expect(results.locator(".result-count")).to_contain_text("accounts")

    # Filter by band E (HTMX), then keep the filter under a name.
    page.get_by_label("Band").select_option("E")
    expect(page).to_have_url(re.compile(r"/accounts/\?.*band=E"))
    page.get_by_text("Save this filter").click()
    page.get_by_label("Name", exact=True).fill("Band E")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("Filter “Band E” saved.")).to_be_visible()
    assert serious_violations(page) == []
    screenshot(page, f"lists-accounts-saved-{size}")
    # No sideways page scroll: a wide table scrolls within its own box.
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORTS[size]["width"]

    # Clear the filters, then use the saved one.
    page.goto(f"{live_server.url}/accounts/")
    page.get_by_role("link", name="Band E", exact=True).click()
    expect(page).to_have_url(f"{live_server.url}/accounts/?band=E&sort=reference")
    bands = page.locator("#results tbody tr td:nth-child(5)").all_inner_texts()
    assert bands and set(bands) == {"E"}
    assert SavedFilter.objects.get().query == "band=E&sort=reference"

    # Download the CSV of the filter: the same accounts, masked.
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download these accounts (CSV)").click()
    download = download_info.value
    assert download.suggested_filename.startswith("accounts-")
    saved = Path(tmp_path / download.suggested_filename)
    download.save_as(saved)
    rows = list(csv.reader(io.StringIO(saved.read_text(encoding="utf-8-sig"))))
    assert rows[0][0] == "Reference"
    assert len(rows) - 1 == len(bands)
    assert {row[4] for row in rows[1:]} == {"E"}
    assert all("*" in row[2] for row in rows[1:])  # phones masked
    assert ListExport.objects.get().page == "accounts"

    # A click anywhere on a row opens the account; the link stays the keyboard way in.
    first = page.locator("#results tbody tr").first
    reference = first.locator("a.row-link-target").inner_text()
    first.locator("td").nth(5).click()
    expect(page).to_have_url(f"{live_server.url}/accounts/{reference}/")
    page.go_back()
    link = page.locator("#results tbody tr").first.locator("a.row-link-target")
    link.focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{live_server.url}/accounts/{reference}/")
    assert page.console_errors == []  # type: ignore[attr-defined]
    page.context.close()


@pytest.mark.parametrize("size", VIEWPORTS)
def test_reveal_with_a_purpose_then_filter_and_export_the_reveals(
    live_server, browser: Browser, size, tmp_path
):
    call_command("seed_demo", "--accounts", "20", verbosity=0)
    lead = new_page(browser)
    lead.set_viewport_size(VIEWPORTS[size])
    log_in(lead, live_server.url, "carol", DEMO_PASSWORD)
    lead.goto(f"{live_server.url}/accounts/LD-CASE-A/")
    # Without a purpose the browser does not even send the form: nothing revealed.
    lead.get_by_role("button", name="Reveal personal data (logged)").click()
    purpose = lead.get_by_label("Why do you need the unmasked data?")
    assert purpose.evaluate("select => !select.validity.valid")
    expect(lead.get_by_text("林晓雯")).to_have_count(0)
    purpose.select_option("other")
    lead.get_by_label("Details").fill("Caller asked for a statement")
    lead.get_by_role("button", name="Reveal personal data (logged)").click()
    expect(lead.get_by_text("林晓雯")).to_be_visible()
    assert serious_violations(lead) == []
    screenshot(lead, f"lists-reveal-{size}")
    lead.context.close()

    auditor = new_page(browser)
    auditor.set_viewport_size(VIEWPORTS[size])
    log_in(auditor, live_server.url, "frank", DEMO_PASSWORD)
    auditor.goto(f"{live_server.url}/audit/")
    filters = auditor.get_by_role("search", name="Filter the reveals")
    filters.get_by_label("Person").select_option("carol")
    filters.get_by_label("Account reference (or its start)").fill("LD-CASE")
    filters.get_by_role("button", name="Filter").click()
    reveals = auditor.get_by_role("table", name="Reveals of personal data, newest first")
    expect(reveals.get_by_role("row").nth(1)).to_contain_text("Caller asked for a statement")
    auditor.get_by_text("Save this filter").click()
    auditor.get_by_label("Name", exact=True).fill("Carol's reveals")
    auditor.get_by_role("button", name="Save", exact=True).click()
    expect(auditor.get_by_role("link", name="Carol's reveals")).to_be_visible()
    assert serious_violations(auditor) == []
    screenshot(auditor, f"lists-reveals-{size}")
    assert auditor.evaluate("document.documentElement.scrollWidth") <= VIEWPORTS[size]["width"]

    with auditor.expect_download() as download_info:
        auditor.get_by_role("link", name="Download these reveals (CSV)").click()
    saved = Path(tmp_path / "reveals.csv")
    download_info.value.save_as(saved)
    rows = list(csv.reader(io.StringIO(saved.read_text(encoding="utf-8-sig"))))
    assert [row[1:] for row in rows[1:]] == [["carol", "LD-CASE-A", "Caller asked for a statement"]]
    assert auditor.console_errors == []  # type: ignore[attr-defined]
    auditor.context.close()

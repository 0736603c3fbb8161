"""The auditor frank builds the evidence pack of a month (a real worker builds it), follows
it on the page, downloads the zip and it verifies against the database."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from compliance import services
from tests.browser.conftest import new_page, screenshot, serious_violations
from tests.browser.test_golden_paths import log_in
from tests.compliance.book import march_book

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture(autouse=True)
def _pack_root(settings, tmp_path, monkeypatch):
    root = tmp_path / "evidence-packs"
    settings.EVIDENCE_PACK_ROOT = root
    monkeypatch.setenv("EVIDENCE_PACK_ROOT", str(root))


def test_the_auditor_builds_downloads_and_verifies_an_evidence_pack(
    live_server, browser, worker_factory, tmp_path
):
    worker_factory()
    march_book(auditor="frank")
    page = new_page(browser)
    log_in(page, live_server.url, "frank")
    page.goto(f"{live_server.url}/audit/")
    page.get_by_role(
        "link", name="Evidence packs: a period's report, CSVs and manifest in one signed download"
    ).click()
    start = page.get_by_role("region", name="Build a pack for a period")
    start.get_by_label("From (UTC day)").fill("2025-03-01")
    start.get_by_label("To (UTC day, included)").fill("2025-03-31")
    assert serious_violations(page) == []
    start.get_by_role("button", name="Build the evidence pack").click()
    expect(page.get_by_text("Evidence pack started: the worker builds it.")).to_be_visible()
    expect(
        page.get_by_role("heading", name="Evidence pack 2025-03-01 – 2025-03-31")
    ).to_be_visible()

    the_pack = page.get_by_role("region", name="The pack")
    link = the_pack.get_by_role("link", name="Download the evidence pack (zip)")
    expect(link).to_be_visible(timeout=120_000)  # the panel follows the worker
    files = the_pack.get_by_role("table", name="Files in the pack")
    expect(files).to_contain_text("chain_heads.csv")
    expect(files).to_contain_text("no: carries the time it was generated")
    assert serious_violations(page) == []
    screenshot(page, "evidence-pack")

    with page.expect_download() as download_info:
        link.click()
    download = download_info.value
    assert download.suggested_filename.startswith("evidence-pack-")
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    result = services.pack_verify(io.BytesIO(saved.read_bytes()))
    assert result.ok, result.problems
    out = io.StringIO()
    call_command("verify_evidence_pack", str(saved), stdout=out)
    assert "OK: the evidence pack" in out.getvalue()

    page.goto(f"{live_server.url}/audit/evidence/")
    expect(page.get_by_role("table", name="Evidence packs, newest first")).to_contain_text(
        "2025-03-01 – 2025-03-31"
    )
    assert page.console_errors == []  # type: ignore[attr-defined]

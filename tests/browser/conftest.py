"""Playwright driving Debian's chromium against the live test server."""

from __future__ import annotations

import base64
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, FilePayload, Locator, Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(os.environ.get("SCREENSHOT_DIR", ROOT / ".local" / "screenshots"))
# Flags the machine needs: no sandbox as root, no network calls home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def launched_chromium() -> Iterator[Browser]:
    """Debian's chromium through Playwright; the session's `browser` fixture
    (tests/conftest.py: one for the browser and the smoke tests alike)."""
    executable = shutil.which("chromium")
    if executable is None:
        raise RuntimeError("chromium is missing: run scripts/ensure-browser (make test does).")
    # Playwright's sync API runs an event loop in this thread; the ORM calls
    # that the tests make around it are still synchronous.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def new_page(browser: Browser) -> Page:
    """A page in a context of its own (its own login), which records console errors:
    a script the CSP blocked or a chart that failed shows up there."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    opened = context.new_page()
    errors: list[str] = []
    opened.on(
        "console",
        lambda message: (
            errors.append(f"{message.text} ({message.location.get('url')})")
            if message.type == "error"
            else None
        ),
    )
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.console_errors = errors  # type: ignore[attr-defined]
    return opened


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    opened = new_page(browser)
    yield opened
    assert opened.console_errors == []  # type: ignore[attr-defined]
    opened.context.close()


def chart_drawn(page: Page, data_id: str) -> bool:
    return bool(
        page.evaluate(
            "id => { const c = document.querySelector(`canvas[data-chart='${id}']`);"
            " return !!c && c.dataset.drawn === '1' && c.width > 0; }",
            data_id,
        )
    )


def serious_violations(page: Page) -> list[str]:
    """axe-core violations of serious or critical impact, as readable lines."""
    results = Axe().run(page)
    return [
        f"{violation['id']} ({violation['impact']}): {violation['help']} — "
        + ", ".join(node["target"][0] for node in violation["nodes"][:3])
        for violation in results.response["violations"]
        if violation["impact"] in {"serious", "critical"}
    ]


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


# A 2×1 PNG, a stand-in for the scan of a salary statement.
SALARY_SCAN = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAIAAAABCAIAAAB7QOjdAAAAD0lEQVR4nGP4z8DA8J8BAAf/Af8Bf4mnAAAAAElFTkSuQmCC"
)


def record_and_claim_an_appeal(
    page: Page, base_url: str, reference: str, *, category: str, statement: str
) -> None:
    """A caller's appeal recorded from the account page; the page ends on the appeal's
    workbench, the appeal the person's. The demo's rotation of new appeals (bob;
    docs/architecture.md, "Queue steering") gives it to its handler at once; anyone
    else claims it from the queue with Claim next."""
    page.goto(f"{base_url}/accounts/{reference}/")
    appeals = page.get_by_role("region", name="Quick actions")
    appeals.get_by_text("Record an appeal for a caller").click()
    appeals.get_by_label("The customer asks").select_option(category)
    appeals.get_by_label("What the customer says").fill(statement)
    appeals.get_by_role("button", name="Record the appeal").click()
    recorded = page.get_by_text(re.compile(r"Appeal #\d+ recorded( and given to \w+)?\."))
    expect(recorded).to_be_visible()
    given = re.search(r"given to (\w+)\.", recorded.inner_text())
    if given is None:
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Appeals").click()
        expect(page.get_by_role("heading", name="Appeal queue")).to_be_visible()
        assert serious_violations(page) == []
        page.get_by_role("button", name="Claim next").click()
        expect(page.get_by_text(re.compile(r"Appeal #\d+ is yours\."))).to_be_visible()
    else:
        # Given by the rotation: to the person recording it (the page shows who is logged in).
        expect(page.get_by_role("banner")).to_contain_text(re.compile(given[1], re.IGNORECASE))
    expect(page.get_by_role("region", name="The customer's statement")).to_contain_text(statement)


def upload_evidence(page: Page, name: str) -> None:
    """The salary scan, uploaded on the workbench under `name`; it shows inline."""
    evidence = page.get_by_role("region", name="Evidence")
    evidence.get_by_label("Add a file (PDF, PNG or JPEG, up to 10 MB)").set_input_files(
        files=FilePayload(name=name, mimeType="image/png", buffer=SALARY_SCAN)
    )
    evidence.get_by_role("button", name="Upload").click()
    expect(page.get_by_text(f"{name} added.")).to_be_visible()
    expect(page.get_by_role("img", name=f"Evidence: {name}")).to_be_visible()


def propose_partial_restoration(page: Page, amount: str, reason: str) -> Locator:
    """On the workbench: "partly restored" to `amount`, previewed; the preview's region."""
    decide = page.get_by_role("region", name="Decide")
    decide.get_by_label("partly restored").check()
    decide.get_by_label("Restore to (partial restoration)").fill(amount)
    decide.get_by_label("Reason for the outcome").fill(reason)
    decide.get_by_role("button", name="Preview the customer response").click()
    return page.get_by_role("region", name="What the customer will read")


def lead_approves(lead: Page, appeal_url: str) -> None:
    """An appeal lead approves the outcome waiting on the appeal."""
    lead.goto(appeal_url)
    lead.get_by_role("region", name="Waiting for a lead's approval").get_by_role(
        "button", name="Approve and apply"
    ).click()
    expect(lead.get_by_text("Approved and applied.")).to_be_visible()
    assert serious_violations(lead) == []


def expect_latest_decision(
    page: Page, base_url: str, reference: str, *, limit: str, shows: list[str]
) -> None:
    """The account's page: its limit now, and its newest decision's row."""
    page.goto(f"{base_url}/accounts/{reference}/")
    expect(page.get_by_role("region", name="Account summary")).to_contain_text(limit)
    newest = (
        page.get_by_role("table", name="Limit decisions of this account, newest first")
        .get_by_role("row")
        .nth(1)
    )
    for text in shows:
        expect(newest).to_contain_text(text)

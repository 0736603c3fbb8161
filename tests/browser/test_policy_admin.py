import re

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from demo.services import DEMO_PASSWORD
from tests.browser.conftest import new_page, screenshot, serious_violations
from tests.browser.test_golden_paths import log_in

# serialized_rollback, as every browser test: a flush without it creates the content
# types again under new ids, which the next serialized test clashes with.
pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_a_tightening_is_drafted_simulated_approved_in_stages_and_run(
    live_server, browser, worker_factory
):
    call_command("seed_demo", "--accounts", "300", verbosity=0)
    worker_factory()
    dave = new_page(browser)
    log_in(dave, live_server.url, "dave", DEMO_PASSWORD)
    dave.goto(f"{live_server.url}/policy/")
    dave.get_by_role("button", name="Start a new draft").click()
    expect(dave.get_by_text("Draft v2 started from the active thresholds.")).to_be_visible()

    editor = dave.get_by_role("region", name="Edit the draft")
    editor.get_by_label("Multi-lending: applications in 30 days of at least").fill("5")
    editor.get_by_label("Rationale: why the thresholds change").fill(
        "Seed 004: multi-lending has doubled; tighten in one small step."
    )
    editor.get_by_role("button", name="Save the draft").click()
    expect(dave.get_by_text("Draft saved.")).to_be_visible()
    diff = dave.get_by_role("region", name="Changes against the active version (v1)")
    expect(diff).to_contain_text("Multi-lending: applications in 30 days of at least")

    dave.get_by_role("button", name="Simulate on the portfolio").click()
    simulation = dave.get_by_role("region", name="Simulation on the whole portfolio")
    # The panel follows the worker until the impact is there.
    expect(
        simulation.get_by_role("table", name="Impact: this version beside the active one")
    ).to_be_visible(timeout=60_000)
    expect(
        simulation.get_by_role("table", name="Shift in reason codes (accounts whose limit moves)")
    ).to_contain_text("MULTI_LENDING")
    expect(simulation.locator("canvas[data-chart]")).to_have_attribute("data-drawn", "1")
    assert serious_violations(dave) == []
    screenshot(dave, "policy-simulation")
    dave.get_by_role("button", name="Submit for approval").click()
    expect(dave.get_by_text("Submitted; a second policy admin reviews it.")).to_be_visible()
    expect(dave.get_by_role("button", name="Approve")).to_have_count(0)

    erin = new_page(browser)
    log_in(erin, live_server.url, "erin", DEMO_PASSWORD)
    erin.goto(dave.url)
    expect(
        erin.get_by_role("region", name="Changes against the active version (v1)")
    ).to_contain_text("5")
    expect(
        erin.get_by_role("table", name="Impact: this version beside the active one")
    ).to_be_visible()
    review = erin.get_by_role("region", name="Review")
    review.get_by_label("Comment for the author").fill("Impact checked; start with a tenth.")
    review.get_by_label("Roll out to this share of accounts first (%)").fill("10")
    review.get_by_role("button", name="Approve").click()
    expect(
        erin.get_by_text("Approved; the next runs score 10% of accounts with it.")
    ).to_be_visible()
    assert serious_violations(erin) == []

    alice = new_page(browser)
    log_in(alice, live_server.url, "alice", DEMO_PASSWORD)
    alice.goto(f"{live_server.url}/runs/")
    alice.get_by_role("link", name="Re-score the whole portfolio now").click()
    expect(alice.get_by_role("region", name="What the run will do")).to_contain_text(
        "The accounts of the staged rollout (10%) are scored with v2."
    )
    alice.get_by_role("button", name=re.compile("Start the run")).click()
    expect(alice.get_by_role("heading", name=re.compile(r"Re-scoring run #\d+"))).to_be_visible()
    both = alice.get_by_role("table", name="Both versions side by side")
    expect(both).to_contain_text("v2 (rollout, 10%)", timeout=60_000)
    expect(both).to_contain_text("v1")
    assert serious_violations(alice) == []
    screenshot(alice, "run-rollout")
    for opened in (dave, erin, alice):
        assert opened.console_errors == []  # type: ignore[attr-defined]

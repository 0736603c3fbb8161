"""Queue steering in the browser, on a phone (390x844) and a laptop (1366x900): a lead
assigns two appeals in bulk and snoozes one, sets a handler away on the Handlers page;
a handler restoring a line the policy would cut again sees the guardrail's warning.
axe finds nothing serious on any of these pages; the page never scrolls sideways."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone
from playwright.sync_api import Page, ViewportSize, expect

from accounts.models import Account
from appeals import services
from appeals.models import Appeal
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


def fits(page: Page, width: int) -> None:
    assert int(page.evaluate("document.documentElement.scrollWidth")) <= width
    assert serious_violations(page) == []


def fresh_appeals(count: int) -> list[Appeal]:
    """Unassigned appeals of the demo book, the most urgent of the queue."""
    account = Account.objects.order_by("reference")[0]
    now = timezone.now()
    return [
        Appeal.objects.create(
            account=account,
            channel="hotline",
            category="reason",
            priority=Appeal.Priority.URGENT,
            statement=f"Steering test appeal {n}: why was my limit cut?",
            sla_due=now + timedelta(minutes=30 + n),
        )
        for n in range(count)
    ]


@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_a_lead_steers_the_queue_and_a_handler_sees_the_guardrail(live_server, browser, size):
    call_command("seed_demo", "--accounts", "30", verbosity=0)
    viewport = VIEWPORTS[size]
    first, second, third = fresh_appeals(3)

    lead = new_page(browser)
    lead.set_viewport_size(viewport)
    log_in(lead, live_server.url, "carol", DEMO_PASSWORD)
    lead.goto(f"{live_server.url}/appeals/?view=unassigned&priority=4")
    results = lead.get_by_role("region", name="open appeals")
    expect(results).to_contain_text("3 open appeals")
    fits(lead, viewport["width"])
    screenshot(lead, f"queue-list-{size}")

    # Bulk: assign the first two to bob.
    lead.get_by_label(f"Select appeal #{first.pk}").check()
    lead.get_by_label(f"Select appeal #{second.pk}").check()
    bulk = lead.get_by_role("form", name="Change the selected appeals")
    bulk.get_by_label("With the selected").select_option("assign")
    bulk.get_by_label("Handler").select_option(label="bob")
    bulk.get_by_role("button", name="Apply to the selected").click()
    expect(lead.get_by_text("2 appeals assigned to bob.")).to_be_visible()
    assert set(
        Appeal.objects.filter(pk__in=[first.pk, second.pk]).values_list(
            "assignee__username", flat=True
        )
    ) == {"bob"}
    # The filters are kept: only the third is left unassigned.
    expect(lead.get_by_role("region", name="open appeal")).to_contain_text("1 open appeal")

    # Bulk: snooze the third until the day after tomorrow; it leaves the queue.
    day = (timezone.localdate() + timedelta(days=2)).isoformat()
    lead.get_by_label(f"Select appeal #{third.pk}").check()
    bulk.get_by_label("With the selected").select_option("snooze")
    expect(bulk.get_by_label("Handler")).to_be_hidden()
    bulk.get_by_label("Until").fill(day)
    bulk.get_by_role("button", name="Apply to the selected").click()
    expect(lead.get_by_text(f"1 appeal snoozed until {day}.")).to_be_visible()
    expect(lead.get_by_role("region", name="open appeals")).to_contain_text("0 open appeals")
    lead.get_by_label("Snoozed", exact=True).select_option("only")
    # The snoozed appeal's row says until when (the flash above may say it too).
    expect(lead.get_by_role("row").filter(has_text=f"snoozed until {day}")).to_be_visible()
    fits(lead, viewport["width"])
    screenshot(lead, f"queue-bulk-{size}")

    # A click anywhere on a row opens the appeal.
    lead.get_by_role("row").filter(has_text=f"snoozed until {day}").get_by_role("cell").nth(
        2
    ).click()
    expect(lead).to_have_url(f"{live_server.url}/appeals/{third.pk}/")

    # Handlers: bob is away from today for three days.
    lead.goto(f"{live_server.url}/appeals/")
    lead.get_by_role("link", name="Handlers: caps, auto-assignment, time away").click()
    expect(lead.get_by_role("heading", name="Handlers", exact=True)).to_be_visible()
    # The demo puts bob in the rotation; hana is not in it yet.
    expect(lead.get_by_role("link", name="Add hana to the rotation")).to_be_visible()
    lead.get_by_role("link", name="Change bob").click()
    edit = lead.get_by_role("region", name="Settings of bob")
    edit.get_by_label("Open appeals at most").fill("0")
    edit.get_by_role("button", name="Save").click()
    expect(lead.get_by_text("The cap is at least 1 open appeal.").first).to_be_visible()
    edit = lead.get_by_role("region", name="Settings of bob")
    edit.get_by_label("Open appeals at most").fill("10")
    edit.get_by_label("Away from").fill(timezone.localdate().isoformat())
    edit.get_by_label("Away until (included)").fill(
        (timezone.localdate() + timedelta(days=3)).isoformat()
    )
    edit.get_by_role("button", name="Save").click()
    expect(lead.get_by_text("Saved for bob.")).to_be_visible()
    expect(lead.get_by_role("row").filter(has_text="bob").first).to_contain_text("away today")
    fits(lead, viewport["width"])
    screenshot(lead, f"queue-handlers-{size}")
    assert lead.console_errors == []  # type: ignore[attr-defined]
    lead.context.close()

    # A handler restores case A's line in full: the policy would cut it again tonight.
    account = Account.objects.get(reference="LD-CASE-A")
    appeal = services.appeal_intake(
        account=account,
        actor=None,
        via="help centre",
        channel="app",
        category="misjudged",
        statement="I only compared rates; please restore my limit.",
        decision_id=account.decisions.order_by("-sequence").values_list("pk", flat=True).first(),
    ).appeal
    from django.contrib.auth.models import User

    services.appeal_assign(
        appeal_id=appeal.pk,
        assignee=User.objects.get(username="bob"),
        lead=User.objects.get(username="carol"),
    )
    handler = new_page(browser)
    handler.set_viewport_size(viewport)
    log_in(handler, live_server.url, "bob", DEMO_PASSWORD)
    handler.goto(f"{live_server.url}/appeals/{appeal.pk}/")
    decide = handler.get_by_role("region", name="Decide")
    decide.get_by_label("fully restored").check()
    decide.get_by_label("Reason for the outcome").fill("The customer only compared rates.")
    decide.get_by_label("What the appeal showed").select_option("misjudged")
    decide.get_by_role("button", name="Preview the customer response").click()
    warning = handler.locator(".recut-warning")
    expect(warning).to_contain_text("The next scheduled run would cut this restoration again.")
    expect(warning).to_contain_text("unless the line is frozen")
    expect(handler.get_by_role("button", name="Confirm the decision")).to_be_visible()
    fits(handler, viewport["width"])
    screenshot(handler, f"queue-guardrail-{size}")
    assert Decimal(Appeal.objects.get(pk=appeal.pk).account.current_limit) < Decimal("8000")
    assert handler.console_errors == []  # type: ignore[attr-defined]
    handler.context.close()

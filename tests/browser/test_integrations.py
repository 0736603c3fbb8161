import re

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.utils import timezone
from playwright.sync_api import expect

from accounts import roles
from accounts.models import Account
from api import services as api_services
from decisions import rescore_requests
from demo.services import DEMO_PASSWORD
from tests.base import make_user
from tests.browser.conftest import screenshot, serious_violations
from tests.browser.test_golden_paths import log_in

# serialized_rollback, as every browser test: a flush without it creates the content
# types again under new ids, which the next serialized test clashes with.
pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_the_administrator_gives_the_crm_a_key_that_works_until_revoked(live_server, page):
    call_command("seed_demo", "--accounts", "50", verbosity=0)
    log_in(page, live_server.url, "admin", DEMO_PASSWORD)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Integrations").click()
    expect(page.get_by_role("heading", name="Integrations", level=1)).to_be_visible()

    create = page.get_by_role("region", name="Give an integration a key")
    create.get_by_label("Integration").fill("crm")
    create.get_by_role("button", name="Create the key").click()  # no scope chosen
    expect(page.get_by_text("Choose at least one thing the key may do.")).to_be_visible()
    assert page.get_by_role("textbox", name="Key").count() == 0

    create = page.get_by_role("region", name="Give an integration a key")
    expect(create.get_by_label("Integration")).to_have_value("crm")  # kept for the retry
    create.get_by_label("decisions:read — read decisions and explanations").check()
    create.get_by_role("button", name="Create the key").click()
    shown = page.get_by_role("region", name="The key of crm")
    expect(shown).to_contain_text("shown this once")
    secret = shown.get_by_role("textbox", name="Key").input_value()
    assert re.fullmatch(r"ld_[0-9a-f]{8}_\S{40,}", secret)
    assert serious_violations(page) == []
    screenshot(page, "integrations")

    headers = {"Authorization": f"Bearer {secret}"}
    answer = page.request.get(
        f"{live_server.url}/api/v1/accounts/LD-CASE-A/explanation?lang=en", headers=headers
    )
    assert answer.status == 200 and answer.json()["account"] == "LD-CASE-A"

    page.goto(f"{live_server.url}/integrations/")
    assert secret not in page.content()
    keys = page.get_by_role("table", name="API keys, live ones first")
    expect(keys.get_by_role("row", name=re.compile("^crm"))).to_contain_text("decisions:read")
    calls = page.get_by_role("table", name="The latest 50 API calls, newest first")
    expect(calls).to_contain_text("GET /api/v1/accounts/LD-CASE-A/explanation")

    keys.get_by_role("button", name="Revoke the key of crm").click()
    expect(page.get_by_text("The key of crm is revoked: its calls now get 401.")).to_be_visible()
    answer = page.request.get(f"{live_server.url}/api/v1/decisions", headers=headers)
    assert answer.status == 401


def test_the_api_reference_page_lists_every_endpoint_to_signed_in_staff(live_server, page):
    page.goto(f"{live_server.url}/api/v1/docs")
    expect(page.get_by_role("button", name="Log in")).to_be_visible()  # not for anyone
    make_user("ana", roles.RISK_ANALYST)
    log_in(page, live_server.url, "ana")
    page.goto(f"{live_server.url}/api/v1/docs")
    expect(page.get_by_role("heading", name=re.compile("Limit Desk API"))).to_be_visible()
    for path in (
        "/api/v1/signals/events",
        "/api/v1/appeals",
        "/api/v1/accounts/{reference}/explanation",
        "/api/v1/decisions",
    ):
        expect(page.get_by_text(path, exact=True).first).to_be_visible()
    screenshot(page, "api-docs")


def test_signal_events_from_the_risk_engine_show_on_the_runs_page(live_server, page):
    call_command("seed_demo", "--accounts", "50", verbosity=0)
    admin = User.objects.get(username="admin")
    secret = api_services.api_key_create(name="risk engine", scopes=["signals:write"], actor=admin)[
        1
    ]
    # A healthy line of the demo book, whose holder starts applying to every lender.
    healthy = Account.objects.filter(status="active", band="A").order_by("reference").first()
    assert healthy is not None
    event = {
        "event_id": "browser-1",
        "account": healthy.reference,
        "observed_at": timezone.now().isoformat(),
        "signals": {"lender_applications_30d": 14, "lender_applications_90d": 15},
    }
    answer = page.request.post(
        f"{live_server.url}/api/v1/signals/events",
        headers={"Authorization": f"Bearer {secret}"},
        data={"events": [event]},
    )
    assert answer.status == 200 and answer.json()["applied"] == 1

    log_in(page, live_server.url, "alice", DEMO_PASSWORD)
    page.goto(f"{live_server.url}/runs/")
    page.get_by_role("navigation", name="Kinds of run").get_by_role(
        "link", name="Signal changes"
    ).click()
    summary = page.get_by_role("region", name="Re-scores after signal changes, last 24 hours")
    expect(summary).to_contain_text("1 account, since")  # no worker here: it waits

    [run_id] = rescore_requests.rescore_requested()  # what the worker's task does
    page.reload()
    expect(summary).to_contain_text(re.compile(r"Waiting now\s*none"))
    expect(summary).to_contain_text(re.compile(r"reopened\s*0 / 1 / 0 / 0"))  # cut
    listing = page.get_by_role("table", name="Recent signal re-scores, newest first")
    expect(listing.get_by_role("link", name=f"#{run_id}")).to_be_visible()
    assert serious_violations(page) == []
    screenshot(page, "runs-signals")
    listing.get_by_role("link", name=f"#{run_id}").click()
    expect(page.get_by_text("1 account whose signals changed")).to_be_visible()
    assert healthy.decisions.get(run_id=run_id).action == "reduce"

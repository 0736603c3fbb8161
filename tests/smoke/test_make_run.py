"""Every role's day on the demo as `make run` serves it: DEBUG on, gunicorn, a Celery
worker and Celery beat, in a real browser.

The suite runs with DEBUG off; these tests exist because a fault of the demo's
profile (every re-score, simulation and CSV export failing under DEBUG) once passed
every test. They read only what a user sees, and then the server's log.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from playwright.sync_api import Browser, Locator, Page, expect
from prometheus_client.parser import text_string_to_metric_families

from config.stack import CHECKPOINT_KEY_FILE
from demo.services import DEMO_PASSWORD
from tests.base import manage
from tests.browser.conftest import (
    expect_latest_decision,
    lead_approves,
    new_page,
    propose_partial_restoration,
    screenshot,
    serious_violations,
    upload_evidence,
)
from tests.browser.test_golden_paths import greg_approves_the_held_run, log_in
from tests.smoke.conftest import Stack

# One database and one Redis database of their own: one test process runs them all
# (scripts/run-tests).
pytestmark = [pytest.mark.smoke, pytest.mark.browser, pytest.mark.xdist_group("smoke")]
ROOT = Path(__file__).resolve().parents[2]

# The worker scores a few thousand accounts in seconds; the panels poll it every 2 s.
WORKER_TIMEOUT_MS = 90_000


def settled(region: Locator, finished: str) -> str:
    """Wait until a polled panel stops moving, and say where its state stopped: waiting
    for the finished state alone would hide a failure (an alert) behind a timeout."""
    state = region.locator(".state")
    stopped = state.filter(has_text=re.compile(rf"^\s*({finished})\s*$"))
    expect(stopped.or_(region.get_by_role("alert")).first).to_be_visible(timeout=WORKER_TIMEOUT_MS)
    return state.inner_text().strip()


def test_make_run_serves_the_demo_in_its_debug_profile(make_run):
    # Django's technical 404 page: the served app runs with DEBUG on, as for a user.
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(f"{make_run.url}/no-such-page/", timeout=10)  # noqa: S310
    page = answer.value.read().decode()
    assert answer.value.code == 404
    assert "Page not found <small>(404)</small>" in page
    assert "because you have <code>DEBUG = True</code>" in page
    log = make_run.log_text()
    assert "Using DATABASE_URL" in log and "Using REDIS_URL" in log  # no servers of its own
    assert "alice" in log and DEMO_PASSWORD in log  # the logins, printed for the user
    # The servers are the suite's, not started here: Ctrl-C leaves them running. The
    # notice receiver is its own (config/stack.py), printed with the logins.
    assert "Ctrl-C stops the app, the worker, beat and the notice receiver." in log
    assert "Customer notices are sent to http://127.0.0.1:" in log


def alice_rescores_an_account_and_the_portfolio(browser: Browser, url: str) -> int:
    alice = new_page(browser)
    log_in(alice, url, "alice", DEMO_PASSWORD)
    expect(alice.get_by_role("heading", name="Portfolio overview")).to_be_visible()
    assert serious_violations(alice) == []

    alice.goto(f"{url}/accounts/LD-CASE-A/")
    expect(alice.get_by_role("heading", name="Account LD-CASE-A")).to_be_visible()
    assert serious_violations(alice) == []
    alice.get_by_role("button", name="Re-score now").click()
    expect(
        alice.get_by_text(re.compile(r"Re-score queued as run #\d+ on the worker\."))
    ).to_be_visible()
    # The status panel polls the worker until the run has finished.
    panel = alice.get_by_role("region", name=re.compile(r"Re-score #\d+"))
    finished = panel.get_by_text(re.compile(r"Finished at \d\d:\d\d:\d\d UTC\."))
    expect(finished.or_(panel.get_by_role("alert")).first).to_be_visible(timeout=WORKER_TIMEOUT_MS)
    assert finished.is_visible(), panel.inner_text()
    screenshot(alice, "smoke-account-rescored")

    alice.get_by_role("navigation", name="Main").get_by_role("link", name="Runs").click()
    expect(alice.get_by_role("heading", name="Re-scoring runs")).to_be_visible()
    assert serious_violations(alice) == []
    alice.get_by_role("link", name="Re-score the whole portfolio now").click()
    expect(alice.get_by_role("heading", name="Re-score the whole portfolio?")).to_be_visible()
    plan = alice.get_by_role("region", name="What the run will do")
    expect(plan).to_contain_text(re.compile(r"Score all 3,\d{3} accounts again"))
    assert serious_violations(alice) == []
    alice.get_by_role("button", name=re.compile(r"^Start the run")).click()
    heading = alice.get_by_role("heading", name=re.compile(r"Re-scoring run #\d+"))
    expect(heading).to_be_visible()
    run_id = int(re.findall(r"\d+", heading.inner_text())[0])
    progress = alice.get_by_role("region", name="Progress")
    # On the demo book the circuit breaker may hold the run for a person.
    state = settled(progress, "done|waiting for approval")
    assert state in {"done", "waiting for approval"}, progress.inner_text()
    if state == "waiting for approval":
        alice.reload()
        breaker = alice.get_by_role("region", name="Circuit breaker: this run waits for a person")
        expect(breaker).to_contain_text("Held: it would")
        assert serious_violations(alice) == []
        screenshot(alice, "smoke-run-held")
        # Four eyes: alice started the run, greg approves it.
        expect(breaker.get_by_role("button", name="Approve and apply")).to_have_count(0)
        greg_approves_the_held_run(browser, url, alice.url)
        alice.reload()
    assert settled(progress, "done") == "done", progress.inner_text()
    assert serious_violations(alice) == []
    screenshot(alice, "smoke-run-done")
    assert alice.console_errors == []  # type: ignore[attr-defined]
    alice.context.close()
    return run_id


def dave_drafts_simulates_and_submits(browser: Browser, url: str) -> Page:
    dave = new_page(browser)
    log_in(dave, url, "dave", DEMO_PASSWORD)
    dave.goto(f"{url}/policy/")
    assert serious_violations(dave) == []
    dave.get_by_role("button", name="Start a new draft").click()
    expect(
        dave.get_by_text(re.compile(r"Draft v\d+ started from the active thresholds\."))
    ).to_be_visible()
    editor = dave.get_by_role("region", name="Edit the draft")
    editor.get_by_label("Multi-lending: applications in 30 days of at least").fill("8")
    editor.get_by_label("Rationale: why the thresholds change").fill(
        "Multi-lending has risen on the book; tighten in one small step."
    )
    editor.get_by_role("button", name="Save the draft").click()
    expect(dave.get_by_text("Draft saved.")).to_be_visible()
    diff = dave.get_by_role("region", name=re.compile("Changes against the active version"))
    expect(diff).to_contain_text("Multi-lending: applications in 30 days of at least")

    dave.get_by_role("button", name="Simulate on the portfolio").click()
    simulation = dave.get_by_role("region", name="Simulation on the whole portfolio")
    # The panel polls the worker until the simulation has finished.
    assert settled(simulation, "done") == "done", simulation.inner_text()
    expect(
        simulation.get_by_role("table", name="Impact: this version beside the active one")
    ).to_be_visible()
    expect(simulation.locator("canvas[data-chart]")).to_have_attribute("data-drawn", "1")
    assert serious_violations(dave) == []
    screenshot(dave, "smoke-policy-simulated")

    dave.get_by_role("button", name="Submit for approval").click()
    expect(dave.get_by_text("Submitted; a second policy admin reviews it.")).to_be_visible()
    assert dave.console_errors == []  # type: ignore[attr-defined]
    return dave


def erin_approves_in_stages_widens_and_rolls_back(browser: Browser, url: str, draft: str):
    erin = new_page(browser)
    log_in(erin, url, "erin", DEMO_PASSWORD)
    # The demo comes with dave's earlier version in a staged rollout, which its history
    # shows beating the active one: erin widens it to every account first, so that the
    # new draft can start a rollout of its own.
    erin.goto(f"{url}/policy/")
    staged = erin.get_by_role("region", name="Rollout and rollback")
    staged.get_by_label("Widen to (%)").fill("100")
    staged.get_by_role("button", name="Widen").click()
    expect(erin.get_by_text(re.compile(r"v\d+ is now active for every account\."))).to_be_visible()
    erin.goto(draft)
    version = re.findall(r"/v(\d+)/", draft)[0]
    review = erin.get_by_role("region", name="Review")
    review.get_by_label("Comment for the author").fill("Impact checked; start with a tenth.")
    review.get_by_label("Roll out to this share of accounts first (%)").fill("10")
    assert serious_violations(erin) == []
    review.get_by_role("button", name="Approve").click()
    expect(
        erin.get_by_text("Approved; the next runs score 10% of accounts with it.")
    ).to_be_visible()

    erin.get_by_role("navigation", name="Main").get_by_role("link", name="Policy").click()
    rollout = erin.get_by_role("region", name="Rollout and rollback")
    expect(rollout).to_contain_text(f"v{version} scores 10% of accounts in each run.")
    assert serious_violations(erin) == []
    rollout.get_by_label("Widen to (%)").fill("50")
    rollout.get_by_role("button", name="Widen").click()
    expect(erin.get_by_text(f"v{version} now reaches 50% of accounts.")).to_be_visible()

    rollout.get_by_label("Roll back the staged version: why").fill(
        "Appeals on multi-lending cuts doubled in the rollout share."
    )
    rollout.get_by_role("button", name="Roll back").click()
    expect(
        erin.get_by_text(re.compile(r"Rolled back: the next run scores every account with v\d+\."))
    ).to_be_visible()
    expect(erin.get_by_role("region", name="Changes to what is in force")).to_contain_text(
        "Appeals on multi-lending cuts doubled in the rollout share."
    )
    screenshot(erin, "smoke-policy-rolled-back")
    assert erin.console_errors == []  # type: ignore[attr-defined]
    erin.context.close()


def record_an_appeal_for_the_rotation(page: Page, url: str, reference: str, statement: str) -> str:
    """A caller's appeal recorded from the account page's quick actions; the round robin
    gives it to bob, the demo's handler in the rotation. Its number."""
    page.goto(f"{url}/accounts/{reference}/")
    actions = page.get_by_role("region", name="Quick actions")
    actions.get_by_text("Record an appeal for a caller").click()
    actions.get_by_label("The customer asks").select_option("evidence")
    actions.get_by_label("What the customer says").fill(statement)
    actions.get_by_role("button", name="Record the appeal").click()
    recorded = page.get_by_text(re.compile(r"Appeal #\d+ recorded and given to bob\."))
    expect(recorded).to_be_visible()
    found = re.search(r"#(\d+)", recorded.inner_text())
    assert found is not None
    return found[1]


def open_from_my_work(page: Page, group: str, item: re.Pattern[str]) -> None:
    """My work from the navigation (its count says something waits), then the item."""
    nav = page.get_by_role("navigation", name="Main")
    expect(
        nav.get_by_role("link", name=re.compile(r"^My work \(\d+ items? waits? for you\)"))
    ).to_be_visible()
    nav.get_by_role("link", name=re.compile(r"^My work")).click()
    expect(page.get_by_role("heading", name="My work", exact=True)).to_be_visible()
    assert serious_violations(page) == []
    page.get_by_role("region", name=re.compile(f"^{group}")).get_by_role("link", name=item).click()


def bob_decides_an_appeal_and_carol_approves_it(browser: Browser, url: str) -> None:
    bob = new_page(browser)
    log_in(bob, url, "bob", DEMO_PASSWORD)
    statement = "I only compared rates; my salary of 9,000 a month is paid into your bank."
    number = record_an_appeal_for_the_rotation(bob, url, "LD-CASE-A", statement)
    # Given to him by the rotation, it waits on his My work.
    open_from_my_work(
        bob, "Appeals assigned to you", re.compile(rf"^Appeal #{number} on LD-CASE-A")
    )
    expect(bob.get_by_role("region", name="The customer's statement")).to_contain_text(statement)
    # The evidence goes under the stack's own state directory, read back through the view.
    upload_evidence(bob, "salary-statement.png")

    notice = propose_partial_restoration(bob, "5000", "Salary flow of 9,000 a month verified.")
    expect(notice.get_by_role("article", name="English")).to_contain_text(
        "Your credit limit is restored to ¥5,000.00."
    )
    assert serious_violations(bob) == []
    bob.get_by_role("button", name="Confirm the decision").click()
    # Above the appeal approval amount: a lead approves.
    expect(
        bob.get_by_text("The restoration waits for the approval of an appeal lead other than you.")
    ).to_be_visible()
    screenshot(bob, "smoke-appeal-pending")

    carol = new_page(browser)
    log_in(carol, url, "carol", DEMO_PASSWORD)
    # The restoration waits for her on My work.
    open_from_my_work(
        carol, "Waiting for your approval", re.compile(rf"^Appeal #{number} on LD-CASE-A")
    )
    lead_approves(carol, carol.url)
    expect_latest_decision(
        carol, url, "LD-CASE-A", limit="¥5,000.00", shows=["appeal outcome", "bob / carol"]
    )
    screenshot(carol, "smoke-appeal-decided")
    for opened in (bob, carol):
        assert opened.console_errors == []  # type: ignore[attr-defined]
        opened.context.close()


def frank_downloads_the_decisions(browser: Browser, url: str) -> list[dict[str, str]]:
    frank = new_page(browser)
    log_in(frank, url, "frank", DEMO_PASSWORD)
    frank.get_by_role("navigation", name="Main").get_by_role("link", name="Audit").click()
    expect(frank.get_by_role("heading", name="Audit trail")).to_be_visible()
    assert serious_violations(frank) == []
    today = datetime.now(UTC).date()
    download_form = frank.get_by_role("region", name="Download the decisions")
    download_form.get_by_label("From (UTC day)").fill(str(today - timedelta(days=7)))
    download_form.get_by_label("To (UTC day, included)").fill(str(today))
    with frank.expect_download() as downloading:
        with frank.expect_response(re.compile(r"/audit/decisions\.csv\?")) as answer:
            frank.get_by_role("button", name="Download CSV").click()
        # A failed export is an error page, never a download: said at once, not after a wait.
        assert answer.value.status == 200, f"the export answered {answer.value.status}"
    download = downloading.value
    assert download.failure() is None
    text = download.path().read_text(encoding="utf-8")
    screenshot(frank, "smoke-audit")
    assert frank.console_errors == []  # type: ignore[attr-defined]
    frank.context.close()
    assert text.startswith("id,account,sequence,"), text[:200]
    return list(csv.DictReader(text.splitlines()))


def notices_of_run(make_run, run_id: int) -> list[tuple[str, str]]:
    return make_run.query(
        "SELECT n.state, n.idempotency_key FROM decisions_notice AS n "
        "JOIN decisions_limitdecision AS d ON d.id = n.decision_id WHERE d.run_id = %s",
        [run_id],
    )


def alice_sees_the_cuts_notified_and_retries_a_dead_letter(
    browser: Browser, make_run, run_id: int
) -> None:
    """The run's cuts owe notices: the outbox delivers them to the local receiver
    (docs/architecture.md, "Notices: the outbox and the receiver")."""
    deadline = datetime.now(UTC) + timedelta(seconds=WORKER_TIMEOUT_MS / 1000)
    while (notices := notices_of_run(make_run, run_id)) and any(
        state in {"pending", "retrying"} for state, _key in notices
    ):
        assert datetime.now(UTC) < deadline, notices[:5]
        time.sleep(1)
    assert notices, f"run #{run_id} cut no limit, so no notice is owed"
    sent = {key for state, key in notices if state == "delivered"}
    assert sent, notices[:5]
    received = make_run.state_dir / "receiver" / "notices.jsonl"
    keys = {json.loads(line)["idempotency_key"] for line in received.read_text().splitlines()}
    assert sent <= keys, sorted(sent - keys)[:5]

    alice = new_page(browser)
    log_in(alice, make_run.url, "alice", DEMO_PASSWORD)
    alice.get_by_role("navigation", name="Main").get_by_role("link", name="Notices").click()
    expect(alice.get_by_role("heading", name="Notice timeliness", level=1)).to_be_visible()
    assert serious_violations(alice) == []
    screenshot(alice, "smoke-notices")
    # The demo's history left case A's notice of an earlier cut undelivered (a 503).
    alice.get_by_role(
        "link", name=re.compile(r"failed notices? waits? in the dead letters")
    ).click()
    expect(alice.get_by_role("heading", name="Dead letters", level=1)).to_be_visible()
    table = alice.get_by_test_id("dead-letters")
    table.get_by_role("button", name="Retry LD-CASE-A").click()
    expect(table.get_by_role("status")).to_have_text("Queued to be sent again.")
    assert serious_violations(alice) == []
    assert alice.console_errors == []  # type: ignore[attr-defined]
    alice.context.close()
    dead = "SELECT count(*) FROM decisions_notice WHERE state = 'dead'"
    while make_run.query(dead) != [(0,)]:  # beat sends the outbox every 10 s
        assert datetime.now(UTC) < deadline + timedelta(seconds=60), make_run.query(dead)
        time.sleep(1)


def frank_builds_and_verifies_an_evidence_pack(browser: Browser, make_run, folder: Path) -> None:
    frank = new_page(browser)
    log_in(frank, make_run.url, "frank", DEMO_PASSWORD)
    frank.goto(f"{make_run.url}/audit/")
    frank.get_by_role("link", name=re.compile(r"^Evidence packs")).click()
    # The period asked by default: last calendar month, which no click of today changes.
    start = frank.get_by_role("region", name="Build a pack for a period")
    start.get_by_role("button", name="Build the evidence pack").click()
    the_pack = frank.get_by_role("region", name="The pack")
    link = the_pack.get_by_role("link", name="Download the evidence pack (zip)")
    expect(link).to_be_visible(timeout=WORKER_TIMEOUT_MS)  # the panel follows the worker
    assert serious_violations(frank) == []
    screenshot(frank, "smoke-evidence-pack")
    with frank.expect_download() as downloading:
        link.click()
    saved = folder / downloading.value.suggested_filename
    downloading.value.save_as(saved)
    assert frank.console_errors == []  # type: ignore[attr-defined]
    frank.context.close()
    checked = manage_make_run(make_run, "verify_evidence_pack", str(saved))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "OK: the evidence pack" in checked.stdout


def manage_make_run(make_run, *command: str) -> subprocess.CompletedProcess[str]:
    """A management command against `make run`'s database, as its own login."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("AUDIT_")}
    env.update(
        DATABASE_URL=make_run.database_url,
        LIMITDESK_STATE_DIR=str(make_run.state_dir),
        AUDIT_CHECKPOINT_KEY_FILE=str(make_run.state_dir / CHECKPOINT_KEY_FILE),
    )
    return manage(env, *command)


def greg_saves_a_filter_and_exports_it(browser: Browser, url: str) -> list[dict[str, str]]:
    """An analyst narrows the list to band E, keeps the filter under a name, opens it
    again from the saved filters and downloads it as CSV (streamed, masked, logged)."""
    greg = new_page(browser)
    log_in(greg, url, "greg", DEMO_PASSWORD)
    greg.goto(f"{url}/accounts/?band=E&sort=reference")
    results = greg.get_by_role("region", name="Matching accounts")
    expect(results).to_contain_text(re.compile(r"\d[\d,]* accounts?"))
    results.get_by_text("Save this filter").click()
    results.get_by_label("Name").fill("Band E by reference")
    results.get_by_role("button", name="Save", exact=True).click()
    greg.goto(f"{url}/accounts/")
    greg.get_by_role("link", name="Band E by reference").click()
    expect(greg).to_have_url(re.compile(r"band=E"))
    assert serious_violations(greg) == []
    # A link with `download`: the browser saves what the server streams; a failed
    # export would be an error page saved as the file, caught by the header below.
    with greg.expect_download() as downloading:
        greg.get_by_role("link", name="Download these accounts (CSV)").click()
    download = downloading.value
    assert download.failure() is None
    assert re.search(r"/accounts/export\.csv\?.*band=E", download.url), download.url
    text = download.path().read_text(encoding="utf-8-sig")
    screenshot(greg, "smoke-accounts-saved-filter")
    assert greg.console_errors == []  # type: ignore[attr-defined]
    greg.context.close()
    assert text.startswith("Reference,Name (masked),Phone (masked),"), text[:200]
    return list(csv.DictReader(text.splitlines()))


def admin_gives_a_key_and_opens_the_users(browser: Browser, url: str) -> None:
    """The administrator is a role: integrations and users, no customer data."""
    admin = new_page(browser)
    log_in(admin, url, "admin", DEMO_PASSWORD)
    nav = admin.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Accounts")).to_have_count(0)
    nav.get_by_role("link", name="Integrations").click()
    create = admin.get_by_role("region", name="Give an integration a key")
    create.get_by_label("Integration").fill("smoke help centre")
    create.get_by_label("decisions:read — read decisions and explanations").check()
    create.get_by_role("button", name="Create the key").click()
    expect(admin.get_by_role("region", name="The key of smoke help centre")).to_contain_text(
        "shown this once"
    )
    assert serious_violations(admin) == []
    response = admin.goto(f"{url}/accounts/LD-CASE-A/")
    assert response is not None and response.status == 403
    admin.console_errors.clear()  # type: ignore[attr-defined]  # the 403, as expected
    admin.goto(f"{url}/")
    admin.get_by_role("navigation", name="Main").get_by_role("link", name="Users").click()
    expect(admin.get_by_role("link", name="alice")).to_be_visible()
    screenshot(admin, "smoke-admin-users")
    admin.context.close()


def test_each_role_does_its_days_work_on_make_run(make_run, browser, tmp_path):
    url = make_run.url
    login = new_page(browser)
    login.goto(f"{url}/login/")
    assert serious_violations(login) == []
    screenshot(login, "smoke-login")
    assert login.console_errors == []  # type: ignore[attr-defined]
    login.context.close()

    # The appeal first: it contests case A's cut to 3,000, which a re-score cuts again.
    bob_decides_an_appeal_and_carol_approves_it(browser, url)
    admin_gives_a_key_and_opens_the_users(browser, url)
    run_id = alice_rescores_an_account_and_the_portfolio(browser, url)
    dave = dave_drafts_simulates_and_submits(browser, url)
    erin_approves_in_stages_widens_and_rolls_back(browser, url, dave.url)
    dave.context.close()

    exported = greg_saves_a_filter_and_exports_it(browser, url)
    assert exported and all(row["Band"] == "E" for row in exported), exported[:3]
    assert all("*" in row["Phone (masked)"] for row in exported), exported[:3]

    rows = frank_downloads_the_decisions(browser, url)
    by_run = [row for row in rows if row["run_id"] == str(run_id)]
    assert by_run, f"no decision of run #{run_id} in the CSV ({len(rows)} rows)"
    assert all(len(row["hash"]) == 64 for row in by_run)  # chained, as written
    assert any(
        row["account"] == "LD-CASE-A" and row["actor"] == "bob" and row["approver"] == "carol"
        for row in rows
    )
    alice_sees_the_cuts_notified_and_retries_a_dead_letter(browser, make_run, run_id)
    frank_builds_and_verifies_an_evidence_pack(browser, make_run, tmp_path)
    # What a monitoring system sees of that day's work.
    prometheus_adds_up_every_process_and_the_logs_name_the_run(make_run)


def test_the_stack_logged_no_error_and_left_no_failed_run(make_run):
    # Beat's every-minute tasks first fall due a minute after it started: each must have
    # run once on the worker, so that they too are checked in the demo's profile.
    every_minute = [
        str(entry["task"])
        for entry in settings.CELERY_BEAT_SCHEDULE.values()
        if isinstance(entry["schedule"], timedelta) and entry["schedule"] <= timedelta(minutes=1)
    ]
    assert every_minute
    for task in every_minute:
        make_run.wait_for_log(rf"Task {re.escape(task)}\[[^\]]+\] (succeeded|raised)", 120)
    # A load balancer's probes: the worker has beaten by now, so the instance is ready.
    with urllib.request.urlopen(f"{make_run.url}/healthz", timeout=10) as answer:  # noqa: S310
        assert answer.read() == b"ok\n"
    with urllib.request.urlopen(f"{make_run.url}/readyz", timeout=10) as answer:  # noqa: S310
        ready = json.loads(answer.read())
    assert ready["status"] == "ready", ready
    # Everything the clicks and beat made the server do is in the log by now.
    errors = make_run.error_lines()
    assert errors == [], "the server logged errors:\n" + "\n".join(errors[-60:])
    failed_runs = make_run.query(
        "SELECT id, trigger, error FROM decisions_rescorerun WHERE state = 'failed'"
    )
    failed_simulations = make_run.query(
        "SELECT id, error FROM policies_simulation WHERE state = 'failed'"
    )
    assert failed_runs == []
    assert failed_simulations == []


def prometheus_adds_up_every_process_and_the_logs_name_the_run(make_run: Stack) -> None:
    """/metrics from this machine (no token set), after the roles' work: the pages
    clicked through gunicorn's workers, the chunks and runs counted by the Celery
    worker's pool, and the backlogs read at the scrape, in one answer
    (desk/metrics.py)."""
    with urllib.request.urlopen(f"{make_run.url}/metrics", timeout=10) as answer:  # noqa: S310
        text = answer.read().decode()
    figures: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            figures[f"{sample.name}{{{labels}}}"] = sample.value
    assert figures["limitdesk_http_requests_total{method=GET,status=200,view=overview}"] >= 1
    assert figures["limitdesk_chunk_duration_seconds_count{phase=compute}"] >= 2
    assert figures["limitdesk_chunk_duration_seconds_count{phase=apply}"] >= 2

    def total(prefix: str) -> float:
        return sum(value for name, value in figures.items() if name.startswith(prefix))

    assert total("limitdesk_run_duration_seconds_count{state=done,") >= 1
    assert total("limitdesk_decisions_written_total{") >= 1
    assert figures["limitdesk_database_up{}"] == 1 and figures["limitdesk_redis_up{}"] == 1
    assert "limitdesk_notice_backlog{state=dead}" in figures
    # The log: JSON lines; a chunk's line names its run, a page's its person.
    lines = [
        json.loads(line[line.index("{") :])
        for line in make_run.log_text().splitlines()
        if '{"time": ' in line
    ]
    chunk_lines = [line for line in lines if line.get("task") == "decisions.tasks.compute_chunk"]
    assert chunk_lines and all(isinstance(line["run_id"], int) for line in chunk_lines)
    pages = [line for line in lines if line["logger"] == "limitdesk.request"]
    assert any(line.get("user") == "alice" and line["view"] == "overview" for line in pages)
    assert all(len(line["request_id"]) == 32 for line in pages)


def test_make_run_serves_as_a_login_that_owns_nothing_and_its_checkpoint_holds(make_run):
    # `make run` wrote a signed checkpoint as it started, as the app's login.
    assert re.search(
        r"Audit checkpoint of .+ accounts' chain heads .+ signed and written to ",
        make_run.log_text(),
    )
    # Every connection gunicorn, the worker and beat hold is the app's login, not the owner.
    app_login = urlsplit(make_run.database_url).username
    logins = make_run.query(
        "SELECT DISTINCT usename FROM pg_stat_activity "
        "WHERE datname = current_database() AND backend_type = 'client backend' "
        "AND pid <> pg_backend_pid()"
    )
    assert logins == [(app_login,)]
    # After every role's day (a portfolio run, an appeal, a policy rollout), an auditor's
    # check: the chain is intact and matches the checkpoint taken before any of it.
    checked = manage_make_run(make_run, "verify_audit_chain")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "The audit chain is intact" in checked.stdout
    assert "It matches the signed audit checkpoint of" in checked.stdout

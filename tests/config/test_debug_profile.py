"""Every PostgreSQL COPY works with DEBUG on, as `make run` serves, and off, as
production and the benchmarks run (docs/architecture.md, "One code path with DEBUG
on and off").

With DEBUG on, Django's cursor is a CursorDebugWrapper whose copy() takes the
statement alone; a COPY with parameters failed there while every test, run with
DEBUG off, passed. Each COPY of the project is exercised here in both profiles;
test_copy_calls.py keeps any new one on the shared path.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from accounts import roles
from accounts.models import Account, AccountSignals
from decisions import chunks, overrides, rescore_requests, runs, signal_intake, tasks
from decisions.audit_trail import decisions_csv
from decisions.models import LimitDecision
from demo.services import demo_portfolio_load
from tests.base import make_account, make_signals, make_user, open_the_breaker
from tests.conftest import PROFILES

pytestmark = [pytest.mark.django_db, pytest.mark.parametrize("profile", PROFILES)]


@pytest.fixture(autouse=True)
def _the_profile_reaches_the_cursor(profile):
    with connection.cursor() as cursor:
        wrapper = type(cursor).__name__
    assert wrapper == ("CursorDebugWrapper" if profile == "debug-on" else "CursorWrapper")


@pytest.fixture
def analyst():
    return make_user("alice", roles.RISK_ANALYST)


def rate_shopper() -> Account:
    account = make_account(current_limit=Decimal("8000.00"))
    make_signals(account, lender_applications_30d=14, lender_applications_90d=20)
    return account


def test_a_run_loads_scores_and_applies_its_chunks(profile, analyst):
    shopper, steady = rate_shopper(), make_account()
    make_signals(steady)
    open_the_breaker()

    run = runs.run_start(trigger="button", started_by=analyst)
    for index in run.chunks.values_list("index", flat=True):
        assert chunks.run_compute_chunk(run_id=run.pk, index=index)  # COPY (...) TO STDOUT
    for index in run.chunks.values_list("index", flat=True):
        assert chunks.run_apply_chunk(run_id=run.pk, index=index)  # COPY FROM STDIN, twice
    run.refresh_from_db()

    assert run.state == "done" and run.reduced == 1
    cut = LimitDecision.objects.get(account=shopper)
    assert cut.reasons[0] == "MULTI_LENDING" and cut.new_limit < Decimal("8000.00")
    steady.refresh_from_db()
    assert steady.score is not None  # the score update went through its temporary table


def test_a_signal_re_score_loads_its_accounts_by_id(profile):
    shopper = rate_shopper()
    signal_intake.rescore_accounts_request([shopper.pk])
    run = rescore_requests.rescore_requested_batch(limit=100)
    assert run is not None and run.state == "done" and run.reduced == 1


def test_a_manual_override_is_written(profile, analyst):
    account = make_account()
    overrides.account_override_limit(
        account_id=account.pk,
        expected_version=account.version,
        new_limit=Decimal("4321.00"),
        actor=analyst,
        justification="Bureau check.",
    )
    account.refresh_from_db()
    assert account.current_limit == Decimal("4321.00")
    assert account.decisions.get().new_limit == Decimal("4321.00")


def test_the_demo_book_loads(profile):
    result = demo_portfolio_load(accounts=40, seed=3)
    assert Account.objects.count() == result.accounts
    assert AccountSignals.objects.count() == result.accounts


def test_a_signal_file_imports(profile, tmp_path):
    account = make_account(reference="LD-IMP-1")
    make_signals(account)
    AccountSignals.objects.filter(account=account).update(
        observed_at=timezone.now() - timedelta(days=1)
    )
    source = tmp_path / "signals.csv"
    source.write_text(
        f"account,observed_at,lender_applications_30d,lender_applications_90d\n"
        f"LD-IMP-1,{timezone.now().isoformat()},9,12\n",
        encoding="utf-8",
    )
    call_command("import_signals", str(source), stdout=io.StringIO())
    assert AccountSignals.objects.get(account=account).lender_applications_30d == 9


def test_the_auditors_download_the_decisions_as_csv(profile, client, analyst):
    account = make_account(reference="LD-CSV-1")
    overrides.account_override_limit(
        account_id=account.pk,
        expected_version=account.version,
        new_limit=Decimal("4321.00"),
        actor=analyst,
        justification="Bureau check.",
    )
    today = timezone.now().date()
    client.force_login(make_user("frank", roles.AUDITOR))
    response = client.get(reverse("decisions:audit_export"), {"since": today, "until": today})
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(row["account"], row["new_limit"], row["actor"]) for row in rows] == [
        ("LD-CSV-1", "4321.00", "alice")
    ]
    # The same rows through the command-line export's path.
    assert b"".join(decisions_csv(today, today)).decode().count("LD-CSV-1") == 1


def test_a_task_leaves_no_logged_query_on_the_workers_connection(profile):
    """A worker's connection outlives its tasks: with DEBUG on, the SQL of every
    chunk (thousands of ids each) would pile up on it."""
    shopper = rate_shopper()
    signal_intake.rescore_accounts_request([shopper.pk])
    assert tasks.rescore_requested.apply().successful()
    assert connection.queries == []
    assert LimitDecision.objects.filter(account=shopper).exists()

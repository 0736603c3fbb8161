"""import_signals and export_decisions, and the auditors' download."""

import csv
import io
import tracemalloc
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from accounts import roles
from accounts.models import AccountSignals
from decisions import overrides
from decisions.models import RescoreRequest
from tests.base import make_account, make_signals, make_user

pytestmark = pytest.mark.django_db
NOW = timezone.now()


def write(path, header, rows):
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def book():
    accounts = []
    for number in range(1, 5):
        account = make_account(reference=f"LD-IMP-{number}")
        make_signals(account, lender_applications_30d=1, lender_applications_90d=2)
        AccountSignals.objects.filter(account=account).update(observed_at=NOW - timedelta(days=1))
        accounts.append(account)
    return accounts


def signals(reference):
    return AccountSignals.objects.get(account__reference=reference)


def test_good_rows_apply_the_newest_per_account_and_bad_ones_are_reported(book, tmp_path):
    at = (NOW - timedelta(hours=1)).isoformat()
    older = (NOW - timedelta(days=3)).isoformat()
    later = NOW.isoformat()
    source = write(
        tmp_path / "s.csv",
        [
            "account",
            "observed_at",
            "lender_applications_30d",
            "lender_applications_90d",
            "verified_assets",
        ],
        [
            ["LD-IMP-1", at, "6", "9", "150000.00"],
            ["LD-IMP-1", later, "7", "9", ""],  # newer row of the same account wins
            ["LD-IMP-2", older, "8", "9", ""],  # older than on file: skipped
            ["LD-IMP-3", at, "5", "4", ""],  # 90 days below 30 days: rejected
            ["LD-NOBODY", at, "1", "1", ""],  # unknown account: rejected
            ["LD-IMP-4", "yesterday", "x", "1", ""],  # unreadable: rejected
        ]
        + [[f"LD-IMP-{n % 2 + 1}", older, "1", "2", ""] for n in range(400)],
    )
    out = io.StringIO()
    call_command("import_signals", str(source), stdout=out)
    assert "406 rows" in out.getvalue() and "3 rejected" in out.getvalue()
    assert (signals("LD-IMP-1").lender_applications_30d, signals("LD-IMP-1").verified_assets) == (
        7,
        None,
    )
    assert signals("LD-IMP-2").lender_applications_30d == 1
    assert signals("LD-IMP-3").lender_applications_30d == 1
    errors = list(csv.reader((tmp_path / "s.csv.errors.csv").open(encoding="utf-8")))
    assert errors[0] == ["line", "account", "reasons"]
    reasons = {row[1]: row[2] for row in errors[1:]}
    assert "observed_at: not a date and time" in reasons["LD-IMP-4"]
    assert "lender_applications_30d: must be a whole number" in reasons["LD-IMP-4"]
    assert reasons["LD-NOBODY"] == "account: no account with this reference"
    assert "fewer applications in 90 days" in reasons["LD-IMP-3"]
    # The one account changed waits for its re-score.
    assert list(RescoreRequest.objects.values_list("account__reference", flat=True)) == ["LD-IMP-1"]
    assert "Each changed account is queued for a re-score" in out.getvalue()


def test_a_file_changing_many_accounts_leaves_them_to_a_portfolio_run(book, tmp_path):
    """A bureau refresh of the book is re-scored under the circuit breaker, not at once."""
    at = NOW.isoformat()
    source = write(
        tmp_path / "refresh.csv",
        ["account", "observed_at", "utilization"],
        [[f"LD-IMP-{n}", at, "0.9"] for n in range(1, 5)],
    )
    out = io.StringIO()
    call_command("import_signals", str(source), "--rescore-at-most", "3", stdout=out)
    assert "4 applied" in out.getvalue()
    assert "More than 3 accounts changed: they are re-scored by the next portfolio run" in (
        out.getvalue()
    )
    assert signals("LD-IMP-4").utilization == Decimal("0.9")
    assert not RescoreRequest.objects.exists()


def test_a_file_with_too_many_bad_rows_applies_nothing(book, tmp_path):
    at = NOW.isoformat()
    source = write(
        tmp_path / "bad.csv",
        ["account", "observed_at", "utilization"],
        [["LD-IMP-1", at, "0.5"], ["LD-IMP-2", at, "7"]],
    )
    with pytest.raises(CommandError, match="1 of 2 rows were rejected, more than 1%"):
        call_command("import_signals", str(source))
    assert signals("LD-IMP-1").utilization != Decimal("0.5")
    assert not RescoreRequest.objects.exists()


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (["account", "utilization"], "The header lacks: observed_at"),
        (["account", "observed_at", "shoe_size"], "Unknown columns: shoe_size"),
        (["account", "observed_at"], "names no signal column"),
    ],
)
def test_a_bad_header_refuses_the_file(book, tmp_path, header, message):
    source = write(tmp_path / "h.csv", header, [])
    with pytest.raises(CommandError, match=message):
        call_command("import_signals", str(source))


def test_decisions_export_to_csv_by_date_range_and_for_auditors_only(book, tmp_path, client):
    analyst = make_user("alice", roles.RISK_ANALYST)
    account = book[0]
    overrides.account_override_limit(
        account_id=account.pk,
        expected_version=account.version,
        new_limit=Decimal("4321.00"),
        actor=analyst,
        justification="Bureau check.",
    )
    today = timezone.now().date()
    target = tmp_path / "d.csv"
    call_command(
        "export_decisions", "--since", str(today), "--until", str(today), "--output", str(target)
    )
    rows = list(csv.DictReader(target.open(encoding="utf-8")))
    assert len(rows) == 1 and rows[0]["account"] == "LD-IMP-1"
    assert (rows[0]["new_limit"], rows[0]["actor"], rows[0]["reasons"]) == (
        "4321.00",
        "alice",
        "MANUAL_OVERRIDE",
    )
    with pytest.raises(CommandError, match="before --since"):
        call_command("export_decisions", "--since", str(today), "--until", "2020-01-01")

    url = reverse("decisions:audit_export")
    client.force_login(analyst)
    assert client.get(url, {"since": str(today), "until": str(today)}).status_code == 403
    client.force_login(make_user("frank", roles.AUDITOR))
    page = client.get(reverse("decisions:audit"))
    assert b"Download the decisions" in page.content
    response = client.get(url, {"since": str(today), "until": str(today)})
    assert response["Content-Disposition"] == (
        f'attachment; filename="decisions-{today}-{today}.csv"'
    )
    body = b"".join(response.streaming_content).decode()
    assert "LD-IMP-1" in body and body.startswith("id,account,sequence")
    bad = client.get(url, {"since": str(today), "until": "2020-01-01"})
    assert b"The end of the range is before its start." in bad.content


def test_a_large_file_is_streamed_in_bounded_memory(tmp_path):
    """120,000 rows (about 9 MB): read row by row and COPYed in batches of 10,000, so
    memory stays flat (about 7 MiB at the peak); holding the file's parsed rows at
    once would take several times the bound."""
    accounts = [make_account(reference=f"LD-BIG-{n}") for n in range(1_000)]
    for account in accounts:
        make_signals(account)
    AccountSignals.objects.update(observed_at=NOW - timedelta(days=1))
    source = tmp_path / "big.csv"
    rows = 120_000
    with source.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["account", "observed_at", "utilization", "active_days_90d"])
        for n in range(rows):
            at = NOW - timedelta(hours=12) + timedelta(seconds=n)
            bad = n % 997 == 0  # about one row in a thousand is unreadable
            writer.writerow(
                [
                    f"LD-BIG-{n % 1_000}",
                    at.isoformat(),
                    "x" if bad else f"0.{n % 10000:04d}",
                    n % 91,
                ]
            )
    out = io.StringIO()
    tracemalloc.start()
    try:
        call_command("import_signals", str(source), "--max-rejected-pct", "0.2", stdout=out)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert f"{rows:,} rows" in out.getvalue() and "121 rejected" in out.getvalue()
    assert "1,000 applied" in out.getvalue()
    assert peak < 16 * 1024 * 1024, f"peak {peak / 2**20:.0f} MiB"
    # Each account holds its newest good row: account k's last row is n = 119,000 + k.
    last = AccountSignals.objects.get(account__reference="LD-BIG-7")
    assert last.active_days_90d == (119_007 % 91)
    assert RescoreRequest.objects.count() == 1_000
    assert sum(1 for _ in (tmp_path / "big.csv.errors.csv").open(encoding="utf-8")) == 122

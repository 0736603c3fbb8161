"""The evidence pack: what its CSVs say, that they are reproducible, that the command
catches a tampered file and a change in the data, and the report."""

from __future__ import annotations

import csv
import io
import json
import threading
import zipfile
from datetime import date, timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone
from pypdf import PdfReader

from accounts import roles
from compliance import pack, selectors, services
from compliance.models import EvidencePack
from decisions.models import LimitDecision, Notice
from tests.base import make_user
from tests.compliance.book import MARCH, at, built, decide, march_book

pytestmark = pytest.mark.django_db


def members(evidence_pack: EvidencePack) -> dict[str, bytes]:
    path = services.pack_path(evidence_pack)
    assert path is not None
    return dict(pack.zip_members(path.open("rb")))


def table(content: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))


def verify(path: Path) -> str:
    out = io.StringIO()
    call_command("verify_evidence_pack", str(path), stdout=out)
    return out.getvalue()


def test_the_csvs_say_what_happened_in_the_period():
    book = march_book()
    files = members(built(MARCH, book.frank))

    by_action = {
        (row["action"], row["source"]): row for row in table(files["decisions_by_action.csv"])
    }
    # The April raise and the February cut are outside March.
    assert set(by_action) == {("close", "override"), ("reduce", "override")}
    assert by_action[("reduce", "override")]["decisions"] == "2"
    assert by_action[("reduce", "override")]["limit_before_total"] == "11000.00"  # Decimal text
    reasons = {
        (row["reason"], row["action"]): row for row in table(files["decisions_by_reason.csv"])
    }
    assert reasons[("MULTI_LENDING", "reduce")]["as_principal"] == "1"
    assert reasons[("SCORE_LOW", "reduce")] == {
        "reason": "SCORE_LOW", "action": "reduce", "as_principal": "0", "stated": "1"
    }  # fmt: skip

    notices = table(files["notice_timeliness.csv"])
    totals = {
        name: sum(int(row[name]) for row in notices)
        for name in ("notices", "within_clock", "late", "pending", "failed", "not_required")
    }
    assert totals == {
        "notices": 3, "within_clock": 1, "late": 0, "pending": 1, "failed": 1, "not_required": 0
    }  # fmt: skip
    assert sum(int(row["pending_past_due_at_end"]) for row in notices) == 1

    oversight = {
        (row["measure"], row["group"]): row["value"] for row in table(files["human_oversight.csv"])
    }
    assert oversight[("appeals_decided", "all")] == "1"
    assert oversight[("overturn_rate", "all")] == "0.0000"
    assert oversight[("appeals_received", "misjudged")] == "1"
    sla = table(files["appeals_sla.csv"])
    assert sla == [
        {
            "category": "misjudged", "received": "1", "decided": "1", "decided_within_sla": "1",
            "decided_after_sla": "0", "open_past_due_at_end": "0", "sla_met_rate": "1.0000",
        }
    ]  # fmt: skip

    events = table(files["kill_switch_and_breaker.csv"])
    assert [row["event"] for row in events] == ["kill_switch_paused"]
    assert events[0]["at_utc"] == "2025-03-12T10:00:00.000000Z"
    # A comment that a spreadsheet would run as a formula is written as text.
    assert events[0]["reason"].startswith("'=HYPERLINK")

    heads = {row["account"]: row for row in table(files["chain_heads.csv"])}
    assert set(heads) == {book.first.reference, book.second.reference, book.third.reference}
    assert heads[book.first.reference]["sequence"] == "1"  # not the April raise
    assert heads[book.third.reference]["sequence"] == "2"
    assert heads[book.third.reference]["decided_utc"] == "2025-03-15T10:00:00.000000Z"

    summary = {
        (row["section"], row["measure"]): row["value"] for row in table(files["summary.csv"])
    }
    assert summary[("audit_chain", "verdict")] == "intact"
    assert summary[("audit_chain", "decisions_checked")] == "3"
    assert summary[("audit_chain", "accounts_with_a_head_at_end")] == "3"
    assert table(files["audit_chain.csv"]) == []

    manifest = json.loads(files["manifest.json"])
    assert manifest["period"]["from"] == "2025-03-01"
    assert manifest["period"]["to"] == "2025-03-31"
    listed = {entry["name"]: entry for entry in manifest["files"]}
    assert set(listed) == set(files) - {"manifest.json", "manifest.sig"}
    for name, entry in listed.items():
        assert entry["sha256"] == pack.sha256_hex(files[name])
    assert manifest["not_reproducible"] == {"report.pdf": "carries the time it was generated"}
    assert "report.pdf" not in manifest["reproducible"]


def test_a_pack_built_twice_has_byte_identical_csvs():
    book = march_book()
    first, second = built(MARCH, book.frank), built(MARCH, book.frank)
    one, two = members(first), members(second)
    csvs = sorted(name for name in one if name.endswith(".csv"))
    assert len(csvs) == 13
    assert [one[name] for name in csvs] == [two[name] for name in csvs]
    hashes = [
        {
            entry["name"]: entry["sha256"]
            for entry in built_pack.manifest["files"]
            if entry["reproducible"]
        }
        for built_pack in (first, second)
    ]
    assert hashes[0] == hashes[1]
    assert set(hashes[0]) == set(csvs)


def test_a_fresh_pack_verifies(settings):
    book = march_book()
    path = services.pack_path(built(MARCH, book.frank))
    assert path is not None
    out = verify(path)
    assert f"OK: the evidence pack {path.name} for 2025-03-01–2025-03-31" in out
    assert "chain_heads.csv: recomputed from the database, identical." in out
    assert "manifest.json: its signature is valid." in out


def _rewritten(path: Path, name: str, change: bytes) -> Path:
    tampered = path.with_name("tampered.zip")
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(tampered, "w") as target:
        for info in source.infolist():
            content = source.read(info)
            target.writestr(info, content + change if info.filename == name else content)
    return tampered


def test_a_tampered_csv_is_caught():
    book = march_book()
    path = services.pack_path(built(MARCH, book.frank))
    assert path is not None
    tampered = _rewritten(
        path, "decisions_by_action.csv", b"raise,override,1,0.00,9000.00,9000.00\r\n"
    )
    with pytest.raises(CommandError) as caught:
        verify(tampered)
    message = str(caught.value)
    assert "does NOT verify" in message
    assert (
        "decisions_by_action.csv: its SHA-256 does not match the manifest: the file was "
        "changed after the pack was made."
    ) in message
    assert "notice_timeliness.csv" not in message  # the others still match


def test_a_changed_manifest_fails_its_signature():
    book = march_book()
    path = services.pack_path(built(MARCH, book.frank))
    assert path is not None
    tampered = _rewritten(path, "manifest.json", b" ")
    result = services.pack_verify(tampered)
    assert not result.ok
    assert any("its signature does not match" in problem for problem in result.problems)


def test_a_change_in_the_data_after_the_pack_is_caught():
    book = march_book()
    path = services.pack_path(built(MARCH, book.frank))
    assert path is not None
    # The pending notice is delivered afterwards: the period's timeliness is not what the
    # pack says any more.
    Notice.objects.filter(pk=book.pending_notice.pk).update(
        state=Notice.State.DELIVERED, delivered_at=timezone.now()
    )
    with pytest.raises(CommandError) as caught:
        verify(path)
    message = str(caught.value)
    assert (
        "notice_timeliness.csv: the database now gives different content for 2025-03-01–2025-03-31"
        in message
    )
    assert "decisions_by_action.csv" not in message


def test_the_report_is_a_pdf_with_the_period_and_its_charts():
    book = march_book()
    files = members(built(MARCH, book.frank))
    report = files["report.pdf"]
    assert report.startswith(b"%PDF-")
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(report)).pages)
    assert "2025-03-01 – 2025-03-31" in text
    assert "Decisions per day (UTC)" in text  # the SVG chart's title, drawn in the PDF
    assert "Customer notices of the period" in text
    assert "within the clock" in text


def test_the_report_html_draws_the_charts_as_svg():
    march_book()
    data = services.pack_tables(MARCH)
    html = services.report_html(
        data, generated_at=timezone.now(), started_by="frank", checkpoint={}, files=[]
    )
    assert html.count("<svg") == 2
    assert "<script" not in html
    # the closure of 10 March is drawn (a column in the close colour)
    assert "fill='#D55E00'" in html


def test_a_period_that_has_not_ended_or_is_backwards_is_refused():
    frank = make_user("frank-p", roles.AUDITOR)
    today = timezone.now().date()
    with pytest.raises(services.PackError, match="whole days that have ended"):
        services.pack_start(actor=frank, first=today - timedelta(days=3), last=today)
    with pytest.raises(services.PackError, match="before its start"):
        services.pack_start(actor=frank, first=date(2025, 3, 31), last=date(2025, 3, 1))
    with pytest.raises(services.PackError, match="at most 366 days"):
        services.pack_start(actor=frank, first=date(2023, 1, 1), last=date(2025, 1, 1))
    assert not EvidencePack.objects.exists()


def test_only_who_may_export_the_audit_trail_starts_a_pack():
    for role in (roles.RISK_ANALYST, roles.APPEAL_LEAD, roles.POLICY_ADMIN, roles.ADMINISTRATOR):
        person = make_user(f"p-{role}", role)
        with pytest.raises(services.PackError, match="cannot build evidence packs"):
            services.pack_start(actor=person, first=date(2025, 3, 1), last=date(2025, 3, 31))
    assert not EvidencePack.objects.exists()


def test_the_default_period_is_the_last_calendar_month():
    assert pack.last_calendar_month(date(2026, 12, 4)) == pack.Period(
        date(2026, 11, 1), date(2026, 11, 30)
    )
    assert pack.last_calendar_month(date(2026, 1, 1)) == pack.Period(
        date(2025, 12, 1), date(2025, 12, 31)
    )


def _tamper(sql: str, params: list) -> None:
    """Rewrite history behind the trigger's back, as the tables' owner could (this test
    process is the owner; the running app is not)."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("ALTER TABLE decisions_limitdecision DISABLE TRIGGER USER")
        cursor.execute(sql, params)
        cursor.execute("ALTER TABLE decisions_limitdecision ENABLE TRIGGER USER")


def test_postgresql_recomputes_every_hash_of_the_period_as_the_chain_does():
    """The set-based check vouches for every decision the writer stored (none left to
    the Python walk), including text that JSON escapes and reasons in order."""
    book = march_book()
    decide(
        book.second,
        at(20),
        action="reopen",
        new_limit="500.00",
        reasons=("REOPENED", "GOOD_HISTORY"),
        justification='Line "reopened"\\ after review\n\tby the branch — 复核',
    )
    with connection.cursor() as cursor:
        cursor.execute(selectors._SUSPECTS_SQL, [MARCH.start, MARCH.end])
        assert cursor.fetchall() == []
    chain = selectors.chain_segment(MARCH)
    assert (chain.decisions, chain.accounts, chain.broken) == (4, 3, [])


def test_a_rewritten_decision_of_the_period_is_named_in_the_pack():
    book = march_book()
    changed = LimitDecision.objects.get(account=book.third, sequence=2)
    _tamper("UPDATE decisions_limitdecision SET new_limit = 7000 WHERE id = %s", [changed.pk])
    files = members(built(MARCH, book.frank))
    assert table(files["audit_chain.csv"]) == [
        {
            "account": book.third.reference,
            "account_id": str(book.third.pk),
            "sequence": "2",
            "decision_id": str(changed.pk),
            "problem": "its content no longer matches its hash: the row was changed",
        }
    ]
    summary = {
        (row["section"], row["measure"]): row["value"] for row in table(files["summary.csv"])
    }
    assert summary[("audit_chain", "verdict")] == "broken"
    assert summary[("audit_chain", "broken_links")] == "1"


@pytest.mark.django_db(transaction=True)
def test_a_pack_in_its_own_transaction_checks_each_slice_of_time_on_its_own_connection(
    monkeypatch,
):
    """Outside a caller's transaction, as in the worker, the chain's recomputation runs
    on other connections, a slice of the period each, in the pack's snapshot; a link
    broken in each slice is named, exactly as the one-connection check names them."""
    book = march_book()
    late = decide(book.second, at(28), action="reopen", new_limit="500.00", reasons=("REOPENED",))
    early = LimitDecision.objects.get(account=book.first, sequence=1)
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE decisions_limitdecision DISABLE TRIGGER USER")
        cursor.execute(
            "UPDATE decisions_limitdecision SET new_limit = 1 WHERE id IN (%s, %s)",
            [early.pk, late.pk],
        )
        cursor.execute("ALTER TABLE decisions_limitdecision ENABLE TRIGGER USER")
    slices = selectors.chain_slices(MARCH, services.CHAIN_CONNECTIONS)
    assert [start for start, _end in slices] == [MARCH.start, MARCH.start + timedelta(days=15.5)]
    assert early.created_at < slices[0][1] <= late.created_at

    checked: list[tuple[str, int]] = []
    suspects = selectors.chain_suspects

    def spied(start, end):
        found = suspects(start, end)
        checked.append((threading.current_thread().name, len(found)))
        return found

    monkeypatch.setattr(selectors, "chain_suspects", spied)
    data = services.pack_tables(MARCH)
    assert sorted(found for _name, found in checked) == [1, 1]
    assert all(name.startswith("snapshot") for name, _found in checked)
    broken = [(row[0], row[2], row[3], row[4]) for row in data.chain.broken]
    problem = "its content no longer matches its hash: the row was changed"
    assert broken == [
        (book.first.reference, 1, early.pk, problem),
        (book.second.reference, late.sequence, late.pk, problem),
    ]
    assert data.chain.broken == selectors.chain_segment(MARCH).broken
    assert (data.chain.decisions, data.chain.accounts) == (4, 3)

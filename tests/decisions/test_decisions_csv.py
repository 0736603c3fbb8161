"""The auditor's decisions CSV: free text that a spreadsheet would run as a formula
is written as text (an apostrophe first), as every other export does."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts import roles
from decisions import overrides
from decisions.audit_trail import decisions_csv
from tests.base import ensure_reference_data, make_account, make_user

pytestmark = pytest.mark.django_db


def test_a_justification_or_username_that_reads_as_a_formula_is_written_as_text():
    ensure_reference_data()
    analyst = make_user("+alice", roles.RISK_ANALYST)
    for reference, text in [
        ("LD-F-1", '=HYPERLINK("http://x","click")'),
        ("LD-F-2", "Bureau check."),
    ]:
        account = make_account(reference=reference)
        overrides.account_override_limit(
            account_id=account.pk,
            expected_version=account.version,
            new_limit=Decimal("4321.00"),
            actor=analyst,
            justification=text,
        )
    today = timezone.now().date()
    rows = list(csv.DictReader(io.StringIO(b"".join(decisions_csv(today, today)).decode())))
    by_account = {row["account"]: row for row in rows}
    assert by_account["LD-F-1"]["justification"] == """'=HYPERLINK("http://x","click")"""
    assert by_account["LD-F-2"]["justification"] == "Bureau check."
    assert {row["actor"] for row in rows} == {"'+alice"}
    assert by_account["LD-F-1"]["new_limit"] == "4321.00"  # numbers stay numbers

"""Which decisions owe a customer notice, of which kind, by when (decisions/notices.py,
pure; docs/architecture.md, "Notices: the register"). Hand-made examples."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from decisions import notices
from decisions.models import Notice


def test_the_pure_values_are_the_models_choices():
    assert {notices.INDIVIDUAL, notices.PORTFOLIO, notices.EXEMPT} == set(Notice.Kind.values)
    assert {notices.PENDING, notices.NOT_REQUIRED} <= set(Notice.State.values)


@pytest.mark.parametrize(
    ("old_limit", "new_limit", "old_status", "new_status", "owed"),
    [
        ("8000.00", "5600.00", "active", "active", True),  # a cut
        ("8000.00", "0.00", "active", "closed", True),  # a closure
        ("0.00", "0.00", "frozen", "closed", True),  # closing a frozen line at 0
        ("8000.00", "7999.99", "active", "active", True),  # a cent is a cut
        ("8000.00", "8800.00", "active", "active", False),  # a raise
        ("0.00", "3000.00", "closed", "active", False),  # a reopening
        ("8000.00", "8000.00", "active", "frozen", False),  # a freeze keeps the limit
        ("8000.00", "8000.00", "active", "active", False),  # unchanged
        ("0.00", "0.00", "closed", "closed", False),  # already closed
    ],
)
def test_a_notice_is_owed_for_a_decrease_or_a_closure_only(
    old_limit, new_limit, old_status, new_status, owed
):
    assert (
        notices.needs_notice(
            old_limit=Decimal(old_limit),
            new_limit=Decimal(new_limit),
            old_status=old_status,
            new_status=new_status,
        )
        is owed
    )


@pytest.mark.parametrize(
    ("triggers", "reasons", "rollout", "kind"),
    [
        # Delinquency makes any cut or closure exempt, whatever else fired.
        (("OVERDUE_NOW",), ("OVERDUE_NOW", "OVERDUE_HISTORY"), False, "exempt"),
        (("SERIOUS_OVERDUE",), ("SERIOUS_OVERDUE",), False, "exempt"),
        (("OVERDUE_NOW", "MULTI_LENDING"), ("MULTI_LENDING", "OVERDUE_NOW"), False, "exempt"),
        (("OVERDUE_NOW", "PORTFOLIO_OVERLAY"), ("PORTFOLIO_OVERLAY",), True, "exempt"),
        # The overlay set the limit: portfolio-wide.
        (("PORTFOLIO_OVERLAY",), ("PORTFOLIO_OVERLAY", "OVERDUE_HISTORY"), False, "portfolio"),
        # ... but the overlay only beside another rule that set the limit is not.
        (
            ("MULTI_LENDING", "PORTFOLIO_OVERLAY"),
            ("MULTI_LENDING", "PORTFOLIO_OVERLAY"),
            False,
            "individual",
        ),
        # The version in staged rollout scored the account.
        (("BAND_CEILING",), ("BAND_CEILING",), True, "portfolio"),
        # Other closures and cuts, and people's decisions.
        (("PUBLIC_RECORD",), ("PUBLIC_RECORD",), False, "individual"),
        (("INELIGIBLE",), ("INELIGIBLE",), False, "individual"),
        (("BAND_CEILING",), ("BAND_CEILING", "HIGH_UTILIZATION"), False, "individual"),
        ((), ("MANUAL_OVERRIDE",), False, "individual"),
        ((), ("INCIDENT_REVERT",), False, "individual"),
        ((), (), False, "individual"),
    ],
)
def test_the_classification(triggers, reasons, rollout, kind):
    assert notices.kind_of(triggers=triggers, reasons=reasons, rollout=rollout) == kind


@pytest.mark.parametrize(
    ("kind", "portfolio_needs_individual", "state"),
    [
        ("individual", True, "pending"),
        ("individual", False, "pending"),
        ("portfolio", True, "pending"),
        ("portfolio", False, "not_required"),
        ("exempt", True, "not_required"),
        ("exempt", False, "not_required"),
    ],
)
def test_the_state_a_notice_starts_in(kind, portfolio_needs_individual, state):
    assert (
        notices.initial_state(kind, portfolio_needs_individual=portfolio_needs_individual) == state
    )
    with pytest.raises(ValueError, match="unknown notice kind"):
        notices.initial_state("other", portfolio_needs_individual=True)


def test_classify_gives_both():
    assert notices.classify(
        triggers=("PORTFOLIO_OVERLAY",),
        reasons=("PORTFOLIO_OVERLAY",),
        rollout=False,
        portfolio_needs_individual=False,
    ) == notices.Classification(kind="portfolio", state="not_required")


def test_due_by_counts_calendar_days_from_the_decision():
    decided = datetime(2026, 1, 31, 23, 30, tzinfo=UTC)
    assert notices.due_by(decided, clock_days=30) == datetime(2026, 3, 2, 23, 30, tzinfo=UTC)
    assert notices.due_by(decided, clock_days=45) == datetime(2026, 3, 17, 23, 30, tzinfo=UTC)
    with pytest.raises(ValueError, match="at least one day"):
        notices.due_by(decided, clock_days=0)


def test_the_key_is_the_decisions_hash_and_fits_the_column():
    digest = "ab" * 32
    key = notices.idempotency_key(digest)
    assert key == f"notice-{digest}" and key == notices.idempotency_key(digest)
    max_length = Notice._meta.get_field("idempotency_key").max_length
    assert max_length is not None and len(key) <= max_length
    with pytest.raises(ValueError, match="needs its decision's hash"):
        notices.idempotency_key("")

"""Stored decisions read back through the independent reason checker (decisions/fidelity.py).

A selector: reads decisions and their policy versions, writes nothing. Used by
`manage.py verify_reasons` (docs/architecture.md, "Reasons").
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import F, OuterRef, Q, Subquery

import scoring
from accounts.models import restoration_days
from decisions import fidelity
from decisions.models import LimitDecision
from policies.models import Policy

BATCH = 5000
# A decision by which an appeal restored a limit: what sets Account.restored_at
# (decisions.services.decisions_write; docs/architecture.md, "Decrease protection").
RESTORING = Q(source="appeal", new_limit__gt=F("old_limit"))


@dataclass(frozen=True)
class Failure:
    decision_id: int
    reference: str
    reasons: list[str]
    problems: list[str]


@dataclass
class ReasonReport:
    checked: int = 0
    failures: list[Failure] = field(default_factory=list)
    by_code: dict[str, int] = field(default_factory=dict)  # how often each code was checked


def _stated(row: Any, rules: scoring.PolicyRules) -> fidelity.Stated:
    days = restoration_days(row["restored_before"], row["created_at"])
    return fidelity.Stated(
        action=row["action"],
        reasons=row["reasons"],
        inputs=row["inputs"],
        rules=rules,
        old_limit=Decimal(row["old_limit"]),
        new_limit=Decimal(row["new_limit"]),
        old_status=row["old_status"],
        new_status=row["new_status"],
        score=row["score_after"],
        band=row["band_after"] or None,
        protected=days < rules.decrease_protection_days,
    )


def _rows(since: datetime | None, run_id: int | None) -> Iterator[Any]:
    decisions = LimitDecision.objects.filter(policy__isnull=False)
    if since is not None:
        decisions = decisions.filter(created_at__gte=since)
    if run_id is not None:
        decisions = decisions.filter(run_id=run_id)
    # The account's latest restoration by an appeal before each decision: its protection.
    restored = LimitDecision.objects.filter(
        RESTORING, account_id=OuterRef("account_id"), sequence__lt=OuterRef("sequence")
    ).order_by("-sequence")
    yield from (
        decisions.order_by("id")
        .annotate(restored_before=Subquery(restored.values("created_at")[:1]))
        .values(
            "id",
            "account__reference",
            "action",
            "reasons",
            "inputs",
            "old_limit",
            "new_limit",
            "old_status",
            "new_status",
            "score_after",
            "band_after",
            "policy_id",
            "created_at",
            "restored_before",
        )
        .iterator(chunk_size=BATCH)
    )


def reason_check_report(
    since: datetime | None = None, *, run_id: int | None = None
) -> ReasonReport:
    """Every decision made by a policy version since `since` (of one run, with `run_id`),
    checked reason by reason."""
    rules = {p.pk: scoring.parse_policy(p.rules) for p in Policy.objects.only("id", "rules")}
    report = ReasonReport()
    for row in _rows(since, run_id):
        stated = _stated(row, rules[row["policy_id"]])
        report.checked += 1
        for code in stated.reasons:
            report.by_code[code] = report.by_code.get(code, 0) + 1
        found = fidelity.problems(stated)
        if found:
            report.failures.append(
                Failure(row["id"], row["account__reference"], list(stated.reasons), found)
            )
    return report

"""Appeals as feedback: how often appeals overturn the decisions they contest, by the
contested decision's principal reason and by the policy version that made it.

A selector: reads, writes nothing. What counts is written in docs/architecture.md,
"Appeals as feedback": an appeal counts once it is decided (`Appeal.decided_at`)
and when it contests a decision; it is overturned when its outcome raised the limit
(a limit decision of source "appeal": a full or partial restoration, or a
re-evaluation that gave more than the limit then). Each query is one grouped read
over the decided appeals (the partial index `appeal_decided`), joined to the
contested decisions by their key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Q, QuerySet
from django.db.models.fields.json import KeyTextTransform
from django.utils import timezone

import scoring
from accounts.models import Account
from appeals.models import Appeal
from decisions.reason_labels import reason_label
from policies import selectors as policy_selectors
from scoring.metrics import wilson

OVERVIEW_DAYS = 90  # the overview's card: appeals decided in the last 90 days
NO_REASON = ""  # a contested decision that stated no reason


@dataclass(frozen=True)
class OverturnRow:
    """Decided appeals of one group (a reason code or a policy version)."""

    key: str | int | None  # the reason code, or the policy version (None: a person's)
    decided: int
    overturned: int

    @property
    def rate(self) -> float:
        """Overturned of decided, 0 to 1 (a group exists only with one decided appeal)."""
        return self.overturned / self.decided

    @property
    def rate_pct(self) -> int:
        return round(self.rate * 100)

    @property
    def interval_pct(self) -> tuple[int, int]:
        """The 95 % Wilson interval of the rate, in whole percent."""
        low, high = wilson(self.overturned, self.decided)
        return round(low * 100), round(high * 100)

    @property
    def label(self) -> str:
        """A reason code in words (a version row has none)."""
        return reason_label(self.key) if isinstance(self.key, str) and self.key else ""


@dataclass(frozen=True)
class Overturns:
    rows: list[OverturnRow]  # the most decided first
    since: datetime | None = None  # None: every appeal ever decided

    @property
    def decided(self) -> int:
        return sum(row.decided for row in self.rows)

    @property
    def overturned(self) -> int:
        return sum(row.overturned for row in self.rows)

    @property
    def total(self) -> OverturnRow | None:
        if not self.decided:
            return None
        return OverturnRow(None, self.decided, self.overturned)


def _decided(since: datetime | None, policy_version: int | None) -> QuerySet[Appeal]:
    appeals = Appeal.objects.filter(decided_at__isnull=False, decision__isnull=False)
    if since is not None:
        appeals = appeals.filter(decided_at__gte=since)
    if policy_version is not None:
        appeals = appeals.filter(decision__policy_version=policy_version)
    return appeals


def _rows(appeals: QuerySet[Appeal], key: str) -> list[OverturnRow]:
    grouped = (
        appeals.values(key)
        .annotate(
            decided=Count("id"), overturned=Count("id", filter=Q(outcome_decision__isnull=False))
        )
        .order_by("-decided", key)
    )
    return [OverturnRow(row[key], row["decided"], row["overturned"]) for row in grouped]


def overturns_by_reason(
    *, since: datetime | None = None, policy_version: int | None = None
) -> Overturns:
    """Decided appeals by the principal reason of the contested decision (its first,
    the deciding rule; "Reasons"), each appeal counted once: one query."""
    appeals = _decided(since, policy_version).annotate(
        reason=KeyTextTransform("0", "decision__reasons")
    )
    rows = _rows(appeals, "reason")
    return Overturns(
        [OverturnRow(row.key or NO_REASON, row.decided, row.overturned) for row in rows], since
    )


def overturns_by_version(*, since: datetime | None = None) -> Overturns:
    """Decided appeals by the policy version of the contested decision, the newest
    version first; None: decisions a person made (overrides, appeals). One query."""
    rows = _rows(_decided(since, None), "decision__policy_version")
    rows.sort(key=lambda row: (row.key is None, -int(row.key or 0)))
    return Overturns(rows, since)


def recent_overturns(*, days: int = OVERVIEW_DAYS, now: datetime | None = None) -> Overturns:
    """The overview's card: by reason, the appeals decided in the last `days` days."""
    return overturns_by_reason(since=(now or timezone.now()) - timedelta(days=days))


@dataclass(frozen=True)
class Protection:
    """An account an appeal restored, within the active policy's decrease protection."""

    restored_at: datetime
    until: datetime  # the first moment score-based cuts apply again
    days: int  # the policy's decrease_protection_days
    policy_version: int


def decrease_protection(account: Account, *, now: datetime | None = None) -> Protection | None:
    """Whether score-based cuts skip the account now, by the version that scores it (the
    one in staged rollout for an account in its share, else the active one;
    docs/architecture.md, "Decrease protection"); no query for an account no appeal
    restored."""
    if account.restored_at is None:
        return None
    version = policy_selectors.active_policy()
    candidate = policy_selectors.version_in_rollout()
    if candidate is not None and scoring.rollout_bucket(account.reference) < (
        scoring.rollout_cutoff(candidate.rollout_share)
    ):
        version = candidate
    if version is None:
        return None
    days = scoring.parse_policy(version.rules).decrease_protection_days
    if account.days_since_restoration(now) >= days:
        return None
    return Protection(
        restored_at=account.restored_at,
        until=account.restored_at + timedelta(days=days),
        days=days,
        policy_version=version.version,
    )

"""Reads of the notices: what is due for delivery, the timeliness figures and the
dead-letter list (docs/architecture.md, "Notices: timeliness")."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.db import connection
from django.db.models import Count, Min, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from decisions.models import Notice
from notices.models import NoticeRetry
from policies.models import Policy

ACTIVE_STATES = (Notice.State.PENDING, Notice.State.RETRYING)
# The columns of the timeliness figures, in the order the pages show them.
CATEGORIES = ("on_time", "late", "pending", "failed", "not_required")


def notices_for_delivery(ids: Sequence[int]) -> list[Notice]:
    """The claimed notices with what their content needs, in id order: the account's
    reference, the decision's figures, and each policy version once (not per row)."""
    notices = list(
        Notice.objects.filter(pk__in=ids)
        .select_related("account", "decision")
        .only(
            *(f.name for f in Notice._meta.concrete_fields),
            "account__reference",
            *(f"decision__{name}" for name in DECISION_FIELDS),
        )
        .order_by("pk")
    )
    policies = Policy.objects.in_bulk({n.decision.policy_id for n in notices} - {None})
    for notice in notices:
        if notice.decision.policy_id is not None:
            notice.decision.policy = policies[notice.decision.policy_id]
    return notices


# What a notice's content reads of its decision (notices.services.notice_content).
DECISION_FIELDS = (
    "action",
    "old_limit",
    "new_limit",
    "old_status",
    "band_after",
    "triggers",
    "reasons",
    "inputs",
    "policy",
    "created_at",
)


@dataclass
class TimelinessRow:
    key: str  # the day (YYYY-MM-DD) or the reason code
    on_time: int = 0
    late: int = 0
    pending: int = 0
    failed: int = 0
    not_required: int = 0

    @property
    def total(self) -> int:
        return sum(getattr(self, name) for name in CATEGORIES)


@dataclass
class Timeliness:
    start: date
    end: date  # inclusive
    days: list[TimelinessRow] = field(default_factory=list)
    reasons: list[TimelinessRow] = field(default_factory=list)
    totals: TimelinessRow = field(default_factory=lambda: TimelinessRow("total"))


# One notice's category (docs/architecture.md, "Notices: timeliness"): delivered by its
# due-by time, delivered after it or still not delivered past it, not yet due, dead,
# not required. %(now)s is the moment the page is read.
_CATEGORY_SQL = """
    CASE
        WHEN n.state = 'not_required' THEN 'not_required'
        WHEN n.state = 'dead' THEN 'failed'
        WHEN n.state = 'delivered' AND n.delivered_at <= n.due_by THEN 'on_time'
        WHEN n.state = 'delivered' THEN 'late'
        WHEN n.due_by < %(now)s THEN 'late'
        ELSE 'pending'
    END
"""

_BY_DAY_SQL = f"""
    SELECT (d.created_at AT TIME ZONE 'UTC')::date AS day, {_CATEGORY_SQL} AS category,
           count(*)
    FROM decisions_notice AS n JOIN decisions_limitdecision AS d ON d.id = n.decision_id
    WHERE d.created_at >= %(start)s AND d.created_at < %(end)s
    GROUP BY 1, 2
"""  # noqa: S608 (no input in the text)

_BY_REASON_SQL = f"""
    SELECT CASE WHEN jsonb_typeof(r.reason) = 'string' THEN r.reason #>> '{{}}'
                ELSE r.reason ->> 'code' END AS code,
           {_CATEGORY_SQL} AS category, count(*)
    FROM decisions_notice AS n JOIN decisions_limitdecision AS d ON d.id = n.decision_id
    CROSS JOIN LATERAL jsonb_array_elements(
        CASE WHEN jsonb_typeof(n.reasons) = 'array' THEN n.reasons ELSE '[]'::jsonb END
    ) AS r(reason)
    WHERE d.created_at >= %(start)s AND d.created_at < %(end)s
    GROUP BY 1, 2
"""  # noqa: S608


def timeliness(*, start: date, end: date, now: datetime | None = None) -> Timeliness:
    """Notices of the decisions taken from `start` to `end` (inclusive, UTC days), per
    day and per reason code (a notice counts under each of its reasons)."""
    params = {
        "start": datetime.combine(start, time.min, tzinfo=UTC),
        "end": datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC),
        "now": now or timezone.now(),
    }
    result = Timeliness(start=start, end=end)
    with connection.cursor() as cursor:
        cursor.execute(_BY_DAY_SQL, params)
        by_day: dict[str, TimelinessRow] = {}
        for day, category, count in cursor.fetchall():
            row = by_day.setdefault(day.isoformat(), TimelinessRow(day.isoformat()))
            setattr(row, category, getattr(row, category) + count)
            setattr(result.totals, category, getattr(result.totals, category) + count)
        cursor.execute(_BY_REASON_SQL, params)
        by_reason: dict[str, TimelinessRow] = {}
        for code, category, count in cursor.fetchall():
            row = by_reason.setdefault(code or "", TimelinessRow(code or ""))
            setattr(row, category, getattr(row, category) + count)
    result.days = [by_day[key] for key in sorted(by_day)]
    result.reasons = sorted(by_reason.values(), key=lambda row: (-row.total, row.key))
    return result


def dead_letters(*, limit: int = 200) -> QuerySet[Notice]:
    """Failed notices, the most recently failed first, with the last person who sent
    each again (if anyone did)."""
    latest = NoticeRetry.objects.filter(notice=OuterRef("pk")).order_by("-at")
    return (
        Notice.objects.filter(state=Notice.State.DEAD)
        .select_related("account", "decision")
        .annotate(
            retried_by=Subquery(latest.values("actor__username")[:1]),
            retried_at=Subquery(latest.values("at")[:1]),
        )
        .order_by("-pk")[:limit]
    )


def dead_letter_count() -> int:
    return Notice.objects.filter(state=Notice.State.DEAD).count()


def retries_of(notice_id: int) -> QuerySet[NoticeRetry]:
    return NoticeRetry.objects.filter(notice_id=notice_id).select_related("actor").order_by("-at")


@dataclass(frozen=True)
class NoticeBacklog:
    waiting: int  # pending or retrying
    overdue: int  # of those, past their due date
    dead: int
    oldest_waiting: datetime | None


def notice_backlog(*, now: datetime | None = None) -> NoticeBacklog:
    """The outbox as a monitoring system sees it (desk.metrics)."""
    now = now or timezone.now()
    waiting = Notice.objects.filter(state__in=ACTIVE_STATES).aggregate(
        count=Count("pk"), overdue=Count("pk", filter=Q(due_by__lt=now)), oldest=Min("created_at")
    )
    return NoticeBacklog(
        waiting=waiting["count"],
        overdue=waiting["overdue"],
        dead=dead_letter_count(),
        oldest_waiting=waiting["oldest"],
    )

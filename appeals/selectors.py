"""Reads of the appeals app for pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db.models import Count, Q
from django.utils import timezone

from accounts.selectors import users_with_permission
from appeals.models import Appeal, Evidence


def account_appeals(account_id: int, *, limit: int = 20) -> list[Appeal]:
    return list(
        Appeal.objects.filter(account_id=account_id)
        .select_related("assignee", "decision")
        .order_by("-created_at")[:limit]
    )


@dataclass(frozen=True)
class AppealFigures:
    open: int
    breached: int
    due_today: int


def open_appeal_figures() -> AppealFigures:
    """Open appeals, those past their SLA, and those due within a day: one query."""
    now = timezone.now()
    figures = Appeal.objects.filter(state__in=Appeal.OPEN_STATES).aggregate(
        open=Count("id"),
        breached=Count("id", filter=Q(sla_due__lt=now, sla_paused_at__isnull=True)),
        due_today=Count("id", filter=Q(sla_due__gte=now, sla_due__lt=now + timedelta(days=1))),
    )
    return AppealFigures(**figures)


DUE_SOON = timedelta(hours=4)


@dataclass(frozen=True)
class QueueFilters:
    view: str = "mine"  # mine | unassigned | all
    category: str = ""
    priority: int | None = None
    channel: str = ""
    sla: str = ""  # breached | due_soon | ""


@dataclass(frozen=True)
class QueuePage:
    appeals: list[Appeal]
    has_next: bool
    page: int


QUEUE_PAGE_SIZE = 50


def appeal_queue(filters: QueueFilters, *, user: Any, page: int = 1) -> QueuePage:
    """Open appeals, the most urgent first (priority, then SLA due); no COUNT."""
    appeals = Appeal.objects.filter(state__in=Appeal.OPEN_STATES)
    if filters.view == "mine":
        appeals = appeals.filter(assignee=user)
    elif filters.view == "unassigned":
        appeals = appeals.filter(assignee__isnull=True)
    if filters.category:
        appeals = appeals.filter(category=filters.category)
    if filters.priority:
        appeals = appeals.filter(priority=filters.priority)
    if filters.channel:
        appeals = appeals.filter(channel=filters.channel)
    now = timezone.now()
    if filters.sla == "breached":
        appeals = appeals.filter(sla_due__lt=now, sla_paused_at__isnull=True)
    elif filters.sla == "due_soon":
        appeals = appeals.filter(sla_due__gte=now, sla_due__lt=now + DUE_SOON)
    page = max(page, 1)
    start = (page - 1) * QUEUE_PAGE_SIZE
    rows = list(
        appeals.select_related("account", "assignee", "decision").order_by(
            "-priority", "sla_due", "id"
        )[start : start + QUEUE_PAGE_SIZE + 1]
    )
    return QueuePage(rows[:QUEUE_PAGE_SIZE], len(rows) > QUEUE_PAGE_SIZE, page)


def appeal_detail(appeal_id: int) -> Appeal | None:
    return (
        Appeal.objects.select_related("account", "assignee", "decision")
        .prefetch_related("events__actor", "evidence")
        .filter(pk=appeal_id)
        .first()
    )


def appeal_workers() -> list[Any]:
    """Who can be given an appeal (for a lead's reassign list)."""
    return list(users_with_permission("work_appeals"))


def contested_reasons(appeal: Appeal) -> list[Any]:
    """The contested decision's reasons, for the customer response preview."""
    if appeal.decision is None:
        return []
    from decisions.selectors import reason_catalogue

    catalogue = reason_catalogue(appeal.decision.reasons)
    return [catalogue[code] for code in appeal.decision.reasons if code in catalogue]


def evidence_item(evidence_id: int) -> Evidence | None:
    return Evidence.objects.filter(pk=evidence_id).first()


def sla_targets() -> dict[str, int]:
    from appeals.models import SlaTarget

    return dict(SlaTarget.objects.values_list("category", "hours"))

"""Reads of the appeals app for pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db.models import Count, Q
from django.utils import timezone

from accounts import permissions as perms
from accounts.access import may
from accounts.models import AccountSignals
from accounts.selectors import users_with_permission
from appeals.models import Appeal, Evidence, SlaTarget


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
    view: str = ""  # mine | unassigned | all; "" for the person's default
    category: str = ""
    priority: int | None = None
    channel: str = ""
    sla: str = ""  # breached | due_soon | ""


@dataclass(frozen=True)
class QueuePage:
    appeals: list[Appeal]
    has_next: bool
    page: int
    view: str = "mine"  # the view shown, which may differ from the one asked for


def queue_view(user: Any, asked: str) -> str:
    """The queue a person sees: leads, and readers such as auditors, see all appeals;
    handlers theirs and the unassigned (docs/architecture.md, "Appeals"). Asking for
    all without that right gives one's own."""
    works = may(user, perms.WORK_APPEALS)
    sees_all = may(user, perms.LEAD_APPEALS) or not works
    view = asked or ("mine" if works else "all")
    return "mine" if view == "all" and not sees_all else view


QUEUE_PAGE_SIZE = 50


def appeal_queue(filters: QueueFilters, *, user: Any, page: int = 1) -> QueuePage:
    """Open appeals the person may see (`queue_view`), the most urgent first
    (priority, then SLA due); no COUNT."""
    view = queue_view(user, filters.view)
    appeals = Appeal.objects.filter(state__in=Appeal.OPEN_STATES)
    if view == "mine":
        appeals = appeals.filter(assignee=user)
    elif view == "unassigned":
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
    return QueuePage(rows[:QUEUE_PAGE_SIZE], len(rows) > QUEUE_PAGE_SIZE, page, view)


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


def appeal_worker(user_id: int) -> Any:
    """The user a lead chose for an appeal, or None; the service says whether that
    user may work appeals."""
    return User.objects.filter(pk=user_id, is_active=True).first()


def account_signals(account_id: int) -> dict[str, Any] | None:
    signals = AccountSignals.objects.filter(account_id=account_id).first()
    return signals.as_dict() if signals else None


def evidence_item(evidence_id: int) -> Evidence | None:
    return Evidence.objects.filter(pk=evidence_id).first()


def sla_targets() -> dict[str, int]:
    return dict(SlaTarget.objects.values_list("category", "hours"))

"""Reads of the appeals app for pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count, Q
from django.utils import timezone

from appeals.models import Appeal


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
        breached=Count("id", filter=Q(sla_due__lt=now)),
        due_today=Count("id", filter=Q(sla_due__gte=now, sla_due__lt=now + timedelta(days=1))),
    )
    return AppealFigures(**figures)

"""Reads of the appeals app for pages."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import permissions as perms
from accounts.access import may
from accounts.models import AccountSignals
from accounts.selectors import users_with_permission
from appeals.models import Appeal, AppealEvent, Evidence, HandlerChange, HandlerProfile, SlaTarget
from decisions.reason_labels import reason_label


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
    snoozed: str = ""  # "": hide the snoozed; "only": only them
    reason: str = ""  # the contested decision's principal reason (its first)


@dataclass(frozen=True)
class QueueRow:
    """One line of the queue: the appeal and what the page says of it."""

    appeal: Appeal
    due: str  # "due in 5 h", "2 h overdue", "paused"
    overdue: bool
    limit_before: Decimal | None  # the contested decision's limit before → after
    limit_after: Decimal | None
    reasons: list[str]  # the contested decision's reasons, in staff words
    snoozed_until: datetime | None  # still snoozed until then

    @property
    def change(self) -> str:
        """The contested decision's change as a percentage of the limit before:
        "-63 %" (with a minus sign), "+20 %"; "" without a decision or a limit before."""
        if self.limit_before is None or self.limit_after is None or not self.limit_before:
            return ""
        ratio = (self.limit_after - self.limit_before) / self.limit_before
        return percent(ratio, signed=True)


def percent(ratio: Decimal, *, signed: bool = False) -> str:
    """A ratio as a whole percentage with a space before the sign: 0.35 → "35 %"."""
    value = int((ratio * 100).to_integral_value())
    sign = (
        ("−" if value < 0 else "+" if value > 0 else "") if signed else ("−" if value < 0 else "")
    )
    return f"{sign}{abs(value)} %"


@dataclass(frozen=True)
class QueuePage:
    appeals: list[Appeal]
    has_next: bool
    page: int
    view: str = "mine"  # the view shown, which may differ from the one asked for
    rows: list[QueueRow] = field(default_factory=list)
    total: int | None = None  # exact count of the matches, at most COUNT_EXACT_UP_TO
    more: bool = False  # more than COUNT_EXACT_UP_TO match (total is then that bound)

    @property
    def first(self) -> int:
        return (self.page - 1) * QUEUE_PAGE_SIZE + 1

    @property
    def last(self) -> int:
        return self.first + len(self.appeals) - 1


def queue_view(user: Any, asked: str) -> str:
    """The queue a person sees: leads, and readers such as auditors, see all appeals;
    handlers theirs and the unassigned (docs/architecture.md, "Appeals"). Asking for
    all without that right gives one's own."""
    works = may(user, perms.WORK_APPEALS)
    sees_all = may(user, perms.LEAD_APPEALS) or not works
    view = asked or ("mine" if works else "all")
    return "mine" if view == "all" and not sees_all else view


QUEUE_PAGE_SIZE = 50
COUNT_EXACT_UP_TO = 5_000


def due_text(sla_due: datetime, paused: bool, now: datetime) -> tuple[str, bool]:
    """The SLA as a countdown: ("due in 5 h", False), ("2 h overdue", True),
    ("paused", False) while waiting for the customer; minutes under an hour, days
    from two days on."""
    if paused:
        return _("paused"), False
    seconds = (sla_due - now).total_seconds()
    left = abs(seconds)
    if left < 3600:
        amount = _("%(n)d min") % {"n": max(1, int(left // 60))}
    elif left < 48 * 3600:
        amount = _("%(n)d h") % {"n": int(left // 3600)}
    else:
        amount = _("%(n)d d") % {"n": int(left // 86400)}
    if seconds < 0:
        return _("%(amount)s overdue") % {"amount": amount}, True
    return _("due in %(amount)s") % {"amount": amount}, False


def queue_rows(appeals: list[Appeal], now: datetime) -> list[QueueRow]:
    """The page's lines; the reasons by their short labels (no query)."""
    rows = []
    for appeal in appeals:
        due, overdue = due_text(appeal.sla_due, appeal.sla_paused_at is not None, now)
        decision = appeal.decision
        reasons = [reason_label(code) for code in (decision.reasons if decision else []) or []]
        snoozed = (
            appeal.snoozed_until if appeal.snoozed_until and appeal.snoozed_until > now else None
        )
        rows.append(
            QueueRow(
                appeal,
                due,
                overdue,
                decision.old_limit if decision else None,
                decision.new_limit if decision else None,
                reasons,
                snoozed,
            )
        )
    return rows


def appeal_queue(filters: QueueFilters, *, user: Any, page: int = 1) -> QueuePage:
    """Open appeals the person may see (`queue_view`), the most urgent first
    (priority, then SLA due), with the exact count of the filter's matches. Snoozed
    appeals stay out until their time, unless asked for (`snoozed="only"`)."""
    appeals, view, now = queue_queryset(filters, user=user)
    page = max(page, 1)
    start = (page - 1) * QUEUE_PAGE_SIZE
    rows = list(
        appeals.select_related("account", "assignee", "decision").order_by(
            "-priority", "sla_due", "id"
        )[start : start + QUEUE_PAGE_SIZE + 1]
    )
    shown = rows[:QUEUE_PAGE_SIZE]
    has_next = len(rows) > QUEUE_PAGE_SIZE
    # Counted only when the page is full or not the first; exactly up to
    # COUNT_EXACT_UP_TO (reading at most one id more), beyond that "more than".
    total = len(shown)
    if has_next or page > 1:
        total = appeals.order_by().values("id")[: COUNT_EXACT_UP_TO + 1].count()
    more = total > COUNT_EXACT_UP_TO
    return QueuePage(
        shown,
        has_next,
        page,
        view,
        queue_rows(shown, now),
        min(total, COUNT_EXACT_UP_TO),
        more,
    )


EXPORT_MAX_ROWS = 200_000  # one download; a web worker gives up on a request after 30 s
EXPORT_CHUNK = 2_000


def queue_export_rows(filters: QueueFilters, *, user: Any) -> Iterator[QueueRow]:
    """Every appeal the queue's filter matches for this person, in the queue's order,
    as the page's lines; read with a server-side cursor, `EXPORT_CHUNK` at a time."""
    appeals, _view, now = queue_queryset(filters, user=user)
    ordered = appeals.select_related("account", "assignee", "decision").order_by(
        "-priority", "sla_due", "id"
    )[:EXPORT_MAX_ROWS]
    for appeal in ordered.iterator(chunk_size=EXPORT_CHUNK):
        yield from queue_rows([appeal], now)


def queue_queryset(filters: QueueFilters, *, user: Any) -> tuple[Any, str, datetime]:
    """The open appeals a filter matches for this person (unordered), the view shown,
    and the moment the snoozes were judged at."""
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
    if filters.reason:
        appeals = appeals.filter(decision__reasons__0=filters.reason)
    now = timezone.now()
    if filters.sla == "breached":
        appeals = appeals.filter(sla_due__lt=now, sla_paused_at__isnull=True)
    elif filters.sla == "due_soon":
        appeals = appeals.filter(sla_due__gte=now, sla_due__lt=now + DUE_SOON)
    if filters.snoozed == "only":
        appeals = appeals.filter(snoozed_until__gt=now)
    else:
        appeals = appeals.filter(Q(snoozed_until__isnull=True) | Q(snoozed_until__lte=now))
    return appeals, view, now


def appeal_detail(appeal_id: int) -> Appeal | None:
    return (
        Appeal.objects.select_related(
            "account", "assignee", "decision", "outcome_by", "outcome_decision__approver"
        )
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


# --------------------------------------------------------------------------
# Queue steering: handlers, outcome labels


@dataclass(frozen=True)
class HandlerRow:
    user: Any
    profile: HandlerProfile | None  # None: not in the rotation
    open: int
    away_today: bool


def handler_rows() -> list[HandlerRow]:
    """Everyone who may work appeals, with their profile and open appeals."""
    users = list(users_with_permission("work_appeals"))
    profiles = {p.user_id: p for p in HandlerProfile.objects.filter(user__in=users)}
    counts = dict(
        Appeal.objects.filter(assignee__in=users, state__in=Appeal.OPEN_STATES)
        .values_list("assignee_id")
        .annotate(n=Count("id"))
        .values_list("assignee_id", "n")
    )
    today = timezone.localdate()
    return [
        HandlerRow(
            user,
            profiles.get(user.pk),
            counts.get(user.pk, 0),
            bool(profiles.get(user.pk) and profiles[user.pk].away_on(today)),
        )
        for user in users
    ]


def handler_profile(user_id: int) -> HandlerProfile | None:
    return HandlerProfile.objects.filter(user_id=user_id).first()


def handler_changes(*, limit: int = 20) -> list[HandlerChange]:
    return list(
        HandlerChange.objects.select_related("profile__user", "changed_by").order_by("-at", "-id")[
            :limit
        ]
    )


LABEL_DAYS = 30


@dataclass(frozen=True)
class LabelCount:
    label: str
    name: str
    count: int


def close_label_counts(*, days: int = LABEL_DAYS) -> list[LabelCount]:
    """Appeals decided or closed in the last `days`, by what they showed (the
    labelled ones; in Appeal.CloseLabel order, zeros left out)."""
    since = timezone.now() - timedelta(days=days)
    recent = AppealEvent.objects.filter(move__in=("decide", "close"), at__gte=since).values(
        "appeal_id"
    )
    counts = dict(
        Appeal.objects.filter(pk__in=recent)
        .exclude(close_label="")
        .values_list("close_label")
        .annotate(n=Count("id"))
        .values_list("close_label", "n")
    )
    return [
        LabelCount(value, str(label), counts[value])
        for value, label in Appeal.CloseLabel.choices
        if counts.get(value)
    ]


def sent_back(appeal: Appeal) -> AppealEvent | None:
    """The lead's send-back of the appeal's last proposed outcome, while the handler
    has not proposed or decided again (the event's note is the lead's reason). Reads
    the events prefetched by `appeal_detail` (no query of its own)."""
    last = None
    for event in appeal.events.all():
        if event.move in ("outcome_proposed", "outcome_rejected", "decide"):
            last = event
    return last if last is not None and last.move == "outcome_rejected" else None

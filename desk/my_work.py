"""My work: what waits for the signed-in person, for the page and the navigation's
count (docs/architecture.md, "My work").

Reads only, across the apps below desk. Each source is asked only when the person's
roles (`may`) could give it anything; each is one COUNT over an index (the person's
rows, or a small state) and, for the page, one read of its first rows. Nothing here
scans the decisions or the accounts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts import permissions as perms
from accounts.access import may
from accounts.templatetags.desk import money
from appeals.models import Appeal, AppealEvent
from decisions.models import OverrideRequest, RescoreRun
from policies.models import Policy, PolicyEvent

# What was sent back stays on the page this long, so the person reads the reason.
SENT_BACK_DAYS = 14
# How often the navigation asks for the count again (settings.MY_WORK_POLL_SECONDS
# overrides it, as the browser test does).
POLL_SECONDS = 30
# Rows read per source, oldest first: what a person works through next (the heading's
# count is of all of them; 50 rows a source missed the page target on a lead with
# 1,000+ items, docs/benchmarks.md "My work").
ROWS_PER_SOURCE = 20

# The roles that can ever have something waiting. The auditor (changes nothing) and
# the administrator (no customer data) cannot: the page and its count refuse them.
WORK_PERMISSIONS = (
    perms.APPROVE_OVERRIDE,
    perms.PROPOSE_OVERRIDE,
    perms.START_RESCORE,
    perms.WORK_APPEALS,
    perms.LEAD_APPEALS,
    perms.EDIT_POLICY,
    perms.APPROVE_POLICY,
)


def has_work(user: Any) -> bool:
    """Whether the person's roles can have anything on My work."""
    return any(may(user, permission) for permission in WORK_PERMISSIONS)


def age_label(since: datetime | None, now: datetime) -> str:
    """How long an item has waited: "12 min", "3 h", "2 d" (rounded down)."""
    if since is None:
        return "—"
    seconds = max(0, int((now - since).total_seconds()))
    if seconds < 3600:
        return _("%(count)d min") % {"count": seconds // 60}
    if seconds < 86400:
        return _("%(count)d h") % {"count": seconds // 3600}
    return _("%(count)d d") % {"count": seconds // 86400}


@dataclass(frozen=True)
class Item:
    """One row: what it is, a link to where it is done, and since when it waits."""

    title: str
    url: str
    since: datetime | None
    age: str
    detail: str = ""  # the justification or proposal
    reason: str = ""  # why it was sent back, and by whom
    reason_by: str = ""


@dataclass(frozen=True)
class Source:
    """One kind of item: who can have it, the query of theirs, and how a row reads."""

    key: str
    permission: str
    rows: Callable[[Any, datetime], QuerySet[Any]]
    item: Callable[[Any, datetime], Item]


@dataclass
class Group:
    key: str
    heading: str
    empty: str
    count: int = 0
    items: list[Item] = field(default_factory=list)


def _since(now: datetime) -> datetime:
    return now - timedelta(days=SENT_BACK_DAYS)


# --------------------------------------------------------------------------
# Approvals they may give (never their own)


def _overrides_to_approve(user: Any, now: datetime) -> QuerySet[OverrideRequest]:
    return (
        OverrideRequest.objects.filter(state=OverrideRequest.State.PENDING)
        .exclude(requested_by=user)
        .select_related("account", "requested_by")
        .order_by("created_at", "id")
    )


def _override_item(request: OverrideRequest, now: datetime) -> Item:
    return Item(
        title=_("Override of %(account)s to %(limit)s, proposed by %(who)s")
        % {
            "account": request.account.reference,
            "limit": money(request.new_limit),
            "who": request.requested_by.username,
        },
        url=reverse("accounts:detail", args=[request.account.reference]) + "#pending-heading",
        since=request.created_at,
        age=age_label(request.created_at, now),
        detail=request.justification,
    )


def _proposed_at() -> Subquery:
    return Subquery(
        AppealEvent.objects.filter(appeal=OuterRef("pk"), move="outcome_proposed")
        .order_by("-at", "-id")
        .values("at")[:1]
    )


def _outcomes_to_approve(user: Any, now: datetime) -> QuerySet[Appeal]:
    return (
        Appeal.objects.filter(outcome_pending=True)
        .exclude(outcome_by=user)
        .select_related("account", "outcome_by")
        .annotate(proposed_at=_proposed_at())
        .order_by("proposed_at", "id")
    )


def _outcome_item(appeal: Any, now: datetime) -> Item:
    since = appeal.proposed_at or appeal.updated_at
    return Item(
        title=_("Appeal #%(number)s on %(account)s: %(outcome)s to %(limit)s, proposed by %(who)s")
        % {
            "number": appeal.pk,
            "account": appeal.account.reference,
            "outcome": appeal.get_outcome_display(),
            "limit": money(appeal.outcome_limit),
            "who": appeal.outcome_by.username if appeal.outcome_by else "—",
        },
        url=reverse("appeals:detail", args=[appeal.pk]),
        since=since,
        age=age_label(since, now),
        detail=appeal.outcome_justification,
    )


def _policies_to_approve(user: Any, now: datetime) -> QuerySet[Policy]:
    return (
        Policy.objects.filter(state=Policy.State.PENDING)
        .exclude(author=user)
        .select_related("author")
        .order_by("submitted_at", "version")
    )


def _policy_item(policy: Policy, now: datetime) -> Item:
    since = policy.submitted_at or policy.created_at
    return Item(
        title=_("Policy v%(version)s submitted for approval by %(who)s")
        % {"version": policy.version, "who": policy.author.username if policy.author else "—"},
        url=reverse("policies:version", args=[policy.version]),
        since=since,
        age=age_label(since, now),
        detail=policy.rationale,
    )


def _runs_to_approve(user: Any, now: datetime) -> QuerySet[RescoreRun]:
    return (
        RescoreRun.objects.filter(state=RescoreRun.State.WAITING)
        .exclude(started_by=user)
        .select_related("started_by")
        .order_by("created_at", "id")
    )


def _run_item(run: RescoreRun, now: datetime) -> Item:
    since = run.compute_finished_at or run.created_at
    return Item(
        title=_("Run #%(number)s held by the circuit breaker, started by %(who)s")
        % {
            "number": run.pk,
            "who": run.started_by.username if run.started_by else run.get_trigger_display(),
        },
        url=reverse("decisions:run", args=[run.pk]),
        since=since,
        age=age_label(since, now),
        detail=run.breaker_reason,
    )


# --------------------------------------------------------------------------
# Sent back to them, with the reason (shown SENT_BACK_DAYS)


def _rejections(since: datetime) -> QuerySet[AppealEvent]:
    return AppealEvent.objects.filter(
        appeal=OuterRef("pk"), move="outcome_rejected", at__gte=since
    ).order_by("-at", "-id")


def _outcomes_sent_back(user: Any, now: datetime) -> QuerySet[Appeal]:
    """Their open appeals whose outcome a lead sent back lately, not proposed again."""
    rejections = _rejections(_since(now))
    return (
        Appeal.objects.filter(assignee=user, state__in=Appeal.OPEN_STATES, outcome_pending=False)
        .filter(Exists(rejections))
        .select_related("account")
        .annotate(
            rejected_at=Subquery(rejections.values("at")[:1]),
            rejected_note=Subquery(rejections.values("note")[:1]),
            rejected_by=Subquery(rejections.values("actor__username")[:1]),
        )
        .order_by("-rejected_at", "-id")
    )


def _outcome_sent_back_item(appeal: Any, now: datetime) -> Item:
    return Item(
        title=_("Your outcome of appeal #%(number)s on %(account)s was sent back")
        % {"number": appeal.pk, "account": appeal.account.reference},
        url=reverse("appeals:detail", args=[appeal.pk]),
        since=appeal.rejected_at,
        age=age_label(appeal.rejected_at, now),
        reason=appeal.rejected_note or _("No reason was written."),
        reason_by=appeal.rejected_by or "",
    )


def _policies_sent_back(user: Any, now: datetime) -> QuerySet[Policy]:
    """Their drafts that a second admin sent back lately (a rejection leaves a draft
    with `reviewed_at`; an approval never leaves one)."""
    rejected_by = Subquery(
        PolicyEvent.objects.filter(policy=OuterRef("pk"), action=PolicyEvent.Action.REJECTED)
        .order_by("-at", "-id")
        .values("actor__username")[:1]
    )
    return (
        Policy.objects.filter(state=Policy.State.DRAFT, author=user, reviewed_at__gte=_since(now))
        .annotate(rejected_by=rejected_by)
        .order_by("-reviewed_at", "-version")
    )


def _policy_sent_back_item(policy: Any, now: datetime) -> Item:
    return Item(
        title=_("Your policy v%(version)s was sent back") % {"version": policy.version},
        url=reverse("policies:version", args=[policy.version]),
        since=policy.reviewed_at,
        age=age_label(policy.reviewed_at, now),
        reason=policy.review_comment or _("No reason was written."),
        reason_by=policy.rejected_by or "",
    )


def _overrides_sent_back(user: Any, now: datetime) -> QuerySet[OverrideRequest]:
    """Their override requests rejected lately, until they propose again on that account."""
    proposed_again = OverrideRequest.objects.filter(
        account=OuterRef("account"), requested_by=user, created_at__gt=OuterRef("decided_at")
    )
    return (
        OverrideRequest.objects.filter(
            requested_by=user, state=OverrideRequest.State.REJECTED, decided_at__gte=_since(now)
        )
        .exclude(Exists(proposed_again))
        .select_related("account", "decided_by")
        .order_by("-decided_at", "-id")
    )


def _override_sent_back_item(request: OverrideRequest, now: datetime) -> Item:
    return Item(
        title=_("Your override of %(account)s to %(limit)s was rejected")
        % {"account": request.account.reference, "limit": money(request.new_limit)},
        url=reverse("accounts:detail", args=[request.account.reference]) + "#sent-back-heading",
        since=request.decided_at,
        age=age_label(request.decided_at, now),
        reason=request.review_note or _("No reason was written."),
        reason_by=request.decided_by.username if request.decided_by else "",
    )


# --------------------------------------------------------------------------
# Assigned to them; their drafts


def _appeals_assigned(user: Any, now: datetime) -> QuerySet[Appeal]:
    """Their open appeals, not snoozed past now, not waiting for a lead, and not
    already listed as sent back."""
    return (
        Appeal.objects.filter(assignee=user, state__in=Appeal.OPEN_STATES, outcome_pending=False)
        .filter(Q(snoozed_until__isnull=True) | Q(snoozed_until__lte=now))
        .exclude(Exists(_rejections(_since(now))))
        .select_related("account")
        .order_by("sla_due", "id")
    )


def _appeal_item(appeal: Appeal, now: datetime) -> Item:
    return Item(
        title=_("Appeal #%(number)s on %(account)s (%(state)s), due %(due)s")
        % {
            "number": appeal.pk,
            "account": appeal.account.reference,
            "state": appeal.get_state_display(),
            "due": timezone.localtime(appeal.sla_due).strftime("%Y-%m-%d %H:%M"),
        },
        url=reverse("appeals:detail", args=[appeal.pk]),
        since=appeal.created_at,
        age=age_label(appeal.created_at, now),
        detail=appeal.get_category_display(),
    )


def _drafts(user: Any, now: datetime) -> QuerySet[Policy]:
    return (
        Policy.objects.filter(state=Policy.State.DRAFT, author=user)
        .exclude(reviewed_at__gte=_since(now))
        .order_by("created_at", "version")
    )


def _draft_item(policy: Policy, now: datetime) -> Item:
    return Item(
        title=_("Draft policy v%(version)s") % {"version": policy.version},
        url=reverse("policies:version", args=[policy.version]),
        since=policy.created_at,
        age=age_label(policy.created_at, now),
        detail=policy.rationale,
    )


# (group key, heading, empty text, sources), in the page's order.
GROUPS: list[tuple[str, Any, Any, list[Source]]] = [
    (
        "approvals",
        gettext_lazy("Waiting for your approval"),
        gettext_lazy("Nothing waits for your approval."),
        [
            Source("overrides", perms.APPROVE_OVERRIDE, _overrides_to_approve, _override_item),
            Source("outcomes", perms.LEAD_APPEALS, _outcomes_to_approve, _outcome_item),
            Source("policies", perms.APPROVE_POLICY, _policies_to_approve, _policy_item),
            Source("runs", perms.START_RESCORE, _runs_to_approve, _run_item),
        ],
    ),
    (
        "sent_back",
        gettext_lazy("Sent back to you"),
        gettext_lazy("Nothing was sent back to you in the last %(days)s days."),
        [
            Source("outcomes", perms.WORK_APPEALS, _outcomes_sent_back, _outcome_sent_back_item),
            Source("policies", perms.EDIT_POLICY, _policies_sent_back, _policy_sent_back_item),
            Source(
                "overrides", perms.PROPOSE_OVERRIDE, _overrides_sent_back, _override_sent_back_item
            ),
        ],
    ),
    (
        "appeals",
        gettext_lazy("Appeals assigned to you"),
        gettext_lazy("No open appeal is assigned to you."),
        [Source("appeals", perms.WORK_APPEALS, _appeals_assigned, _appeal_item)],
    ),
    (
        "drafts",
        gettext_lazy("Your drafts"),
        gettext_lazy("You have no policy draft to finish."),
        [Source("drafts", perms.EDIT_POLICY, _drafts, _draft_item)],
    ),
]


def _sources(user: Any) -> list[tuple[str, Any, Any, list[Source]]]:
    """The groups and sources the person's roles can have; a group with none is left out."""
    mine = []
    for key, heading, empty, sources in GROUPS:
        theirs = [source for source in sources if may(user, source.permission)]
        if theirs:
            mine.append((key, heading, empty, theirs))
    return mine


def my_work(user: Any, *, now: datetime | None = None) -> list[Group]:
    """The page's groups, each with its count and its oldest (or newest sent back) rows."""
    now = now or timezone.now()
    groups = []
    for key, heading, empty, sources in _sources(user):
        group = Group(key=key, heading=str(heading), empty=str(empty) % {"days": SENT_BACK_DAYS})
        for source in sources:
            rows = source.rows(user, now)
            first = list(rows[:ROWS_PER_SOURCE])
            # A COUNT only when the first rows may not be all of them.
            group.count += len(first) if len(first) < ROWS_PER_SOURCE else rows.count()
            group.items += [source.item(row, now) for row in first]
        groups.append(group)
    return groups


def waiting_count(user: Any, *, now: datetime | None = None) -> int:
    """How many items wait for the person: the sum of the page's counts."""
    now = now or timezone.now()
    return sum(
        source.rows(user, now).count()
        for _key, _heading, _empty, sources in _sources(user)
        for source in sources
    )


class NavCount:
    """The navigation's My work entry, read only when a template asks for it (HTMX
    partials rendered with the same context processor never do)."""

    def __init__(self, user: Any, *, count: int | None = None) -> None:
        self.user = user
        if count is not None:  # already counted (the My work page itself)
            self.__dict__["count"] = count

    @cached_property
    def shown(self) -> bool:
        return has_work(self.user)

    @cached_property
    def count(self) -> int:
        return waiting_count(self.user) if self.shown else 0


def override_rejections_on_account(account_id: int, user: Any) -> list[OverrideRequest]:
    """The person's override requests on this account rejected lately, with the reason
    (the account page shows them to the proposer only)."""
    since = _since(timezone.now())
    return list(
        OverrideRequest.objects.filter(
            account_id=account_id,
            requested_by=user,
            state=OverrideRequest.State.REJECTED,
            decided_at__gte=since,
        )
        .select_related("decided_by")
        .order_by("-decided_at", "-id")[:5]
    )

"""Reads of the appeals app for pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.db.models import Count, Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import AccountSignals
from accounts.selectors import users_with_permission
from appeals.models import Appeal, Evidence
from appeals.reevaluation import (
    VERIFIABLE,
    EvidenceValueError,
    Reevaluation,
    reevaluate,
    verified_values,
)
from decisions import policy, wording
from decisions.models import Policy, ReasonCode
from decisions.selectors import ReasonRow, explained_reasons, reason_catalogue, reason_rows


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


def appeal_worker(user_id: int) -> Any:
    """The user a lead chose for an appeal, or None; the service says whether that
    user may work appeals."""
    return User.objects.filter(pk=user_id, is_active=True).first()


def account_signals(account_id: int) -> dict[str, Any] | None:
    signals = AccountSignals.objects.filter(account_id=account_id).first()
    return signals.as_dict() if signals else None


@dataclass(frozen=True)
class ResponsePreview:
    """What the customer will read, before the handler confirms an outcome."""

    outcome: str
    limit: Any  # restored to; None when the decision stands
    reevaluation: Reevaluation | None
    # (language code, its name, what changed (a sentence, or ""), the reasons named)
    notices: list[tuple[str, str, str, list[ReasonRow]]]


PREVIEW_LANGUAGES = (("zh-hans", "简体中文"), ("en", "English"))


def response_preview(
    appeal: Appeal, *, outcome: str, limit: Any, verified: dict[str, Any]
) -> ResponsePreview:
    """The response in each language; a re-evaluation is worked out to show its result,
    and the response says what it changed and names its own reasons, with the figures.

    Raises ValueError with a message for the handler when the values are unusable."""
    result = None
    active = None
    codes: list[str] = []
    if outcome == Appeal.Outcome.REEVALUATED:
        active, result = reevaluation(appeal, appeal.account, verified_for(appeal, verified))
        limit = result.target
        # The re-evaluation's own reasons: what still limits the line (none when nothing does).
        codes = [c for c in result.outcome.reasons
                 if c not in (policy.GOOD_HISTORY, policy.REOPENED)]  # fmt: skip
    elif outcome == Appeal.Outcome.FULL:
        limit = appeal.decision.old_limit if appeal.decision else None
    elif outcome == Appeal.Outcome.PARTIAL and not limit:
        raise ValueError(_("Enter the limit a partial restoration restores to."))
    elif outcome == Appeal.Outcome.UPHELD:
        limit = None
        codes = list(appeal.decision.reasons) if appeal.decision else []
    catalogue = reason_catalogue(codes)
    notices = []
    for language, name in PREVIEW_LANGUAGES:
        with translation.override(language):
            notices.append((language, name, _what_changed(result), _reasons(
                appeal, result, active, codes, catalogue, language)))  # fmt: skip
    return ResponsePreview(outcome, limit, result, notices)


def _what_changed(result: Reevaluation | None) -> str:
    if result is None:
        return ""
    verified = "; ".join(
        f"{wording.label(name)} {wording.value(name, value)}"
        for name, value in result.signals.items()
        if name in VERIFIABLE and value not in (None, False)
    )
    return _("With the proof you sent (%(verified)s), our assessment of your account went "
             "from band %(before)s to band %(after)s.") % {
        "verified": verified, "before": result.band_before, "after": result.outcome.band,
    }  # fmt: skip


def _reasons(
    appeal: Appeal,
    result: Reevaluation | None,
    active: Policy | None,
    codes: list[str],
    catalogue: dict[str, ReasonCode],
    language: str,
) -> list[ReasonRow]:
    if result is not None and active is not None:
        rules = policy.parse_policy(active.rules)
        scored = result.outcome
        deciding = policy.deciding_rule(
            scored.action, scored.triggers, limit=scored.old_limit,
            band_index=[b.name for b in rules.bands].index(scored.band),
            compiled=policy.compile_rules(rules),
        )  # fmt: skip
        return explained_reasons(
            codes, catalogue, language, rules=rules, triggers=scored.triggers,
            inputs=result.signals, old_limit=result.start_limit, band=scored.band,
            deciding=deciding,
            figure=scored.new_limit_decimal if scored.action == policy.REDUCE else None,
        )  # fmt: skip
    if appeal.decision is None:
        return []
    return reason_rows(appeal.decision, catalogue, language)


def verified_for(appeal: Appeal, raw: dict[str, Any] | None) -> dict[str, Any]:
    """The values a re-evaluation rests on, checked; the proof must be on file.

    Raises EvidenceValueError with a message for the handler."""
    raw = raw or {}
    values = verified_values(
        monthly_income=raw.get("monthly_income"),
        provident_fund=bool(raw.get("provident_fund")),
        assets=raw.get("assets"),
    )
    if not appeal.evidence.exists():
        raise EvidenceValueError(
            _("Upload the evidence first: a re-evaluation rests on proof kept with the appeal.")
        )
    return values


def evidence_item(evidence_id: int) -> Evidence | None:
    return Evidence.objects.filter(pk=evidence_id).first()


def sla_targets() -> dict[str, int]:
    from appeals.models import SlaTarget

    return dict(SlaTarget.objects.values_list("category", "hours"))


def start_point(appeal: Appeal, account: Any) -> tuple[Decimal, str]:
    """The limit and status a re-evaluation starts from: before the contested
    decision when it lowered the limit or closed the line, else as they are now."""
    contested = appeal.decision
    if contested is not None and contested.old_limit > account.current_limit:
        return contested.old_limit, contested.old_status
    return account.current_limit, account.status


def reevaluation(
    appeal: Appeal, account: Any, verified: dict[str, Any]
) -> tuple[Policy, Reevaluation]:
    """The account scored by the active policy with the evidence's verified values."""
    active = Policy.objects.filter(state=Policy.State.ACTIVE).first()
    if active is None:
        raise LookupError("No policy version is active.")
    signals = AccountSignals.objects.filter(account_id=account.pk).first()
    start_limit, start_status = start_point(appeal, account)
    return active, reevaluate(
        policy.compile_rules(policy.parse_policy(active.rules)),
        signals.as_dict() if signals else {},
        verified,
        score_before=account.score,
        band_before=account.band,
        start_limit=start_limit,
        start_status=start_status,
        limit_now=account.current_limit,
        good_cycles=account.good_cycles,
    )

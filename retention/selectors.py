"""Reads of the retention app: the periods in force, what is due, what was removed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Exists, OuterRef, QuerySet
from django.utils.translation import gettext_lazy as _

from accounts.models import PersonalDataReveal, PersonalDataSearch
from api.models import ApiCall, SignalEvent
from appeals.models import Appeal, AppealEvent, Evidence
from decisions.models import Notice
from retention import rules
from retention.models import RetentionPrune

CLOSED_APPEALS = (Appeal.State.CLOSED, Appeal.State.WITHDRAWN)
# A notice in one of these states is done with; pending and retrying ones are never pruned.
FINISHED_NOTICES = (Notice.State.DELIVERED, Notice.State.NOT_REQUIRED, Notice.State.DEAD)

# What each category's floor meets, in the page's words (rules.Rule.meets in English).
MEETS = {
    rules.API_CALLS: _("EU AI Act Art. 12 and 26(6): automatic logs kept at least six months"),
    rules.SIGNAL_EVENTS: _(
        "At least the idempotency window: a resent event id answers “duplicate” that long"
    ),
    rules.APPEAL_EVIDENCE: _("Reg B §202.12(b): records kept 25 months; counted from closing"),
    rules.REVEALS: _("PIPL Art. 55–56: records kept three years"),
    rules.NOTICES: _("Reg B §202.12(b): records kept 25 months after the notice"),
}
# Which records of a category go.
SCOPE = {
    rules.API_CALLS: _("every call to the integration API"),
    rules.SIGNAL_EVENTS: _("the signal events taken, by their event ids"),
    rules.APPEAL_EVIDENCE: _(
        "files and their rows, of closed or withdrawn appeals only; the appeal's timeline "
        "keeps each file's name, size and SHA-256"
    ),
    rules.REVEALS: _("who saw unmasked personal data or searched a whole phone number"),
    rules.NOTICES: _("delivered, not required and dead-letter notices; never pending ones"),
}


def days_of(category: str) -> int:
    return int(getattr(settings, rules.RULE_OF[category].setting))


def settings_in_force() -> dict[str, Any]:
    """Setting name → value, for every retention period (and the idempotency window)."""
    return {rule.setting: getattr(settings, rule.setting, None) for rule in rules.RULES}


def configuration_problems() -> list[str]:
    return rules.problems(
        settings_in_force(),
        idempotency_days=getattr(settings, "SIGNAL_EVENT_IDEMPOTENCY_DAYS", None),
        batch=getattr(settings, "RETENTION_BATCH_SIZE", None),
    )


def closed_evidence(cutoff: datetime) -> QuerySet[Evidence]:
    """Evidence files of appeals closed or withdrawn before `cutoff` (the time of the
    step that closed them); an open appeal's evidence is never among them."""
    closing = AppealEvent.objects.filter(
        appeal=OuterRef("appeal"), to_state__in=CLOSED_APPEALS, at__lt=cutoff
    )
    return Evidence.objects.filter(appeal__state__in=CLOSED_APPEALS).filter(Exists(closing))


def due(category: str, cutoff: datetime) -> list[QuerySet[Any]]:
    """The records of a category that are past `cutoff`, oldest first, per table."""
    if category == rules.API_CALLS:
        return [ApiCall.objects.filter(at__lt=cutoff).order_by("at", "id")]
    if category == rules.SIGNAL_EVENTS:
        return [SignalEvent.objects.filter(received_at__lt=cutoff).order_by("received_at", "id")]
    if category == rules.APPEAL_EVIDENCE:
        return [closed_evidence(cutoff).order_by("id")]
    if category == rules.REVEALS:
        return [
            PersonalDataReveal.objects.filter(revealed_at__lt=cutoff).order_by("revealed_at", "id"),
            PersonalDataSearch.objects.filter(searched_at__lt=cutoff).order_by("searched_at", "id"),
        ]
    if category == rules.NOTICES:
        return [
            Notice.objects.filter(state__in=FINISHED_NOTICES, created_at__lt=cutoff).order_by(
                "created_at", "id"
            )
        ]
    raise ValueError(f"unknown retention category {category!r}")


@dataclass(frozen=True)
class Period:
    category: str
    label: str
    setting: str
    days: int
    floor: int
    meets: str
    scope: str
    last: RetentionPrune | None


def retention_overview() -> list[Period]:
    """Per category: the period in force, its floor, the rule it meets, the last prune."""
    latest = {
        row.category: row
        for row in RetentionPrune.objects.order_by("category", "-finished_at", "-id").distinct(
            "category"
        )
    }
    labels = dict(RetentionPrune.Category.choices)
    window = int(settings.SIGNAL_EVENT_IDEMPOTENCY_DAYS)
    return [
        Period(
            category=rule.category,
            label=str(labels[rule.category]),
            setting=rule.setting,
            days=days_of(rule.category),
            floor=rule.floor_days if rule.floor_days is not None else window,
            meets=str(MEETS[rule.category]),
            scope=str(SCOPE[rule.category]),
            last=latest.get(rule.category),
        )
        for rule in rules.RULES
    ]


def prunes_recent(*, limit: int = 50) -> list[RetentionPrune]:
    return list(RetentionPrune.objects.order_by("-finished_at", "-id")[:limit])


def cutoff_of(category: str, now: datetime) -> datetime:
    return now - timedelta(days=days_of(category))

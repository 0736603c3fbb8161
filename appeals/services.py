"""Writes of the appeals app: intake, the queue's moves, each one transaction.

Every move goes through `appeals.states` and leaves an `AppealEvent` (who,
what, when) in the same transaction; an illegal move changes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import permissions as perms
from accounts.access import may
from accounts.models import Account

# When a category has no target row (the migration creates them).
from appeals import steering
from appeals.evidence_files import evidence_add, evidence_check
from appeals.models import Appeal, Evidence, SlaTarget
from appeals.workflow import (
    AppealError,
    event_record,
    locked,
    move,
    note_checked,
    require,
    require_owner,
)
from config.text import STATEMENT_MAX, too_long
from decisions.errors import DecisionError
from decisions.models import LimitDecision
from decisions.services import parse_amount

DEFAULT_SLA_HOURS = 72
# A category's own default when its row is missing (migration appeals/0013 creates it):
# a review request is answered sooner (docs/architecture.md, "Human review on request").
CATEGORY_DEFAULT_SLA_HOURS: dict[str, int] = {Appeal.Category.REVIEW: 24}


def sla_hours(category: str) -> int:
    target = SlaTarget.objects.filter(category=category).values_list("hours", flat=True).first()
    return target or CATEGORY_DEFAULT_SLA_HOURS.get(category, DEFAULT_SLA_HOURS)


@dataclass(frozen=True)
class IntakeResult:
    appeal: Appeal
    duplicate: bool  # True: an open appeal on the same decision got this contact


def appeal_intake(
    *,
    account: Account,
    actor: Any,
    channel: str,
    category: str,
    statement: str,
    decision_id: int | None = None,
    requested_limit: Any = None,
    priority: int = Appeal.Priority.NORMAL,
    via: str = "",
    review_kind: str = "",
) -> IntakeResult:
    """Record an appeal, e.g. for a hotline caller. A second contact about a
    decision that already has an open appeal joins that appeal instead.

    `actor` is the staff member; an integration (API key with appeals:write,
    checked by the API) passes `actor=None` and its name as `via`. A new appeal goes
    round robin to a handler in the rotation (`steering.appeal_auto_assign`), in
    the same transaction; with no one eligible it stays unassigned.

    Category "review" (a request for an explanation or a human review) needs its
    `review_kind` and is recorded through `appeals.review_requests`, which checks the
    decision is an automated one; it joins only an open review request of the same
    decision, never an open appeal of another category."""
    if actor is not None or not via:
        require(actor, perms.OPEN_ACCOUNTS, _("Your role cannot record appeals."))
    statement = (statement or "").strip()
    if len(statement) < 5:
        raise AppealError(_("Write down what the customer says (at least 5 characters)."))
    if problem := too_long(statement, STATEMENT_MAX):
        raise AppealError(problem)
    if channel not in Appeal.Channel.values:
        raise AppealError(_("Choose how the appeal came in."))
    if category not in Appeal.Category.values:
        raise AppealError(_("Choose what the customer asks for."))
    is_review = category == Appeal.Category.REVIEW
    if is_review and review_kind not in Appeal.ReviewKind.values:
        raise AppealError(_("Choose whether the customer asks for an explanation or a review."))
    if not is_review and review_kind:
        raise AppealError(_("Only a review request says what kind of review it asks for."))
    if priority not in Appeal.Priority.values:
        raise AppealError(_("Choose a priority."))
    amount: Decimal | None = None
    if requested_limit not in (None, ""):
        try:
            amount = parse_amount(requested_limit)
        except DecisionError as error:
            raise AppealError(str(error)) from None
    if (
        decision_id is not None
        and not LimitDecision.objects.filter(pk=decision_id, account=account).exists()
    ):
        raise AppealError(_("The contested decision is not one of this account's."))
    now = timezone.now()
    try:
        with transaction.atomic():
            appeal = Appeal.objects.create(
                account=account,
                decision_id=decision_id,
                channel=channel,
                category=category,
                statement=statement,
                review_kind=review_kind,
                requested_limit=amount,
                priority=priority,
                sla_due=now + timedelta(hours=sla_hours(category)),
                created_at=now,
            )
            received = str(Appeal.Channel(channel).label) + (f" (via {via})" if via else "")
            event_record(appeal, "received", actor, received)
            steering.appeal_auto_assign(appeal)
            return IntakeResult(appeal, duplicate=False)
    except IntegrityError:
        # an open appeal on this decision exists (one_open_appeal_per_decision), or an
        # open review request (one_open_review_per_decision)
        pass
    with transaction.atomic():
        same_kind = Appeal.objects.filter(category=Appeal.Category.REVIEW)
        if not is_review:
            same_kind = Appeal.objects.exclude(category=Appeal.Category.REVIEW)
        appeal = (
            same_kind.select_for_update()
            .filter(decision_id=decision_id, state__in=Appeal.OPEN_STATES)
            .get()
        )
        event_record(
            appeal, "duplicate_contact", actor, f"{Appeal.Channel(channel).label}: {statement}"
        )
    return IntakeResult(appeal, duplicate=True)


def appeal_claim_next(*, handler: Any) -> Appeal | None:
    """Give the handler the highest-priority, oldest-due unassigned appeal that is
    not snoozed.

    `FOR UPDATE SKIP LOCKED`: two handlers claiming at once get different ones."""
    require(handler, perms.WORK_APPEALS, _("Your role cannot work appeals."))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT id FROM appeals_appeal
            WHERE state = 'new' AND assignee_id IS NULL
              AND (snoozed_until IS NULL OR snoozed_until <= now())
            ORDER BY priority DESC, sla_due, id
            LIMIT 1
            FOR UPDATE SKIP LOCKED
            """
        )
        row = cursor.fetchone()
        if row is None:
            return None
        appeal = Appeal.objects.get(pk=row[0])
        appeal.assignee = handler
        move(appeal, "claim", handler)
    return appeal


def appeal_assign(*, appeal_id: int, assignee: Any, lead: Any) -> Appeal:
    require(lead, perms.LEAD_APPEALS, _("Only an appeal lead can reassign."))
    if not may(assignee, perms.WORK_APPEALS):
        raise AppealError(_("%(name)s cannot work appeals.") % {"name": assignee.username})
    with transaction.atomic():
        appeal = locked(appeal_id)
        appeal.assignee = assignee
        move(appeal, "assign", lead, assignee.username)
    return appeal


def appeal_request_info(*, appeal_id: int, actor: Any, note: str) -> Appeal:
    """Ask the customer for information: the SLA clock stops until they reply."""
    require(actor, perms.WORK_APPEALS, _("Your role cannot work appeals."))
    text = note_checked(
        note, minimum=5, too_short=_("Write what the customer should send (at least 5 characters).")
    )
    with transaction.atomic():
        appeal = locked(appeal_id)
        require_owner(appeal, actor)
        appeal.sla_paused_at = timezone.now()
        move(appeal, "request_info", actor, text)
    return appeal


def appeal_customer_replied(*, appeal_id: int, actor: Any, note: str = "") -> Appeal:
    """The customer answered: back in review, the SLA due time moved on by the pause."""
    require(actor, perms.WORK_APPEALS, _("Your role cannot work appeals."))
    text = note_checked(note)
    with transaction.atomic():
        appeal = locked(appeal_id)
        require_owner(appeal, actor)
        if appeal.sla_paused_at is not None:
            appeal.sla_due += timezone.now() - appeal.sla_paused_at
            appeal.sla_paused_at = None
        move(appeal, "customer_replied", actor, text)
    return appeal


def appeal_escalate(*, appeal_id: int, actor: Any, note: str) -> Appeal:
    require(actor, perms.WORK_APPEALS, _("Your role cannot work appeals."))
    text = note_checked(
        note, minimum=5, too_short=_("Write why the appeal goes to a lead (at least 5 characters).")
    )
    with transaction.atomic():
        appeal = locked(appeal_id)
        require_owner(appeal, actor)
        appeal.escalated = True
        move(appeal, "escalate", actor, text)
    return appeal


def appeal_withdraw(*, appeal_id: int, actor: Any, note: str = "") -> Appeal:
    require(actor, perms.WORK_APPEALS, _("Your role cannot work appeals."))
    text = note_checked(note)
    with transaction.atomic():
        appeal = locked(appeal_id)
        require_owner(appeal, actor)
        appeal.sla_paused_at = None
        move(appeal, "withdraw", actor, text)
    return appeal


def appeals_flag_sla_breaches() -> int:
    """Flag and escalate the open appeals past their SLA (clock running), once each.

    Run by beat; returns how many it flagged."""
    now = timezone.now()
    flagged = 0
    with transaction.atomic():
        overdue = Appeal.objects.select_for_update(skip_locked=True).filter(
            state__in=Appeal.OPEN_STATES,
            sla_paused_at__isnull=True,
            sla_due__lt=now,
            sla_breach_flagged=False,
        )
        for appeal in overdue:
            appeal.sla_breach_flagged = True
            appeal.escalated = True
            appeal.save(update_fields=["sla_breach_flagged", "escalated", "updated_at"])
            event_record(appeal, "sla_breached", None, f"due {appeal.sla_due:%Y-%m-%d %H:%M} UTC")
            flagged += 1
    return flagged


class UnknownAccount(AppealError):
    pass


@dataclass(frozen=True)
class IntegrationAppeal:
    intake: IntakeResult
    evidence: list[Evidence]


def appeal_from_integration(
    *,
    reference: str,
    channel: str,
    category: str,
    statement: str,
    requested_limit: Any,
    uploads: list[Any],
    via: str,
) -> IntegrationAppeal:
    """An appeal sent by an integration (help centre, written applications), on the
    account's latest decision, with its evidence files: every file is checked first,
    and a refused one means nothing is recorded."""
    account = Account.objects.filter(reference=reference).first()
    if account is None:
        raise UnknownAccount(_("No account with this reference."))
    for upload in uploads:
        try:
            evidence_check(upload)
        except AppealError as error:
            raise AppealError(f"{upload.name}: {error}") from None
    latest = account.decisions.order_by("-sequence").values_list("pk", flat=True).first()
    with transaction.atomic():
        intake = appeal_intake(
            account=account,
            actor=None,
            channel=channel,
            category=category,
            statement=statement,
            decision_id=latest,
            requested_limit=requested_limit,
            via=via,
        )
        items = [
            evidence_add(appeal_id=intake.appeal.pk, actor=None, upload=upload, via=via)
            for upload in uploads
        ]
    return IntegrationAppeal(intake, items)


def sla_targets_set(*, lead: Any, hours: dict[str, int]) -> list[SlaTarget]:
    """Set the hours each category may take; new appeals get the new due times,
    open ones keep theirs."""
    require(lead, perms.LEAD_APPEALS, _("Only an appeal lead can set SLA targets."))
    problems = [
        category
        for category, value in hours.items()
        if category not in Appeal.Category.values or not 1 <= value <= 720
    ]
    if problems or not hours:
        raise AppealError(_("Each target is a whole number of hours from 1 to 720."))
    with transaction.atomic():
        return [
            SlaTarget.objects.update_or_create(
                category=category, defaults={"hours": value, "updated_by": lead}
            )[0]
            for category, value in sorted(hours.items())
        ]

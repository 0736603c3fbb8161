"""A person's change of one account: a limit override (four eyes above the
threshold) and freezing or unfreezing the line. Each is written through
decisions.services.decision_record with its audit row."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import permissions as perms
from accounts.access import may
from accounts.models import Account
from config.text import JUSTIFICATION_MAX, too_long
from decisions.errors import DecisionError, StaleAccount
from decisions.models import LimitDecision, OverrideRequest
from decisions.services import (
    Change,
    decision_record,
    justification_checked,
    locked_account,
    parse_amount,
)


@dataclass(frozen=True)
class OverrideResult:
    decision: LimitDecision | None
    request: OverrideRequest | None

    @property
    def pending(self) -> bool:
        return self.decision is None


def account_override_limit(
    *, account_id: int, expected_version: int, new_limit: Any, actor: Any, justification: str
) -> OverrideResult:
    """Set a limit by hand. Above OVERRIDE_APPROVAL_ABOVE it waits for a second person."""
    if not may(actor, perms.PROPOSE_OVERRIDE):
        raise DecisionError(_("Your role cannot override limits."))
    amount = parse_amount(new_limit)
    text = justification_checked(justification)
    with transaction.atomic(durable=True):
        account = locked_account(account_id, expected_version)
        if account.status != Account.Status.ACTIVE:
            raise DecisionError(
                _("Only an active line can be overridden; this one is %(status)s.")
                % {"status": account.get_status_display()}
            )
        if amount == account.current_limit:
            raise DecisionError(_("The account already has this limit."))
        if amount > settings.OVERRIDE_APPROVAL_ABOVE:
            if account.override_requests.filter(state=OverrideRequest.State.PENDING).exists():
                raise DecisionError(
                    _("An override of this account is already waiting for approval.")
                )
            request = OverrideRequest.objects.create(
                account=account,
                new_limit=amount,
                justification=text,
                requested_by=actor,
                account_version=account.version,
            )
            return OverrideResult(decision=None, request=request)
        decision = decision_record(
            change=_override_change(
                account,
                amount,
                text,
                actor_id=actor.pk,
                idempotency_key=f"override:{account.pk}:v{account.version}",
            )
        )
    return OverrideResult(decision=decision, request=None)


def _override_change(
    account: Account,
    new_limit: Decimal,
    justification: str,
    *,
    actor_id: int,
    idempotency_key: str,
    approver_id: int | None = None,
) -> Change:
    return Change(
        account_id=account.pk,
        expected_version=account.version,
        action=LimitDecision.Action.SET,
        source=LimitDecision.Source.OVERRIDE,
        new_limit=new_limit,
        new_status=account.status,
        reasons=("MANUAL_OVERRIDE",),
        justification=justification,
        actor_id=actor_id,
        approver_id=approver_id,
        idempotency_key=idempotency_key,
    )


def override_approve(*, request_id: int, approver: Any) -> LimitDecision:
    """A second person approves a pending override; the author never can."""
    if not may(approver, perms.APPROVE_OVERRIDE):
        raise DecisionError(_("Your role cannot approve overrides."))
    with transaction.atomic(durable=True):
        request = _pending_request(request_id)
        if request.requested_by_id == approver.pk:
            raise DecisionError(_("You cannot approve your own override: a second person must."))
        account = locked_account(request.account_id, None)
        if account.version != request.account_version:
            raise StaleAccount(
                _(
                    "The account changed after this override was proposed; "
                    "reject it and propose again."
                )
            )
        decision = decision_record(
            change=_override_change(
                account,
                request.new_limit,
                request.justification,
                actor_id=request.requested_by_id,
                approver_id=approver.pk,
                idempotency_key=f"override-request:{request.pk}",
            )
        )
        request.state = OverrideRequest.State.APPROVED
        request.decided_by = approver
        request.decided_at = timezone.now()
        request.decision = decision
        request.save()
    return decision


# A rejection says why, to the person who proposed it (their My work and the account page).
REJECT_REASON_MIN = 10


def override_reject(*, request_id: int, approver: Any, reason: str) -> OverrideRequest:
    """A second person sends a pending override back, with the reason the proposer reads."""
    if not may(approver, perms.APPROVE_OVERRIDE):
        raise DecisionError(_("Your role cannot reject overrides."))
    text = (reason or "").strip()
    if len(text) < REJECT_REASON_MIN:
        raise DecisionError(
            _(
                "Write why the override is rejected (at least %(count)d characters): "
                "the person who proposed it reads it."
            )
            % {"count": REJECT_REASON_MIN}
        )
    if problem := too_long(text, JUSTIFICATION_MAX):
        raise DecisionError(problem)
    with transaction.atomic(durable=True):
        request = _pending_request(request_id)
        request.state = OverrideRequest.State.REJECTED
        request.decided_by = approver
        request.decided_at = timezone.now()
        request.review_note = text
        request.save()
    return request


def _pending_request(request_id: int) -> OverrideRequest:
    """The override request, locked, if it still waits for a decision."""
    request = OverrideRequest.objects.select_for_update().filter(pk=request_id).first()
    if request is None or request.state != OverrideRequest.State.PENDING:
        raise DecisionError(_("This override is no longer waiting for approval."))
    return request


def account_set_frozen(
    *, account_id: int, expected_version: int, frozen: bool, actor: Any, justification: str
) -> LimitDecision:
    """Freeze or unfreeze a line: a decision like any other, with its reason."""
    if not may(actor, perms.PROPOSE_OVERRIDE):
        raise DecisionError(_("Your role cannot freeze or unfreeze accounts."))
    text = justification_checked(justification)
    with transaction.atomic(durable=True):
        account = locked_account(account_id, expected_version)
        wanted, needed = (
            (Account.Status.FROZEN, Account.Status.ACTIVE)
            if frozen
            else (Account.Status.ACTIVE, Account.Status.FROZEN)
        )
        if account.status != needed:
            raise DecisionError(
                _("Only an %(needed)s account can be %(verb)s; this one is %(status)s.")
                % {
                    "needed": Account.Status(needed).label,
                    "verb": _("frozen") if frozen else _("unfrozen"),
                    "status": account.get_status_display(),
                }
            )
        action = LimitDecision.Action.FREEZE if frozen else LimitDecision.Action.UNFREEZE
        return decision_record(
            change=Change(
                account_id=account.pk,
                expected_version=account.version,
                action=action,
                source=LimitDecision.Source.OVERRIDE,
                new_limit=account.current_limit,
                new_status=wanted,
                reasons=("FROZEN" if frozen else "UNFROZEN",),
                justification=text,
                actor_id=actor.pk,
                idempotency_key=f"{action}:{account.pk}:v{account.version}",
            ),
        )

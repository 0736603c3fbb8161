"""An appeal's outcome: a handler decides it (upheld, restored in full or in part, or
re-evaluated on verified evidence), a lead approves a large restoration, and the
restoration is a decision written through decisions.services (docs/architecture.md,
"Appeals")."""

from __future__ import annotations

from collections.abc import Mapping
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
from appeals import reevaluation, responses, states
from appeals.models import Appeal

# When a category has no target row (the migration creates them).
from appeals.workflow import (
    AppealError,
    event_record,
    locked,
    move,
    note_checked,
    require,
    require_owner,
)
from decisions import signal_intake
from decisions.errors import DecisionError
from decisions.models import LimitDecision
from decisions.services import Change, decision_record, parse_amount, scoring_inputs

# Outcomes that claim evidence: refused while the appeal has none.
EVIDENCE_OUTCOMES = frozenset({Appeal.Outcome.REEVALUATED})


def close_label_checked(label: str | None, *, required: bool) -> str:
    value = (label or "").strip()
    if not value and not required:
        return ""
    if value not in Appeal.CloseLabel.values:
        raise AppealError(
            _("Choose what the appeal showed (for instance: misjudged, or a correct cut).")
        )
    return value


def appeal_close(*, appeal_id: int, actor: Any, close_label: str = "", note: str = "") -> Appeal:
    """Close a decided appeal; "what the appeal showed" is required here (one chosen
    when deciding is kept unless another is chosen)."""
    require(actor, perms.WORK_APPEALS, _("Your role cannot work appeals."))
    text = note_checked(note)
    label = close_label_checked(close_label, required=False)
    with transaction.atomic():
        appeal = locked(appeal_id)
        require_owner(appeal, actor)
        if appeal.state != states.DECIDED:
            move(appeal, "close", actor)  # refused with the clear message
        label = label or appeal.close_label
        close_label_checked(label, required=True)
        appeal.close_label = label
        move(
            appeal,
            "close",
            actor,
            f"{Appeal.CloseLabel(label).label}" + (f": {text}" if text else ""),
        )
    return appeal


@dataclass(frozen=True)
class DecideResult:
    appeal: Appeal
    pending: bool  # waits for a lead's approval
    decision: LimitDecision | None  # the limit decision written, if any


def _outcome_target(appeal: Appeal, account: Account, outcome: str, limit: Any) -> Decimal | None:
    """The limit an outcome restores to (None: the decision stands)."""
    if outcome == Appeal.Outcome.UPHELD:
        return None
    contested = appeal.decision
    if outcome == Appeal.Outcome.FULL:
        if contested is None or contested.old_limit <= account.current_limit:
            raise AppealError(
                _("A full restoration needs a contested decision that lowered the limit.")
            )
        return contested.old_limit
    if outcome != Appeal.Outcome.PARTIAL:
        raise AppealError(_("Choose an outcome."))
    try:
        amount = parse_amount(limit)
    except DecisionError as error:
        raise AppealError(str(error)) from None
    ceiling = contested.old_limit if contested is not None else None
    if amount <= account.current_limit or (ceiling is not None and amount >= ceiling):
        raise AppealError(
            _("A partial restoration lies between the limit now (%(now)s) and before (%(before)s).")
            % {"now": account.current_limit, "before": ceiling if ceiling is not None else "—"}
        )
    return amount


def _verified(appeal: Appeal, raw: Mapping[str, Any] | None) -> dict[str, Any]:
    try:
        return responses.verified_for(appeal, dict(raw or {}))
    except reevaluation.EvidenceValueError as error:
        raise AppealError(str(error)) from None


def _reevaluated(appeal: Appeal, account: Account, values: dict[str, Any]) -> tuple[Any, Any]:
    try:
        return responses.reevaluation(appeal, account, values)
    except LookupError:
        raise AppealError(_("No policy version is active.")) from None


def appeal_decide(
    *,
    appeal_id: int,
    actor: Any,
    outcome: str,
    justification: str,
    limit: Any = None,
    verified: Mapping[str, Any] | None = None,
    close_label: str = "",
) -> DecideResult:
    """Decide an appeal. A restoration is a limit decision (source "appeal");
    above APPEAL_APPROVAL_ABOVE a restoration waits for a lead other than the person
    who proposed it (a lead's own too), and a
    closed line in its cool-down is restored only by a lead, with a written
    justification.

    "Re-evaluated": `verified` holds what the evidence proves (monthly_income,
    provident_fund, assets); the account is scored again with it and the policy
    gives the limit (see `appeals.reevaluation`); it, like any outcome in
    EVIDENCE_OUTCOMES, needs evidence on the appeal.

    `close_label` (Appeal.CloseLabel, "what the appeal showed") may be given now;
    closing the appeal requires it (`appeal_close`)."""
    require(actor, perms.WORK_APPEALS, _("Your role cannot work appeals."))
    text = note_checked(
        justification,
        minimum=10,
        too_short=_("Write the reason for the outcome (at least 10 characters)."),
    )
    label = close_label_checked(close_label, required=False)
    is_lead = may(actor, perms.LEAD_APPEALS)
    with transaction.atomic():
        appeal = locked(appeal_id)
        require_owner(appeal, actor)
        if appeal.outcome_pending:
            raise AppealError(_("An outcome of this appeal is already waiting for a lead."))
        if appeal.state != states.IN_REVIEW:
            move(appeal, "decide", actor)  # refused with the clear message
        if outcome in EVIDENCE_OUTCOMES and not appeal.evidence.exists():
            raise AppealError(
                _("Upload the evidence first: a re-evaluation rests on proof kept with the appeal.")
            )
        account = Account.objects.select_for_update(no_key=True).get(pk=appeal.account_id)
        if label:
            appeal.close_label = label
        if outcome == Appeal.Outcome.REEVALUATED:
            values = _verified(appeal, verified)
            target = _reevaluated(appeal, account, values)[1].target
            appeal.verified_signals = reevaluation.as_json(values)
        else:
            target = _outcome_target(appeal, account, outcome, limit)
            appeal.verified_signals = {}
        if target is not None and account.status == Account.Status.FROZEN:
            raise AppealError(
                _("Staff froze this line; unfreeze it on the account page before restoring it.")
            )
        in_cooldown = account.status == Account.Status.CLOSED and account.in_cooldown()
        if target is not None and in_cooldown and (not is_lead or len(text) < 20):
            raise AppealError(
                _(
                    "A closed line in its cool-down can only be restored by an appeal lead, "
                    "with a written justification of at least 20 characters."
                )
            )
        appeal.outcome, appeal.outcome_limit = outcome, target
        appeal.outcome_justification, appeal.outcome_by = text, actor
        # Four eyes: above the amount a second person approves, even a lead's own.
        if target is not None and target > settings.APPEAL_APPROVAL_ABOVE:
            appeal.outcome_pending = True
            appeal.save()
            event_record(
                appeal, "outcome_proposed", actor, f"{appeal.get_outcome_display()}: {target}"
            )
            return DecideResult(appeal, pending=True, decision=None)
        decision = _apply_outcome(appeal, account, actor, approver=None)
    return DecideResult(appeal, pending=False, decision=decision)


def _apply_outcome(
    appeal: Appeal, account: Account, actor: Any, *, approver: Any
) -> LimitDecision | None:
    """Write the restoration (if any) and mark the appeal decided; in the caller's transaction."""
    if appeal.outcome == Appeal.Outcome.REEVALUATED:
        decision, summary = _apply_reevaluation(appeal, account, approver)
    else:
        decision, summary = _restore(appeal, account, approver), appeal.get_outcome_display()
    appeal.outcome_decision = decision
    appeal.outcome_pending = False
    appeal.decided_at = timezone.now()
    showed = f" ({Appeal.CloseLabel(appeal.close_label).label})" if appeal.close_label else ""
    move(appeal, "decide", actor, f"{summary}: {appeal.outcome_justification}{showed}")
    return decision


def _restore(
    appeal: Appeal, account: Account, approver: Any, **scored: Any
) -> LimitDecision | None:
    """The limit decision of an outcome, through the one decision writer."""
    if appeal.outcome_limit is None:
        return None
    contested = appeal.decision
    above_before = contested is not None and appeal.outcome_limit > contested.old_limit
    try:
        return decision_record(
            change=Change(
                account_id=account.pk,
                expected_version=account.version,
                action=LimitDecision.Action.RAISE if above_before else LimitDecision.Action.RESTORE,
                source=LimitDecision.Source.APPEAL,
                new_limit=appeal.outcome_limit,
                new_status=Account.Status.ACTIVE,
                reasons=scored.pop("reasons", ("APPEAL_OUTCOME",)),
                justification=appeal.outcome_justification,
                actor_id=appeal.outcome_by_id,
                approver_id=approver.pk if approver else None,
                idempotency_key=f"appeal:{appeal.pk}",
                **scored,
            )
        )
    except DecisionError as error:
        raise AppealError(str(error)) from None


def _apply_reevaluation(
    appeal: Appeal, account: Account, approver: Any
) -> tuple[LimitDecision | None, str]:
    """Score the account again with the verified values, now; refuse when the result
    is no longer what was proposed (the account moved meanwhile)."""
    values = reevaluation.from_json(appeal.verified_signals)
    active, result = _reevaluated(appeal, account, values)
    if result.target != appeal.outcome_limit:
        raise AppealError(
            _(
                "The account changed since this re-evaluation was proposed (it now gives "
                "%(now)s instead of %(then)s); send it back and re-evaluate."
            )
            % {"now": result.target or "—", "then": appeal.outcome_limit or "—"}
        )
    signal_intake.signals_set_verified(account_id=account.pk, values=values, at=timezone.now())
    scored = result.outcome
    decision = _restore(
        appeal,
        account,
        approver,
        reasons=("APPEAL_OUTCOME", "VERIFIED_CAPACITY"),
        score_after=scored.score,
        band_after=scored.band,
        contributions=scored.contributions,
        triggers=scored.triggers,
        inputs=scoring_inputs(result.signals),
        policy_id=active.pk,
        policy_version=active.version,
        good_cycles=scored.good_cycles,
    )
    if decision is None:  # the limit stays; the score and band follow the new signals
        Account.objects.filter(pk=account.pk).update(score=scored.score, band=scored.band)
    summary = _("%(outcome)s: score %(before)s → %(after)s (band %(band)s), limit %(limit)s") % {
        "outcome": appeal.get_outcome_display(),
        "before": result.score_before,
        "after": scored.score,
        "band": scored.band,
        "limit": appeal.outcome_limit
        if decision
        else _("stays at %(now)s") % {"now": account.current_limit},
    }
    return decision, summary


def appeal_outcome_approve(*, appeal_id: int, lead: Any) -> DecideResult:
    """A lead approves a handler's large restoration; never the handler themself."""
    require(lead, perms.LEAD_APPEALS, _("Only an appeal lead can approve an outcome."))
    with transaction.atomic():
        appeal = locked(appeal_id)
        if not appeal.outcome_pending:
            raise AppealError(_("No outcome of this appeal waits for approval."))
        if appeal.outcome_by_id == lead.pk:
            raise AppealError(_("The person who proposed an outcome cannot approve it."))
        account = Account.objects.select_for_update(no_key=True).get(pk=appeal.account_id)
        decision = _apply_outcome(appeal, account, lead, approver=lead)
    return DecideResult(appeal, pending=False, decision=decision)


REJECT_REASON_MIN = 10


def appeal_outcome_reject(*, appeal_id: int, lead: Any, note: str) -> Appeal:
    """A lead sends a pending outcome back to the handler, saying why: the reason
    (at least REJECT_REASON_MIN characters) is the note of the "outcome_rejected"
    event, shown on the appeal page (and on the handler's "My work")."""
    require(lead, perms.LEAD_APPEALS, _("Only an appeal lead can reject an outcome."))
    text = note_checked(
        note,
        minimum=REJECT_REASON_MIN,
        too_short=_(
            "Write why the outcome goes back to the handler (at least 10 characters); "
            "the handler reads it on the appeal."
        ),
    )
    with transaction.atomic():
        appeal = locked(appeal_id)
        if not appeal.outcome_pending:
            raise AppealError(_("No outcome of this appeal waits for approval."))
        appeal.outcome, appeal.outcome_limit, appeal.outcome_pending = "", None, False
        appeal.close_label = ""  # it described the outcome sent back
        appeal.save()
        event_record(appeal, "outcome_rejected", lead, text)
    return appeal

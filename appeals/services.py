"""Writes of the appeals app: intake, the queue's moves, each one transaction.

Every move goes through `appeals.states` and leaves an `AppealEvent` (who,
what, when) in the same transaction; an illegal move changes nothing.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.access import may
from accounts.models import Account, AccountSignals
from accounts.services import scoring_inputs
from appeals import evidence, reevaluation, selectors, states
from appeals.models import Appeal, AppealEvent, Evidence, SlaTarget
from config.text import JUSTIFICATION_MAX, STATEMENT_MAX, too_long
from decisions.models import LimitDecision
from decisions.services import Change, DecisionError, decision_record, parse_amount

# When a category has no target row (the migration creates them).
DEFAULT_SLA_HOURS = 72
MOVE_LABELS = {
    "claim": gettext_lazy("be claimed"),
    "assign": gettext_lazy("be assigned"),
    "request_info": gettext_lazy("wait for information from the customer"),
    "customer_replied": gettext_lazy("take the customer's reply"),
    "escalate": gettext_lazy("be escalated"),
    "decide": gettext_lazy("be decided"),
    "close": gettext_lazy("be closed"),
    "withdraw": gettext_lazy("be withdrawn"),
}


class AppealError(Exception):
    pass


def _require(actor: Any, permission: str, message: str) -> None:
    if not may(actor, permission):
        raise AppealError(message)


def sla_hours(category: str) -> int:
    target = SlaTarget.objects.filter(category=category).values_list("hours", flat=True).first()
    return target or DEFAULT_SLA_HOURS


def _event(appeal: Appeal, move: str, actor: Any, note: str = "", before: str = "") -> None:
    AppealEvent.objects.create(
        appeal=appeal, move=move, from_state=before, to_state=appeal.state,
        actor=actor if actor is not None and actor.pk else None, note=note,
    )  # fmt: skip


def _move(appeal: Appeal, move: str, actor: Any, note: str = "") -> None:
    """Apply a state-machine move to a locked appeal and record it."""
    try:
        target = states.next_state(appeal.state, move)
    except states.IllegalMove:
        raise AppealError(
            _("This appeal is %(state)s: it cannot %(move)s now.")
            % {"state": appeal.get_state_display(), "move": MOVE_LABELS.get(move, move)}
        ) from None
    before = appeal.state
    appeal.state = target
    appeal.save()
    _event(appeal, move, actor, note, before)


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
) -> IntakeResult:
    """Record an appeal, e.g. for a hotline caller. A second contact about a
    decision that already has an open appeal joins that appeal instead.

    `actor` is the staff member; an integration (API key with appeals:write,
    checked by the API) passes `actor=None` and its name as `via`."""
    if actor is not None or not via:
        _require(actor, "accounts.open_accounts", _("Your role cannot record appeals."))
    statement = (statement or "").strip()
    if len(statement) < 5:
        raise AppealError(_("Write down what the customer says (at least 5 characters)."))
    if problem := too_long(statement, STATEMENT_MAX):
        raise AppealError(problem)
    if channel not in Appeal.Channel.values:
        raise AppealError(_("Choose how the appeal came in."))
    if category not in Appeal.Category.values:
        raise AppealError(_("Choose what the customer asks for."))
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
                account=account, decision_id=decision_id, channel=channel, category=category,
                statement=statement, requested_limit=amount, priority=priority,
                sla_due=now + timedelta(hours=sla_hours(category)), created_at=now,
            )  # fmt: skip
            received = str(Appeal.Channel(channel).label) + (f" (via {via})" if via else "")
            _event(appeal, "received", actor, received)
            return IntakeResult(appeal, duplicate=False)
    except IntegrityError:
        pass  # an open appeal on this decision exists (one_open_appeal_per_decision)
    with transaction.atomic():
        appeal = (
            Appeal.objects.select_for_update()
            .filter(decision_id=decision_id, state__in=Appeal.OPEN_STATES)
            .get()
        )
        _event(appeal, "duplicate_contact", actor, f"{Appeal.Channel(channel).label}: {statement}")
    return IntakeResult(appeal, duplicate=True)


def appeal_claim_next(*, handler: Any) -> Appeal | None:
    """Give the handler the highest-priority, oldest-due unassigned appeal.

    `FOR UPDATE SKIP LOCKED`: two handlers claiming at once get different ones."""
    _require(handler, "accounts.work_appeals", _("Your role cannot work appeals."))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT id FROM appeals_appeal
            WHERE state = 'new' AND assignee_id IS NULL
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
        _move(appeal, "claim", handler)
    return appeal


def _locked(appeal_id: int) -> Appeal:
    appeal = Appeal.objects.select_for_update().filter(pk=appeal_id).first()
    if appeal is None:
        raise AppealError(_("This appeal does not exist."))
    return appeal


def _require_owner(appeal: Appeal, actor: Any) -> None:
    """The assignee works the appeal; a lead may step in."""
    if appeal.assignee_id != actor.pk and not may(actor, "accounts.lead_appeals"):
        raise AppealError(_("This appeal is assigned to someone else."))


def appeal_assign(*, appeal_id: int, assignee: Any, lead: Any) -> Appeal:
    _require(lead, "accounts.lead_appeals", _("Only an appeal lead can reassign."))
    if not may(assignee, "accounts.work_appeals"):
        raise AppealError(_("%(name)s cannot work appeals.") % {"name": assignee.username})
    with transaction.atomic():
        appeal = _locked(appeal_id)
        appeal.assignee = assignee
        _move(appeal, "assign", lead, assignee.username)
    return appeal


def _note(note: str | None, *, minimum: int = 0, too_short: str = "") -> str:
    """A note or justification as written, stripped; refused when too short or long."""
    text = (note or "").strip()
    if len(text) < minimum:
        raise AppealError(too_short)
    if problem := too_long(text, JUSTIFICATION_MAX):
        raise AppealError(problem)
    return text


def appeal_request_info(*, appeal_id: int, actor: Any, note: str) -> Appeal:
    """Ask the customer for information: the SLA clock stops until they reply."""
    _require(actor, "accounts.work_appeals", _("Your role cannot work appeals."))
    text = _note(
        note, minimum=5, too_short=_("Write what the customer should send (at least 5 characters).")
    )
    with transaction.atomic():
        appeal = _locked(appeal_id)
        _require_owner(appeal, actor)
        appeal.sla_paused_at = timezone.now()
        _move(appeal, "request_info", actor, text)
    return appeal


def appeal_customer_replied(*, appeal_id: int, actor: Any, note: str = "") -> Appeal:
    """The customer answered: back in review, the SLA due time moved on by the pause."""
    _require(actor, "accounts.work_appeals", _("Your role cannot work appeals."))
    text = _note(note)
    with transaction.atomic():
        appeal = _locked(appeal_id)
        _require_owner(appeal, actor)
        if appeal.sla_paused_at is not None:
            appeal.sla_due += timezone.now() - appeal.sla_paused_at
            appeal.sla_paused_at = None
        _move(appeal, "customer_replied", actor, text)
    return appeal


def appeal_escalate(*, appeal_id: int, actor: Any, note: str) -> Appeal:
    _require(actor, "accounts.work_appeals", _("Your role cannot work appeals."))
    text = _note(
        note, minimum=5, too_short=_("Write why the appeal goes to a lead (at least 5 characters).")
    )
    with transaction.atomic():
        appeal = _locked(appeal_id)
        _require_owner(appeal, actor)
        appeal.escalated = True
        _move(appeal, "escalate", actor, text)
    return appeal


def appeal_withdraw(*, appeal_id: int, actor: Any, note: str = "") -> Appeal:
    _require(actor, "accounts.work_appeals", _("Your role cannot work appeals."))
    text = _note(note)
    with transaction.atomic():
        appeal = _locked(appeal_id)
        _require_owner(appeal, actor)
        appeal.sla_paused_at = None
        _move(appeal, "withdraw", actor, text)
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
        return selectors.verified_for(appeal, dict(raw or {}))
    except reevaluation.EvidenceValueError as error:
        raise AppealError(str(error)) from None


def _reevaluated(appeal: Appeal, account: Account, values: dict[str, Any]) -> tuple[Any, Any]:
    try:
        return selectors.reevaluation(appeal, account, values)
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
) -> DecideResult:
    """Decide an appeal. A restoration is a limit decision (source "appeal");
    above APPEAL_APPROVAL_ABOVE a restoration waits for a lead other than the person
    who proposed it (a lead's own too), and a
    closed line in its cool-down is restored only by a lead, with a written
    justification.

    "Re-evaluated": `verified` holds what the evidence proves (monthly_income,
    provident_fund, assets); the account is scored again with it and the policy
    gives the limit (see `appeals.reevaluation`)."""
    _require(actor, "accounts.work_appeals", _("Your role cannot work appeals."))
    text = _note(
        justification,
        minimum=10,
        too_short=_("Write the reason for the outcome (at least 10 characters)."),
    )
    is_lead = may(actor, "accounts.lead_appeals")
    with transaction.atomic():
        appeal = _locked(appeal_id)
        _require_owner(appeal, actor)
        if appeal.outcome_pending:
            raise AppealError(_("An outcome of this appeal is already waiting for a lead."))
        if appeal.state != states.IN_REVIEW:
            _move(appeal, "decide", actor)  # refused with the clear message
        account = Account.objects.select_for_update(no_key=True).get(pk=appeal.account_id)
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
                _("A closed line in its cool-down can only be restored by an appeal lead, "
                  "with a written justification of at least 20 characters.")
            )  # fmt: skip
        appeal.outcome, appeal.outcome_limit = outcome, target
        appeal.outcome_justification, appeal.outcome_by = text, actor
        # Four eyes: above the amount a second person approves, even a lead's own.
        if target is not None and target > settings.APPEAL_APPROVAL_ABOVE:
            appeal.outcome_pending = True
            appeal.save()
            _event(appeal, "outcome_proposed", actor, f"{appeal.get_outcome_display()}: {target}")
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
    _move(appeal, "decide", actor, f"{summary}: {appeal.outcome_justification}")
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
                account_id=account.pk, expected_version=account.version,
                action=LimitDecision.Action.RAISE if above_before else LimitDecision.Action.RESTORE,
                source=LimitDecision.Source.APPEAL,
                new_limit=appeal.outcome_limit, new_status=Account.Status.ACTIVE,
                reasons=scored.pop("reasons", ("APPEAL_OUTCOME",)),
                justification=appeal.outcome_justification,
                actor_id=appeal.outcome_by_id, approver_id=approver.pk if approver else None,
                idempotency_key=f"appeal:{appeal.pk}", **scored,
            )
        )  # fmt: skip
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
            _("The account changed since this re-evaluation was proposed (it now gives "
              "%(now)s instead of %(then)s); send it back and re-evaluate.")
            % {"now": result.target or "—", "then": appeal.outcome_limit or "—"}
        )  # fmt: skip
    AccountSignals.objects.filter(account_id=account.pk).update(
        **values, observed_at=timezone.now()
    )
    scored = result.outcome
    decision = _restore(
        appeal, account, approver,
        reasons=("APPEAL_OUTCOME", "VERIFIED_CAPACITY"),
        score_after=scored.score, band_after=scored.band, contributions=scored.contributions,
        triggers=scored.triggers, inputs=scoring_inputs(result.signals), policy_id=active.pk,
        policy_version=active.version, good_cycles=scored.good_cycles,
    )  # fmt: skip
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
    _require(lead, "accounts.lead_appeals", _("Only an appeal lead can approve an outcome."))
    with transaction.atomic():
        appeal = _locked(appeal_id)
        if not appeal.outcome_pending:
            raise AppealError(_("No outcome of this appeal waits for approval."))
        if appeal.outcome_by_id == lead.pk:
            raise AppealError(_("The person who proposed an outcome cannot approve it."))
        account = Account.objects.select_for_update(no_key=True).get(pk=appeal.account_id)
        decision = _apply_outcome(appeal, account, lead, approver=lead)
    return DecideResult(appeal, pending=False, decision=decision)


def appeal_outcome_reject(*, appeal_id: int, lead: Any, note: str) -> Appeal:
    _require(lead, "accounts.lead_appeals", _("Only an appeal lead can reject an outcome."))
    text = _note(note)
    with transaction.atomic():
        appeal = _locked(appeal_id)
        if not appeal.outcome_pending:
            raise AppealError(_("No outcome of this appeal waits for approval."))
        appeal.outcome, appeal.outcome_limit, appeal.outcome_pending = "", None, False
        appeal.save()
        _event(appeal, "outcome_rejected", lead, text)
    return appeal


def appeals_flag_sla_breaches() -> int:
    """Flag and escalate the open appeals past their SLA (clock running), once each.

    Run by beat; returns how many it flagged."""
    now = timezone.now()
    flagged = 0
    with transaction.atomic():
        overdue = Appeal.objects.select_for_update(skip_locked=True).filter(
            state__in=Appeal.OPEN_STATES, sla_paused_at__isnull=True, sla_due__lt=now,
            sla_breach_flagged=False,
        )  # fmt: skip
        for appeal in overdue:
            appeal.sla_breach_flagged = True
            appeal.escalated = True
            appeal.save(update_fields=["sla_breach_flagged", "escalated", "updated_at"])
            _event(appeal, "sla_breached", None, f"due {appeal.sla_due:%Y-%m-%d %H:%M} UTC")
            flagged += 1
    return flagged


def evidence_path(stored_as: str) -> Path:
    return Path(settings.EVIDENCE_ROOT) / stored_as[:2] / stored_as


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
            account=account, actor=None, channel=channel, category=category,
            statement=statement, decision_id=latest, requested_limit=requested_limit, via=via,
        )  # fmt: skip
        items = [
            evidence_add(appeal_id=intake.appeal.pk, actor=None, upload=upload, via=via)
            for upload in uploads
        ]
    return IntegrationAppeal(intake, items)


def evidence_check(upload: Any) -> str:
    """The content type of an acceptable evidence file, or AppealError with the reason:
    type by content (PDF, PNG, JPEG) and read whole (`evidence.inspect`), not empty,
    at most EVIDENCE_MAX_BYTES."""
    limit = settings.EVIDENCE_MAX_BYTES
    if upload is None:
        raise AppealError(_("Choose a file."))
    if upload.size == 0:
        raise AppealError(_("The file is empty."))
    if upload.size > limit:
        raise AppealError(_("The file is larger than %(mb)s MB.") % {"mb": limit // (1024 * 1024)})
    upload.seek(0)
    data = upload.read(limit + 1)
    content_type = evidence.sniff(data[: evidence.SNIFF_BYTES])
    if content_type is None:
        raise AppealError(
            _("Only PDF, PNG and JPEG files are accepted, and this file is none of them "
              "(whatever its name says).")
        )  # fmt: skip
    problem = evidence.inspect(
        content_type, data, max_pages=settings.EVIDENCE_MAX_PDF_PAGES,
        max_pixels=settings.EVIDENCE_MAX_IMAGE_PIXELS,
    )  # fmt: skip
    if problem:
        raise AppealError(problem)
    return content_type


def evidence_add(*, appeal_id: int, actor: Any, upload: Any, via: str = "") -> Evidence:
    """Store one evidence file for an appeal, or refuse it with a clear message
    and store nothing (see `evidence_check`); the SHA-256 of what was received is
    kept. An integration passes `actor=None` and its name as `via`."""
    if actor is not None or not via:
        _require(actor, "accounts.work_appeals", _("Your role cannot add evidence."))
    limit = settings.EVIDENCE_MAX_BYTES
    content_type = evidence_check(upload)
    stored_as = uuid.uuid4().hex
    path = evidence_path(stored_as)
    path.parent.mkdir(parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    upload.seek(0)
    try:
        with path.open("xb") as target:
            for chunk in upload.chunks():
                size += len(chunk)
                if size > limit:
                    raise AppealError(
                        _("The file is larger than %(mb)s MB.") % {"mb": limit // (1024 * 1024)}
                    )
                digest.update(chunk)
                target.write(chunk)
        with transaction.atomic():
            appeal = _locked(appeal_id)
            if actor is not None:
                _require_owner(appeal, actor)
            if not appeal.is_open:
                raise AppealError(_("Evidence is added to open appeals only."))
            item = Evidence.objects.create(
                appeal=appeal, name=evidence.safe_name(upload.name, content_type),
                content_type=content_type, size=size, sha256=digest.hexdigest(),
                stored_as=stored_as, uploaded_by=actor, uploaded_via=via,
            )  # fmt: skip
            note = f"{item.name} ({size} bytes, sha256 {item.sha256})"
            _event(appeal, "evidence", actor, note + (f" via {via}" if via else ""))
    except BaseException:
        path.unlink(missing_ok=True)  # nothing stored when anything went wrong
        raise
    return item


def sla_targets_set(*, lead: Any, hours: dict[str, int]) -> list[SlaTarget]:
    """Set the hours each category may take; new appeals get the new due times,
    open ones keep theirs."""
    _require(lead, "accounts.lead_appeals", _("Only an appeal lead can set SLA targets."))
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

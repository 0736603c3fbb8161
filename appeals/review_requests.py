"""Human review on request: a customer asks for an explanation of an automated
decision, for a person to review it, or both (EU Consumer Credit Directive 2023/2225
Art. 18, AI Act Art. 86, PIPL Art. 24). The request is an appeal of its own category
("review") with its own SLA target; a handler answers it like any appeal, and the
outcome records who reviewed it (docs/architecture.md, "Human review on request")."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from accounts import permissions as perms
from accounts.models import Account
from appeals.models import Appeal
from appeals.services import IntakeResult, UnknownAccount, appeal_intake
from appeals.workflow import AppealError, require
from decisions.models import LimitDecision

# The decisions a person did not make: those of a re-scoring run (a portfolio run, or
# a run of trigger "signal" after new signals). Overrides, appeal outcomes and
# reverts were made or started by a person and are reviewed as appeals.
AUTOMATED_SOURCES = (LimitDecision.Source.RUN,)

VIEW_MIN = 5  # the customer's view, at least this many characters


def automated_decision(account: Account, decision_id: int | None) -> LimitDecision:
    """The automated decision the request concerns: the one named (of this account,
    made by a run), else the account's latest automated decision."""
    if decision_id is None:
        latest = (
            LimitDecision.objects.filter(account=account, source__in=AUTOMATED_SOURCES)
            .order_by("-sequence")
            .first()
        )
        if latest is None:
            raise AppealError(_("No automated decision has changed this account's limit."))
        return latest
    decision = LimitDecision.objects.filter(pk=decision_id, account=account).first()
    if decision is None:
        raise AppealError(_("The decision named is not one of this account's."))
    if decision.source not in AUTOMATED_SOURCES:
        raise AppealError(
            _(
                "Decision #%(number)s was made by a person (%(source)s), not by the "
                "automated scoring: record an appeal instead."
            )
            % {"number": decision.sequence, "source": decision.get_source_display()}
        )
    return decision


def review_request_record(
    *,
    account: Account,
    actor: Any,
    kind: str,
    view: str,
    channel: str,
    decision_id: int | None = None,
    via: str = "",
) -> IntakeResult:
    """Record a customer's request for an explanation or a human review of an
    automated decision, as an appeal of category "review": `view` is the customer's
    view of the decision (their chance to state it), kept as the appeal's statement.

    Staff need RECORD_APPEALS; an integration (API key with appeals:write, checked by
    the API) passes `actor=None` and its name as `via`. Bad input raises AppealError
    and changes nothing. A second request on a decision whose review request is open
    joins it (`IntakeResult.duplicate`)."""
    if actor is not None or not via:
        require(actor, perms.RECORD_APPEALS, _("Your role cannot record appeals."))
    if kind not in Appeal.ReviewKind.values:
        raise AppealError(_("Choose whether the customer asks for an explanation or a review."))
    if len((view or "").strip()) < VIEW_MIN:
        raise AppealError(
            _("Write down the customer's view of the decision (at least 5 characters).")
        )
    decision = automated_decision(account, decision_id)
    return appeal_intake(
        account=account,
        actor=actor,
        channel=channel,
        category=Appeal.Category.REVIEW,
        statement=view,
        decision_id=decision.pk,
        via=via,
        review_kind=kind,
    )


def review_request_from_integration(
    *, reference: str, kind: str, view: str, channel: str, decision_id: int | None, via: str
) -> IntakeResult:
    """A review request sent by an integration (the help centre, a written request)."""
    account = Account.objects.filter(reference=reference).first()
    if account is None:
        raise UnknownAccount(_("No account with this reference."))
    return review_request_record(
        account=account,
        actor=None,
        kind=kind,
        view=view,
        channel=channel,
        decision_id=decision_id,
        via=via,
    )

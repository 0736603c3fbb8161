"""Things waiting for someone, built the way the apps build them (their services where
the flow matters to My work, rows where only the state does)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from appeals import outcomes
from appeals.models import Appeal
from decisions import overrides
from decisions.models import OverrideRequest, RescoreRun
from policies import services as policy_services
from policies.models import Policy, Simulation
from tests.base import make_account


def pending_override(proposer: Any, *, limit: str = "90000", **account: Any) -> OverrideRequest:
    """A large override proposed by `proposer`, waiting for a second person."""
    target = make_account(current_limit=Decimal("10000"), **account)
    result = overrides.account_override_limit(
        account_id=target.pk,
        expected_version=target.version,
        new_limit=limit,
        actor=proposer,
        justification="Verified assets of two million yuan.",
    )
    assert result.request is not None
    return result.request


def open_appeal(assignee: Any, *, state: str = "in_review", **fields: Any) -> Appeal:
    """An open appeal on an account cut from 40,000 to 9,000, assigned to `assignee`."""
    account = make_account(current_limit=Decimal("9000"))
    values: dict[str, Any] = {
        "account": account,
        "channel": Appeal.Channel.HOTLINE,
        "category": Appeal.Category.EVIDENCE,
        "statement": "My salary is verified; please restore my line.",
        "assignee": assignee,
        "state": state,
        "sla_due": timezone.now() + timedelta(hours=48),
    }
    values.update(fields)
    return Appeal.objects.create(**values)


def proposed_outcome(handler: Any, *, limit: str = "30000") -> Appeal:
    """`handler`'s restoration above the amount, waiting for a lead (appeals.outcomes)."""
    appeal = open_appeal(handler)
    result = outcomes.appeal_decide(
        appeal_id=appeal.pk,
        actor=handler,
        outcome=Appeal.Outcome.PARTIAL,
        limit=limit,
        justification="Salary flow of 12,000 a month verified.",
    )
    assert result.pending
    appeal.refresh_from_db()
    return appeal


def outcome_sent_back(handler: Any, lead: Any, note: str) -> Appeal:
    appeal = proposed_outcome(handler)
    outcomes.appeal_outcome_reject(appeal_id=appeal.pk, lead=lead, note=note)
    appeal.refresh_from_db()
    return appeal


def draft(author: Any) -> Policy:
    return policy_services.policy_draft_create(author=author)


def submitted_version(author: Any) -> Policy:
    """`author`'s draft, simulated (the row a finished simulation leaves) and submitted."""
    version = draft(author)
    version.rationale = "Tighten multi-lending after the bureau's warning."
    version.save(update_fields=["rationale"])
    Simulation.objects.create(
        policy=version,
        base=Policy.objects.get(state=Policy.State.ACTIVE),
        rules=version.rules,
        state=Simulation.State.DONE,
        started_by=author,
    )
    return policy_services.policy_submit(version=version.version, author=author)


def version_sent_back(author: Any, reviewer: Any, comment: str) -> Policy:
    version = submitted_version(author)
    return policy_services.policy_reject(
        version=version.version, approver=reviewer, comment=comment
    )


def held_run(started_by: Any) -> RescoreRun:
    """A portfolio run the circuit breaker holds for a second person."""
    return RescoreRun.objects.create(
        trigger=RescoreRun.Trigger.BUTTON,
        started_by=started_by,
        policy=Policy.objects.get(state=Policy.State.ACTIVE),
        state=RescoreRun.State.WAITING,
        breaker_reason="Would cut 12 % of the accounts (limit 5 %).",
        compute_finished_at=timezone.now(),
    )


def rejected_override(proposer: Any, approver: Any, reason: str) -> OverrideRequest:
    request = pending_override(proposer)
    return overrides.override_reject(request_id=request.pk, approver=approver, reason=reason)

"""The customer notice a decision owes, worked out from the decision alone. Pure: no ORM.

docs/architecture.md, "Notices: the register". `decisions.services.decisions_write`
asks `needs_notice` of every decision it writes and, for those that do, `classify`
and `due_by`; it then inserts the rows set-based, in the decision's transaction.
The strings here are the values of `decisions.models.Notice.Kind` and `.State`
(a test holds them equal).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from scoring import OVERDUE_NOW, PORTFOLIO_OVERLAY, SERIOUS_OVERDUE

# Notice.Kind
INDIVIDUAL = "individual"
PORTFOLIO = "portfolio"
EXEMPT = "exempt"
# Notice.State, as a notice starts
PENDING = "pending"
NOT_REQUIRED = "not_required"

# Action taken because the account is delinquent needs no adverse-action notice
# (Reg B: action "in connection with inactivity, default, or delinquency").
DELINQUENCY_TRIGGERS = frozenset({OVERDUE_NOW, SERIOUS_OVERDUE})

# The notice's idempotency key is this prefix and its decision's hash (unique, 64 hex
# digits): the same decision always gives the same key, whoever delivers it.
KEY_PREFIX = "notice-"


def needs_notice(
    *, old_limit: Decimal, new_limit: Decimal, old_status: str, new_status: str
) -> bool:
    """A decision owes the customer a notice when it lowers the limit or closes the line."""
    closes = new_status == "closed" and old_status != "closed"
    return closes or new_limit < old_limit


def kind_of(*, triggers: Sequence[str], reasons: Sequence[str], rollout: bool) -> str:
    """Exempt when a delinquency trigger fired; portfolio-wide when the portfolio
    overlay set the limit (the decision's principal reason) or the version in staged
    rollout scored the account; else individual."""
    if DELINQUENCY_TRIGGERS.intersection(triggers):
        return EXEMPT
    if rollout or (reasons and reasons[0] == PORTFOLIO_OVERLAY):
        return PORTFOLIO
    return INDIVIDUAL


def initial_state(kind: str, *, portfolio_needs_individual: bool) -> str:
    """Pending (waiting for the outbox) when the customer must be told individually."""
    if kind == INDIVIDUAL:
        return PENDING
    if kind == PORTFOLIO:
        return PENDING if portfolio_needs_individual else NOT_REQUIRED
    if kind == EXEMPT:
        return NOT_REQUIRED
    raise ValueError(f"unknown notice kind {kind!r}")


@dataclass(frozen=True)
class Classification:
    kind: str
    state: str


def classify(
    *,
    triggers: Sequence[str],
    reasons: Sequence[str],
    rollout: bool,
    portfolio_needs_individual: bool,
) -> Classification:
    kind = kind_of(triggers=triggers, reasons=reasons, rollout=rollout)
    return Classification(
        kind=kind,
        state=initial_state(kind, portfolio_needs_individual=portfolio_needs_individual),
    )


def due_by(decided_at: datetime, *, clock_days: int) -> datetime:
    """The notice must reach the customer within `clock_days` of the decision."""
    if clock_days < 1:
        raise ValueError("the notice clock is at least one day")
    return decided_at + timedelta(days=clock_days)


def idempotency_key(decision_hash: str) -> str:
    if not decision_hash:
        raise ValueError("a notice's key needs its decision's hash")
    return f"{KEY_PREFIX}{decision_hash}"

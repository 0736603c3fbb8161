"""The appeal state machine (docs/architecture.md, "Appeals"): pure, no ORM.

new → in review → waiting for customer → in review → decided → closed,
or withdrawn from any open state. Every move is named, so the appeal's
timeline says what happened, not only where it ended.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext_lazy, pgettext_lazy

NEW, IN_REVIEW, WAITING, DECIDED, CLOSED, WITHDRAWN = (
    "new",
    "in_review",
    "waiting",
    "decided",
    "closed",
    "withdrawn",
)
OPEN = (NEW, IN_REVIEW, WAITING)


@dataclass(frozen=True)
class Move:
    name: str
    sources: tuple[str, ...]
    target: str


MOVES = {
    move.name: move
    for move in (
        Move("claim", (NEW,), IN_REVIEW),
        Move("assign", (NEW, IN_REVIEW, WAITING), IN_REVIEW),
        Move("request_info", (IN_REVIEW,), WAITING),
        Move("customer_replied", (WAITING,), IN_REVIEW),
        Move("escalate", (IN_REVIEW, WAITING), IN_REVIEW),
        Move("decide", (IN_REVIEW,), DECIDED),
        Move("close", (DECIDED,), CLOSED),
        Move("withdraw", OPEN, WITHDRAWN),
    )
}


class IllegalMove(ValueError):
    """A move the appeal's state does not allow; the message says which ones it does."""


def next_state(state: str, move: str) -> str:
    """The state after `move`, or IllegalMove naming what is allowed from `state`."""
    rule = MOVES.get(move)
    if rule is None:
        raise IllegalMove(f"unknown step {move!r}")
    if state not in rule.sources:
        allowed = [name for name, m in MOVES.items() if state in m.sources]
        raise IllegalMove(
            f"an appeal that is {state} cannot {move.replace('_', ' ')}; "
            + (
                f"it can: {', '.join(a.replace('_', ' ') for a in allowed)}"
                if allowed
                else "it is finished"
            )
        )
    return rule.target


def allowed_moves(state: str) -> list[str]:
    return [name for name, move in MOVES.items() if state in move.sources]


# What an appeal's timeline shows for each recorded step and state (AppealEvent.move,
# from_state, to_state hold the names below); a name missing here shows as itself.
EVENT_LABELS = {
    "received": pgettext_lazy("appeal step", "received"),
    "duplicate_contact": pgettext_lazy("appeal step", "the customer got in touch again"),
    "claim": pgettext_lazy("appeal step", "claimed"),
    "assign": pgettext_lazy("appeal step", "assigned"),
    "auto_assigned": pgettext_lazy("appeal step", "assigned automatically"),
    "request_info": pgettext_lazy("appeal step", "information asked from the customer"),
    "customer_replied": pgettext_lazy("appeal step", "the customer replied"),
    "escalate": pgettext_lazy("appeal step", "escalated"),
    "evidence": pgettext_lazy("appeal step", "evidence added"),
    "snoozed": pgettext_lazy("appeal step", "snoozed"),
    "unsnoozed": pgettext_lazy("appeal step", "snooze ended"),
    "sla_breached": pgettext_lazy("appeal step", "past its SLA"),
    "outcome_proposed": pgettext_lazy("appeal step", "outcome proposed"),
    "outcome_rejected": pgettext_lazy("appeal step", "outcome sent back"),
    "decide": pgettext_lazy("appeal step", "decided"),
    "close": pgettext_lazy("appeal step", "closed"),
    "withdraw": pgettext_lazy("appeal step", "withdrawn"),
}
STATE_LABELS = {
    NEW: gettext_lazy("new"),
    IN_REVIEW: gettext_lazy("in review"),
    WAITING: gettext_lazy("waiting for customer"),
    DECIDED: gettext_lazy("decided"),
    CLOSED: gettext_lazy("closed"),
    WITHDRAWN: gettext_lazy("withdrawn"),
}


def event_label(move: str) -> str:
    return str(EVENT_LABELS.get(move, move.replace("_", " ")))


def state_label(state: str) -> str:
    return str(STATE_LABELS.get(state, state.replace("_", " ")))

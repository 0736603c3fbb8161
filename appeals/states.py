"""The appeal state machine (docs/architecture.md, "Appeals"): pure, no ORM.

new → in review → waiting for customer → in review → decided → closed,
or withdrawn from any open state. Every move is named, so the appeal's
timeline says what happened, not only where it ended.
"""

from __future__ import annotations

from dataclasses import dataclass

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

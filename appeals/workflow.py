"""What every move of an appeal shares: the refusal it raises, the permission and
ownership checks, the lock, and the event each move records (appeals.states holds
the moves allowed from each state)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts import permissions as perms
from accounts.access import may
from appeals import states

# When a category has no target row (the migration creates them).
from appeals.models import Appeal, AppealEvent
from config.text import JUSTIFICATION_MAX, too_long

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


def require(actor: Any, permission: str, message: str) -> None:
    if not may(actor, permission):
        raise AppealError(message)


def event_record(appeal: Appeal, move: str, actor: Any, note: str = "", before: str = "") -> None:
    AppealEvent.objects.create(
        appeal=appeal,
        move=move,
        from_state=before,
        to_state=appeal.state,
        actor=actor if actor is not None and actor.pk else None,
        note=note,
    )


def move(appeal: Appeal, move: str, actor: Any, note: str = "") -> None:
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
    event_record(appeal, move, actor, note, before)


def locked(appeal_id: int) -> Appeal:
    appeal = Appeal.objects.select_for_update().filter(pk=appeal_id).first()
    if appeal is None:
        raise AppealError(_("This appeal does not exist."))
    return appeal


def require_owner(appeal: Appeal, actor: Any) -> None:
    """The assignee works the appeal; a lead may step in."""
    if appeal.assignee_id != actor.pk and not may(actor, perms.LEAD_APPEALS):
        raise AppealError(_("This appeal is assigned to someone else."))


def note_checked(note: str | None, *, minimum: int = 0, too_short: str = "") -> str:
    """A note or justification as written, stripped; refused when too short or long."""
    text = (note or "").strip()
    if len(text) < minimum:
        raise AppealError(too_short)
    if problem := too_long(text, JUSTIFICATION_MAX):
        raise AppealError(problem)
    return text

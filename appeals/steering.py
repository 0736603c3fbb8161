"""Queue steering (docs/architecture.md, "Queue steering"): new appeals go round robin
to the handlers in the rotation, leads set each handler's cap and time away, move
appeals in bulk and snooze them; the assignee may snooze their own.

Writes, each one transaction with its audit row (an AppealEvent per appeal, a
HandlerChange per profile change); bad input is refused with a message and changes
nothing."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import permissions as perms
from accounts.access import may
from appeals import states
from appeals.models import Appeal, HandlerChange, HandlerProfile
from appeals.workflow import AppealError, event_record, locked, move, require, require_owner

CAP_MAX = 500  # a cap above this is a typing mistake


# --------------------------------------------------------------------------
# Round robin


def open_counts(user_ids: Iterable[int]) -> dict[int, int]:
    """Open appeals assigned to each of these users (absent: none)."""
    return dict(
        Appeal.objects.filter(assignee_id__in=list(user_ids), state__in=Appeal.OPEN_STATES)
        .values_list("assignee_id")
        .annotate(n=Count("id"))
        .values_list("assignee_id", "n")
    )


def next_handler(profiles: list[HandlerProfile], counts: dict[int, int], day: date) -> Any:
    """The rotation's turn among `profiles`, already in turn order (oldest
    last_assigned_at first, never assigned before anyone): the first with
    auto-assignment on, room under the cap, not away on `day` and allowed to work
    appeals. None when no one is."""
    for profile in profiles:
        if not profile.auto_assign or profile.away_on(day):
            continue
        if counts.get(profile.user_id, 0) >= profile.cap:
            continue
        if not profile.user.is_active or not may(profile.user, perms.WORK_APPEALS):
            continue
        return profile
    return None


def appeal_auto_assign(appeal: Appeal) -> Any:
    """Give a new, unassigned appeal to the handler whose turn it is; in the caller's
    transaction. Returns the handler, or None (the appeal stays in the queue).

    The profiles in the rotation are locked (FOR UPDATE) before the open appeals are
    counted, so two intakes at once never both fill a handler's last place: the
    second waits, then counts the first's appeal. They are locked in user id order,
    the same for every intake, and put in turn order afterwards: locking in turn
    order, which each assignment changes, let two intakes each hold a profile the
    other waited for (a deadlock)."""
    if not settings.APPEAL_AUTO_ASSIGN or appeal.assignee_id or appeal.state != states.NEW:
        return None
    now = timezone.now()
    locked = list(
        HandlerProfile.objects.select_for_update(of=("self",))
        .select_related("user")
        .filter(auto_assign=True, user__is_active=True)
        .order_by("user_id")
    )
    # Never assigned first, then the one assigned longest ago; then user id.
    profiles = sorted(
        locked,
        key=lambda p: (p.last_assigned_at is not None, p.last_assigned_at or now, p.user_id),
    )
    if not profiles:
        return None
    chosen = next_handler(
        profiles, open_counts(p.user_id for p in profiles), timezone.localdate(now)
    )
    if chosen is None:
        return None
    chosen.last_assigned_at = now
    chosen.save(update_fields=["last_assigned_at", "updated_at"])
    before = appeal.state
    appeal.assignee = chosen.user
    appeal.state = states.next_state(appeal.state, "assign")
    appeal.save()
    event_record(appeal, "auto_assigned", None, chosen.user.username, before)
    return chosen.user


# --------------------------------------------------------------------------
# Handlers' profiles


def handler_profile_save(
    *,
    lead: Any,
    user: Any,
    auto_assign: bool,
    cap: Any,
    away_from: date | None,
    away_until: date | None,
) -> HandlerProfile:
    """A lead sets a handler's cap, auto-assignment and time away (creating the
    profile puts the handler in the rotation when auto-assignment is on)."""
    require(lead, perms.LEAD_APPEALS, _("Only an appeal lead can change handlers."))
    if user is None or not user.is_active or not may(user, perms.WORK_APPEALS):
        raise AppealError(_("Choose a person who can work appeals."))
    try:
        cap_value = int(cap)
    except (TypeError, ValueError):
        cap_value = 0
    if not 1 <= cap_value <= CAP_MAX:
        raise AppealError(
            _("The cap is a whole number of open appeals from 1 to %(max)s.") % {"max": CAP_MAX}
        )
    if away_from and away_until and away_until < away_from:
        raise AppealError(_("The last day away cannot be before the first."))
    with transaction.atomic():
        profile, created = HandlerProfile.objects.select_for_update().get_or_create(
            user=user,
            defaults={"auto_assign": auto_assign, "cap": cap_value, "updated_by": lead},
        )
        profile.auto_assign, profile.cap = bool(auto_assign), cap_value
        profile.away_from, profile.away_until = away_from, away_until
        profile.updated_by = lead
        profile.save()
        HandlerChange.objects.create(
            profile=profile, changed_by=lead, summary=profile_summary(profile, created=created)
        )
    return profile


def profile_summary(profile: HandlerProfile, *, created: bool = False) -> str:
    away = (
        _("away %(start)s – %(end)s")
        % {"start": profile.away_from or "…", "end": profile.away_until or "…"}
        if profile.away_from or profile.away_until
        else _("not away")
    )
    return _("%(what)s: auto-assign %(auto)s, cap %(cap)s, %(away)s") % {
        "what": _("added to the rotation") if created else _("changed"),
        "auto": _("on") if profile.auto_assign else _("off"),
        "cap": profile.cap,
        "away": away,
    }


# --------------------------------------------------------------------------
# Snoozing and bulk moves

BULK_ACTIONS = ("assign", "snooze", "unsnooze")


def snooze_end(day: date) -> datetime:
    """A snooze "until a date" lasts until the start of that day (server time zone)."""
    return timezone.make_aware(datetime.combine(day, time.min))


def _checked_day(until: Any) -> date:
    if isinstance(until, datetime):
        until = until.date()
    if isinstance(until, str):
        try:
            until = date.fromisoformat(until.strip())
        except ValueError:
            until = None
    if not isinstance(until, date):
        raise AppealError(_("Enter the date the appeal comes back, as yyyy-mm-dd."))
    if until <= timezone.localdate():
        raise AppealError(_("The snooze date must be in the future (tomorrow or later)."))
    return until


def _snooze(appeal: Appeal, actor: Any, day: date) -> None:
    appeal.snoozed_until = snooze_end(day)
    appeal.save(update_fields=["snoozed_until", "updated_at"])
    event_record(appeal, "snoozed", actor, _("until %(day)s") % {"day": day.isoformat()}, "")


def _unsnooze(appeal: Appeal, actor: Any) -> None:
    appeal.snoozed_until = None
    appeal.save(update_fields=["snoozed_until", "updated_at"])
    event_record(appeal, "unsnoozed", actor)


def _assign(appeal: Appeal, assignee: Any, lead: Any) -> None:
    """Assign (or reassign) an open appeal: a new one goes into review; one in
    review or waiting for the customer keeps its state (and its paused clock)."""
    appeal.assignee = assignee
    if appeal.state == states.NEW:
        move(appeal, "assign", lead, assignee.username)
    else:
        appeal.save()
        event_record(appeal, "assign", lead, assignee.username, appeal.state)


@dataclass(frozen=True)
class BulkResult:
    action: str
    appeals: list[Appeal]


def appeals_bulk(
    *,
    lead: Any,
    appeal_ids: list[int],
    action: str,
    assignee: Any = None,
    until: Any = None,
) -> BulkResult:
    """A lead assigns, snoozes or unsnoozes the chosen appeals together: all of them
    or none (any that is not open, not found, or — to unsnooze — not snoozed refuses
    the whole batch). Each appeal gets its own AppealEvent."""
    require(lead, perms.LEAD_APPEALS, _("Only an appeal lead can change appeals in bulk."))
    ids = sorted({int(pk) for pk in appeal_ids})
    if not ids:
        raise AppealError(_("Select at least one appeal."))
    if action not in BULK_ACTIONS:
        raise AppealError(_("Choose what to do with the selected appeals."))
    day = _checked_day(until) if action == "snooze" else None
    if action == "assign" and (
        assignee is None or not assignee.is_active or not may(assignee, perms.WORK_APPEALS)
    ):
        raise AppealError(_("Choose a person who can work appeals."))
    with transaction.atomic():
        appeals = list(Appeal.objects.select_for_update().filter(pk__in=ids).order_by("pk"))
        missing = sorted(set(ids) - {a.pk for a in appeals})
        if missing:
            raise AppealError(
                _("Appeal %(numbers)s does not exist; nothing was changed.")
                % {"numbers": ", ".join(f"#{pk}" for pk in missing)}
            )
        closed = [a.pk for a in appeals if not a.is_open]
        if closed:
            raise AppealError(
                _(
                    "Only open appeals can be changed; %(numbers)s are finished. "
                    "Nothing was changed."
                )
                % {"numbers": ", ".join(f"#{pk}" for pk in closed)}
            )
        now = timezone.now()
        if action == "unsnooze":
            awake = [a.pk for a in appeals if a.snoozed_until is None or a.snoozed_until <= now]
            if awake:
                raise AppealError(
                    _("%(numbers)s are not snoozed. Nothing was changed.")
                    % {"numbers": ", ".join(f"#{pk}" for pk in awake)}
                )
        for appeal in appeals:
            if action == "assign":
                _assign(appeal, assignee, lead)
            elif action == "snooze":
                assert day is not None
                _snooze(appeal, lead, day)
            else:
                _unsnooze(appeal, lead)
    return BulkResult(action, appeals)


def appeal_snooze(*, appeal_id: int, actor: Any, until: Any) -> Appeal:
    """The assignee (or a lead) sets an open appeal aside until a date."""
    require(actor, perms.WORK_APPEALS, _("Your role cannot work appeals."))
    day = _checked_day(until)
    with transaction.atomic():
        appeal = locked(appeal_id)
        require_owner(appeal, actor)
        if not appeal.is_open:
            raise AppealError(_("Only an open appeal can be snoozed."))
        _snooze(appeal, actor, day)
    return appeal


def appeal_unsnooze(*, appeal_id: int, actor: Any) -> Appeal:
    require(actor, perms.WORK_APPEALS, _("Your role cannot work appeals."))
    with transaction.atomic():
        appeal = locked(appeal_id)
        require_owner(appeal, actor)
        if appeal.snoozed_until is None:
            raise AppealError(_("This appeal is not snoozed."))
        _unsnooze(appeal, actor)
    return appeal

"""Writes of policy administration: drafts, simulation, four-eyes approval,
staged rollout, rollback and the kill switch. Each change of what is in force
leaves a `PolicyEvent` in its own transaction."""

from __future__ import annotations

import contextlib
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _
from redis.exceptions import RedisError

import scoring
from accounts import permissions as perms
from accounts.access import may
from config.text import JUSTIFICATION_MAX, RATIONALE_MAX, REASON_MAX, too_long
from policies.models import KillSwitch, Policy, PolicyEvent, Simulation
from policies.selectors import KILL_SWITCH_CACHE_KEY

State = Policy.State
Event = PolicyEvent.Action


class PolicyAdminError(Exception):
    """A refused change, with a message for the policy admin; `errors` per threshold."""

    def __init__(self, message: str, errors: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or {}


def require(actor: Any, permission: str, message: str) -> None:
    if not may(actor, permission):
        raise PolicyAdminError(message)


def event_record(
    policy_obj: Policy | None,
    action: str,
    actor: Any,
    *,
    share: int | None = None,
    comment: str = "",
) -> None:
    PolicyEvent.objects.create(
        policy=policy_obj, action=action, actor=actor, share=share, comment=comment
    )


def _written(value: str | None, *, minimum: int, maximum: int, too_short: str) -> str:
    """What a person wrote, stripped; refused when shorter than `minimum` or longer than
    `maximum` (a reason shown back to others: REASON_MAX; a comment: JUSTIFICATION_MAX)."""
    text = (value or "").strip()
    if len(text) < minimum:
        raise PolicyAdminError(too_short)
    if problem := too_long(text, maximum):
        raise PolicyAdminError(problem)
    return text


def locked(version: int) -> Policy:
    found = Policy.objects.select_for_update().filter(version=version).first()
    if found is None:
        raise PolicyAdminError(_("No policy version %(version)s.") % {"version": version})
    return found


def active_locked() -> Policy:
    active = Policy.objects.select_for_update().filter(state=State.ACTIVE).first()
    if active is None:
        raise PolicyAdminError(_("No policy version is active."))
    return active


# --------------------------------------------------------------------------
# Drafts
# --------------------------------------------------------------------------


def policy_draft_create(*, author: Any) -> Policy:
    """A new draft, starting from the thresholds of the active version."""
    require(author, perms.EDIT_POLICY, _("Your role cannot draft policy versions."))
    with transaction.atomic(durable=True):
        active = active_locked()
        number = (Policy.objects.aggregate(top=Max("version"))["top"] or 0) + 1
        draft = Policy.objects.create(
            version=number,
            state=State.DRAFT,
            rationale="",
            author=author,
            # Every threshold written out, also those the active version is read with.
            rules={**scoring.READ_AS_DEFAULT, **active.rules},
        )
        event_record(draft, Event.DRAFTED, author, comment=f"from v{active.version}")
    return draft


def policy_draft_update(
    *, version: int, author: Any, rules: dict[str, Any], rationale: str
) -> Policy:
    """Save a draft's thresholds; every problem is named, and nothing is saved then."""
    require(author, perms.EDIT_POLICY, _("Your role cannot draft policy versions."))
    text = (rationale or "").strip()
    errors: dict[str, str] = {}
    try:
        parsed = scoring.parse_policy(rules)
    except scoring.PolicyError as error:
        errors.update(error.errors)
        parsed = None
    if len(text) < 10:
        errors["rationale"] = _("write why the thresholds change (at least 10 characters)")
    elif problem := too_long(text, RATIONALE_MAX):
        errors["rationale"] = problem
    if errors:
        raise PolicyAdminError(_("The draft was not saved; see the thresholds marked."), errors)
    assert parsed is not None
    with transaction.atomic(durable=True):
        draft = locked(version)
        if refusal := draft.edit_refusal(author):
            raise PolicyAdminError(refusal)
        draft.rules = parsed.as_json()
        draft.rationale = text
        draft.save(update_fields=["rules", "rationale"])
    return draft


def policy_submit(*, version: int, author: Any) -> Policy:
    """Send a draft for a second admin's approval; it must have been simulated as it is."""
    require(author, perms.EDIT_POLICY, _("Your role cannot submit policy versions."))
    with transaction.atomic(durable=True):
        draft = locked(version)
        if draft.state != State.DRAFT:
            raise PolicyAdminError(_("Only a draft can be submitted."))
        if draft.author_id != author.pk:
            raise PolicyAdminError(_("Only the author of a draft submits it."))
        if not draft.rationale:
            raise PolicyAdminError(_("Write the rationale before submitting."))
        simulated = (
            Simulation.objects.filter(policy=draft, state=Simulation.State.DONE)
            .order_by("-created_at", "-id")
            .first()
        )
        if simulated is None or simulated.rules != draft.rules:
            raise PolicyAdminError(
                _(
                    "Simulate the draft as it is now before submitting it: the approver decides "
                    "on its impact."
                )
            )
        draft.state = State.PENDING
        draft.submitted_at = timezone.now()
        draft.save(update_fields=["state", "submitted_at"])
        event_record(draft, Event.SUBMITTED, author, comment=draft.rationale)
    return draft


# --------------------------------------------------------------------------
# Four-eyes approval and rollout
# --------------------------------------------------------------------------


def _parse_share(share: Any) -> int:
    try:
        value = int(str(share).strip())
    except (TypeError, ValueError):
        value = -1
    if not 1 <= value <= 100:
        raise PolicyAdminError(_("The rollout share is a whole percentage from 1 to 100."))
    return value


def _activate(candidate: Policy, actor: Any, now: Any) -> None:
    """Make `candidate` the active version for every account; the old one retires."""
    current = Policy.objects.select_for_update().filter(state=State.ACTIVE).exclude(pk=candidate.pk)
    for old in current:
        old.state, old.retired_at = State.RETIRED, now
        old.activated_at = old.activated_at or old.created_at  # it was in force for everyone
        old.save(update_fields=["state", "retired_at", "activated_at"])
    candidate.state, candidate.activated_at, candidate.rollout_share = State.ACTIVE, now, 100
    candidate.retired_at = None
    candidate.save(update_fields=["state", "activated_at", "rollout_share", "retired_at"])


def policy_approve(*, version: int, approver: Any, comment: str, share: Any) -> Policy:
    """A second policy admin approves: for every account (100%) or a staged share."""
    require(approver, perms.APPROVE_POLICY, _("Your role cannot approve policy versions."))
    value = _parse_share(share)
    note = _written(
        comment,
        minimum=5,
        maximum=JUSTIFICATION_MAX,
        too_short=_("Write a comment for the author (at least 5 characters)."),
    )
    with transaction.atomic(durable=True):
        pending = locked(version)
        if pending.state != State.PENDING:
            raise PolicyAdminError(_("This version is not waiting for approval."))
        if pending.author_id == approver.pk:
            raise PolicyAdminError(_("The author of a version can never approve it."))
        now = timezone.now()
        pending.approver, pending.reviewed_at, pending.review_comment = approver, now, note
        event_record(pending, Event.APPROVED, approver, share=value, comment=note)
        if value == 100:
            _activate(pending, approver, now)
            event_record(pending, Event.ACTIVATED, approver, share=100)
        else:
            if Policy.objects.filter(state=State.ROLLOUT).exclude(pk=pending.pk).exists():
                raise PolicyAdminError(
                    _("Another version is in staged rollout; widen it or roll it back first.")
                )
            pending.state, pending.rollout_share = State.ROLLOUT, value
            event_record(pending, Event.ROLLOUT, approver, share=value)
        pending.save()
    return pending


def policy_reject(*, version: int, approver: Any, comment: str) -> Policy:
    """Send a version back to its author as a draft, with the reason."""
    require(approver, perms.APPROVE_POLICY, _("Your role cannot review policy versions."))
    note = _written(
        comment,
        minimum=5,
        maximum=JUSTIFICATION_MAX,
        too_short=_("Write why the version goes back (at least 5 characters)."),
    )
    with transaction.atomic(durable=True):
        pending = locked(version)
        if pending.state != State.PENDING:
            raise PolicyAdminError(_("This version is not waiting for approval."))
        if pending.author_id == approver.pk:
            raise PolicyAdminError(_("The author of a version can never review it."))
        pending.state, pending.reviewed_at, pending.review_comment = (
            State.DRAFT,
            timezone.now(),
            note,
        )
        pending.save(update_fields=["state", "reviewed_at", "review_comment"])
        event_record(pending, Event.REJECTED, approver, comment=note)
    return pending


def policy_rollout_widen(*, actor: Any, share: Any) -> Policy:
    """Give the version in rollout a larger share; at 100% it becomes the active one.
    Never by its author: each change of share is a second admin's, as its approval was."""
    require(actor, perms.APPROVE_POLICY, _("Your role cannot change a rollout."))
    value = _parse_share(share)
    with transaction.atomic(durable=True):
        rollout = Policy.objects.select_for_update().filter(state=State.ROLLOUT).first()
        if rollout is None:
            raise PolicyAdminError(_("No version is in staged rollout."))
        if rollout.author_id == actor.pk:
            raise PolicyAdminError(
                _("You wrote v%(version)s: a second policy admin widens its rollout.")
                % {"version": rollout.version}
            )
        if value <= rollout.rollout_share:
            raise PolicyAdminError(
                _("Widen to more than the %(share)s%% it has now; to go back, roll it back.")
                % {"share": rollout.rollout_share}
            )
        if value == 100:
            _activate(rollout, actor, timezone.now())
            event_record(rollout, Event.ACTIVATED, actor, share=100)
        else:
            rollout.rollout_share = value
            rollout.save(update_fields=["rollout_share"])
            event_record(rollout, Event.WIDENED, actor, share=value)
    return rollout


def policy_rollback(*, actor: Any, reason: str) -> Policy:
    """One action back: a version in rollout stops (its accounts return to the active
    version), or else the active version retires and the one before it returns.
    Applies from the next run on. Returns the version now in force."""
    require(actor, perms.APPROVE_POLICY, _("Your role cannot roll a policy back."))
    text = _written(
        reason,
        minimum=10,
        maximum=REASON_MAX,
        too_short=_("Write why you roll back (at least 10 characters)."),
    )
    now = timezone.now()
    with transaction.atomic(durable=True):
        rollout = Policy.objects.select_for_update().filter(state=State.ROLLOUT).first()
        if rollout is not None:
            rollout.state, rollout.retired_at, rollout.rollout_share = State.RETIRED, now, 0
            rollout.save(update_fields=["state", "retired_at", "rollout_share"])
            event_record(rollout, Event.ROLLED_BACK, actor, comment=text)
            return active_locked()
        active = active_locked()
        previous = (
            Policy.objects.select_for_update()
            .filter(state=State.RETIRED, activated_at__isnull=False, version__lt=active.version)
            .order_by("-retired_at", "-version")
            .first()
        )
        if previous is None:
            raise PolicyAdminError(_("There is no earlier version to go back to."))
        active.state, active.retired_at = State.RETIRED, now
        active.save(update_fields=["state", "retired_at"])
        previous.state, previous.activated_at, previous.retired_at = State.ACTIVE, now, None
        previous.save(update_fields=["state", "activated_at", "retired_at"])
        event_record(active, Event.ROLLED_BACK, actor, comment=text)
        event_record(previous, Event.ACTIVATED, actor, share=100, comment=text)
    return previous


def kill_switch_set(*, actor: Any, paused: bool, reason: str) -> KillSwitch:
    """Pause (or resume) every automatic reduction and closure, portfolio-wide."""
    require(actor, perms.EDIT_POLICY, _("Your role cannot use the kill switch."))
    text = _written(
        reason, minimum=10, maximum=REASON_MAX, too_short=_("Write why (at least 10 characters).")
    )
    with transaction.atomic(durable=True):
        switch, _created = KillSwitch.objects.select_for_update().get_or_create(id=1)
        if switch.reductions_paused == paused:
            raise PolicyAdminError(
                _("Automatic reductions are already paused.")
                if paused
                else _("Automatic reductions are not paused.")
            )
        switch.reductions_paused, switch.reason = paused, text
        switch.changed_by, switch.changed_at = actor, timezone.now()
        switch.save()
        event_record(None, Event.PAUSED if paused else Event.RESUMED, actor, comment=text)
    with contextlib.suppress(RedisError):  # the banner reads it from the cache
        cache.delete(KILL_SWITCH_CACHE_KEY)
    return switch

"""Writes of policy administration: drafts, simulation, four-eyes approval,
staged rollout, rollback and the kill switch. Each change of what is in force
leaves a `PolicyEvent` in its own transaction."""

from __future__ import annotations

import contextlib
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone
from django.utils.translation import gettext as _
from redis.exceptions import RedisError

from accounts.access import may
from accounts.models import Account
from config.text import JUSTIFICATION_MAX, RATIONALE_MAX, REASON_MAX, too_long
from decisions import failures, policy
from decisions.models import Policy
from decisions.runs import QUEUE_ERRORS, id_ranges, load_chunk, score_chunk
from policies import impact
from policies.models import KillSwitch, PolicyEvent, Simulation, SimulationChunk
from policies.selectors import KILL_SWITCH_CACHE_KEY

State = Policy.State
Event = PolicyEvent.Action


class PolicyAdminError(Exception):
    """A refused change, with a message for the policy admin; `errors` per threshold."""

    def __init__(self, message: str, errors: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or {}


def _require(actor: Any, permission: str, message: str) -> None:
    if not may(actor, permission):
        raise PolicyAdminError(message)


def _event(
    policy_obj: Policy | None, action: str, actor: Any, *, share: int | None = None,
    comment: str = "",
) -> None:  # fmt: skip
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


def _locked(version: int) -> Policy:
    found = Policy.objects.select_for_update().filter(version=version).first()
    if found is None:
        raise PolicyAdminError(_("No policy version %(version)s.") % {"version": version})
    return found


def _active_locked() -> Policy:
    active = Policy.objects.select_for_update().filter(state=State.ACTIVE).first()
    if active is None:
        raise PolicyAdminError(_("No policy version is active."))
    return active


# --------------------------------------------------------------------------
# Drafts
# --------------------------------------------------------------------------


def policy_draft_create(*, author: Any) -> Policy:
    """A new draft, starting from the thresholds of the active version."""
    _require(author, "accounts.edit_policy", _("Your role cannot draft policy versions."))
    with transaction.atomic(durable=True):
        active = _active_locked()
        number = (Policy.objects.aggregate(top=Max("version"))["top"] or 0) + 1
        draft = Policy.objects.create(
            version=number,
            state=State.DRAFT,
            rationale="",
            author=author,
            # Every threshold written out, also those the active version is read with.
            rules={**policy.READ_AS_DEFAULT, **active.rules},
        )
        _event(draft, Event.DRAFTED, author, comment=f"from v{active.version}")
    return draft


def policy_draft_update(
    *, version: int, author: Any, rules: dict[str, Any], rationale: str
) -> Policy:
    """Save a draft's thresholds; every problem is named, and nothing is saved then."""
    _require(author, "accounts.edit_policy", _("Your role cannot draft policy versions."))
    text = (rationale or "").strip()
    errors: dict[str, str] = {}
    try:
        parsed = policy.parse_policy(rules)
    except policy.PolicyError as error:
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
        draft = _locked(version)
        if draft.state != State.DRAFT:
            raise PolicyAdminError(_("Only a draft can be edited; this version is %(state)s.")
                                   % {"state": draft.get_state_display()})  # fmt: skip
        if draft.author_id != author.pk:
            raise PolicyAdminError(_("Only the author of a draft edits it."))
        draft.rules = parsed.as_json()
        draft.rationale = text
        draft.save(update_fields=["rules", "rationale"])
    return draft


def policy_submit(*, version: int, author: Any) -> Policy:
    """Send a draft for a second admin's approval; it must have been simulated as it is."""
    _require(author, "accounts.edit_policy", _("Your role cannot submit policy versions."))
    with transaction.atomic(durable=True):
        draft = _locked(version)
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
                _("Simulate the draft as it is now before submitting it: the approver decides "
                  "on its impact.")
            )  # fmt: skip
        draft.state = State.PENDING
        draft.submitted_at = timezone.now()
        draft.save(update_fields=["state", "submitted_at"])
        _event(draft, Event.SUBMITTED, author, comment=draft.rationale)
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
    _require(approver, "accounts.approve_policy", _("Your role cannot approve policy versions."))
    value = _parse_share(share)
    note = _written(
        comment, minimum=5, maximum=JUSTIFICATION_MAX,
        too_short=_("Write a comment for the author (at least 5 characters)."),
    )  # fmt: skip
    with transaction.atomic(durable=True):
        pending = _locked(version)
        if pending.state != State.PENDING:
            raise PolicyAdminError(_("This version is not waiting for approval."))
        if pending.author_id == approver.pk:
            raise PolicyAdminError(_("The author of a version can never approve it."))
        now = timezone.now()
        pending.approver, pending.reviewed_at, pending.review_comment = approver, now, note
        _event(pending, Event.APPROVED, approver, share=value, comment=note)
        if value == 100:
            _activate(pending, approver, now)
            _event(pending, Event.ACTIVATED, approver, share=100)
        else:
            if Policy.objects.filter(state=State.ROLLOUT).exclude(pk=pending.pk).exists():
                raise PolicyAdminError(
                    _("Another version is in staged rollout; widen it or roll it back first.")
                )
            pending.state, pending.rollout_share = State.ROLLOUT, value
            _event(pending, Event.ROLLOUT, approver, share=value)
        pending.save()
    return pending


def policy_reject(*, version: int, approver: Any, comment: str) -> Policy:
    """Send a version back to its author as a draft, with the reason."""
    _require(approver, "accounts.approve_policy", _("Your role cannot review policy versions."))
    note = _written(
        comment, minimum=5, maximum=JUSTIFICATION_MAX,
        too_short=_("Write why the version goes back (at least 5 characters)."),
    )  # fmt: skip
    with transaction.atomic(durable=True):
        pending = _locked(version)
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
        _event(pending, Event.REJECTED, approver, comment=note)
    return pending


def policy_rollout_widen(*, actor: Any, share: Any) -> Policy:
    """Give the version in rollout a larger share; at 100% it becomes the active one.
    Never by its author: each change of share is a second admin's, as its approval was."""
    _require(actor, "accounts.approve_policy", _("Your role cannot change a rollout."))
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
            _event(rollout, Event.ACTIVATED, actor, share=100)
        else:
            rollout.rollout_share = value
            rollout.save(update_fields=["rollout_share"])
            _event(rollout, Event.WIDENED, actor, share=value)
    return rollout


def policy_rollback(*, actor: Any, reason: str) -> Policy:
    """One action back: a version in rollout stops (its accounts return to the active
    version), or else the active version retires and the one before it returns.
    Applies from the next run on. Returns the version now in force."""
    _require(actor, "accounts.approve_policy", _("Your role cannot roll a policy back."))
    text = _written(
        reason, minimum=10, maximum=REASON_MAX,
        too_short=_("Write why you roll back (at least 10 characters)."),
    )  # fmt: skip
    now = timezone.now()
    with transaction.atomic(durable=True):
        rollout = Policy.objects.select_for_update().filter(state=State.ROLLOUT).first()
        if rollout is not None:
            rollout.state, rollout.retired_at, rollout.rollout_share = State.RETIRED, now, 0
            rollout.save(update_fields=["state", "retired_at", "rollout_share"])
            _event(rollout, Event.ROLLED_BACK, actor, comment=text)
            return _active_locked()
        active = _active_locked()
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
        _event(active, Event.ROLLED_BACK, actor, comment=text)
        _event(previous, Event.ACTIVATED, actor, share=100, comment=text)
    return previous


def kill_switch_set(*, actor: Any, paused: bool, reason: str) -> KillSwitch:
    """Pause (or resume) every automatic reduction and closure, portfolio-wide."""
    _require(actor, "accounts.edit_policy", _("Your role cannot use the kill switch."))
    text = _written(
        reason, minimum=10, maximum=REASON_MAX, too_short=_("Write why (at least 10 characters).")
    )
    with transaction.atomic(durable=True):
        switch, _created = KillSwitch.objects.select_for_update().get_or_create(id=1)
        if switch.reductions_paused == paused:
            raise PolicyAdminError(
                _("Automatic reductions are already paused.") if paused
                else _("Automatic reductions are not paused.")
            )  # fmt: skip
        switch.reductions_paused, switch.reason = paused, text
        switch.changed_by, switch.changed_at = actor, timezone.now()
        switch.save()
        _event(None, Event.PAUSED if paused else Event.RESUMED, actor, comment=text)
    with contextlib.suppress(RedisError):  # the banner reads it from the cache
        cache.delete(KILL_SWITCH_CACHE_KEY)
    return switch


# --------------------------------------------------------------------------
# Simulation: the compute phase of a run, summed up, no decision written
# --------------------------------------------------------------------------


def simulation_start(*, version: int, actor: Any) -> Simulation:
    _require(actor, "accounts.edit_policy", _("Your role cannot simulate policy versions."))
    with transaction.atomic(durable=True):
        target = _locked(version)
        if target.state != State.DRAFT:
            raise PolicyAdminError(_("Only a draft is simulated; this version is %(state)s.")
                                   % {"state": target.get_state_display()})  # fmt: skip
        try:
            policy.parse_policy(target.rules)
        except policy.PolicyError:
            raise PolicyAdminError(_("Fix the draft's thresholds before simulating it.")) from None
        if Simulation.objects.filter(policy=target, state__in=["queued", "running"]).exists():
            raise PolicyAdminError(_("A simulation of this draft is already running."))
        active = _active_locked()
        simulation = Simulation.objects.create(
            policy=target, base=active, rules=target.rules, started_by=actor,
            accounts_total=Account.objects.count(),
        )  # fmt: skip
        chunks = [
            SimulationChunk(simulation=simulation, index=index, first_id=first, last_id=last)
            for index, (first, last) in enumerate(id_ranges(Account.objects.all()))
        ]
        SimulationChunk.objects.bulk_create(chunks)
        simulation.chunks_total = len(chunks)
        if not chunks:
            simulation.state, simulation.finished_at = Simulation.State.DONE, timezone.now()
        simulation.save()
    try:
        _send_chunks(simulation, [chunk.index for chunk in chunks])
    except QUEUE_ERRORS:
        # Nothing is left behind that would look started (docs/architecture.md,
        # "The task queue"): chunks already sent find no simulation and do nothing.
        Simulation.objects.filter(pk=simulation.pk).delete()
        raise PolicyAdminError(_("The task queue (Redis) is unavailable: nothing was "
                                 "started. Try again in a minute.")) from None  # fmt: skip
    return simulation


def _send_chunks(simulation: Simulation, indexes: list[int]) -> None:
    from policies import tasks

    for index in indexes:
        tasks.simulate_chunk.delay(simulation.pk, index)


def simulation_compute_chunk(*, simulation_id: int, index: int) -> bool:
    """Score one chunk with the draft and the active version; sum both up."""
    with transaction.atomic(durable=True):
        chunk = (
            SimulationChunk.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(simulation_id=simulation_id, index=index, state=SimulationChunk.State.PENDING)
            .order_by()
            .first()
        )
        if chunk is None:
            return False
        simulation = Simulation.objects.select_related("base").get(pk=simulation_id)
        if simulation.state not in {Simulation.State.QUEUED, Simulation.State.RUNNING}:
            return False
        draft = policy.compile_rules(policy.parse_policy(simulation.rules))
        active = policy.compile_rules(policy.parse_policy(simulation.base.rules))
        bands = [band.name for band in active.rules.bands]
        data = load_chunk(chunk.first_id, chunk.last_id, bands)
        chunk.summary = {
            name: impact.chunk_summary(
                data.ids, data.limit, data.status, score_chunk(compiled, data), compiled.rules
            )
            for name, compiled in (("draft", draft), ("active", active))
        }
        chunk.state = SimulationChunk.State.DONE
        chunk.save(update_fields=["summary", "state"])
        Simulation.objects.filter(pk=simulation_id).update(
            state=Simulation.State.RUNNING,
            chunks_done=F("chunks_done") + 1,
            accounts_done=F("accounts_done") + len(data.ids),
        )
    _finish_simulation_if_ready(simulation_id)
    return True


def _finish_simulation_if_ready(simulation_id: int) -> None:
    with transaction.atomic(durable=True):
        simulation = Simulation.objects.select_for_update().get(pk=simulation_id)
        if simulation.state != Simulation.State.RUNNING:
            return
        if simulation.chunks.exclude(state=SimulationChunk.State.DONE).exists():
            return
        summaries = list(simulation.chunks.values_list("summary", flat=True))
        simulation.results = {
            name: impact.merge_summaries(part[name] for part in summaries)
            for name in ("draft", "active")
        }
        simulation.state, simulation.finished_at = Simulation.State.DONE, timezone.now()
        simulation.save()
        simulation.chunks.update(summary={})


def simulation_fail(*, simulation_id: int, error: BaseException, chunk: int | None) -> None:
    """Mark a simulation failed with what went wrong; simulation_retry scores the rest."""
    record = failures.failure_record(error, phase="compute", chunk=chunk, at=timezone.now())
    with transaction.atomic(durable=True):
        simulation = (
            Simulation.objects.select_for_update()
            .filter(pk=simulation_id)
            .exclude(state=Simulation.State.DONE)
            .first()
        )
        if simulation is None:
            return
        simulation.failures = [*simulation.failures, record]
        if simulation.state != Simulation.State.FAILED:
            simulation.state, simulation.finished_at = Simulation.State.FAILED, timezone.now()
            where = f"chunk {chunk}: " if chunk is not None else ""
            simulation.error = f"{where}{record['error']}"
        simulation.save(update_fields=["failures", "state", "finished_at", "error"])


def simulation_retry(*, simulation_id: int, actor: Any) -> Simulation:
    """Score the chunks a failed simulation had not scored; the others are kept."""
    _require(actor, "accounts.edit_policy", _("Your role cannot simulate policy versions."))
    with transaction.atomic(durable=True):
        simulation = Simulation.objects.select_for_update().filter(pk=simulation_id).first()
        if simulation is None or simulation.state != Simulation.State.FAILED:
            raise PolicyAdminError(_("Only a failed simulation can be retried."))
        pending = list(
            simulation.chunks.filter(state=SimulationChunk.State.PENDING).values_list(
                "index", flat=True
            )
        )
        simulation.failures = failures.mark_retried(
            simulation.failures, by=actor.username, at=timezone.now()
        )
        simulation.state = Simulation.State.RUNNING
        simulation.error, simulation.finished_at = "", None
        simulation.save(update_fields=["failures", "state", "error", "finished_at"])
    try:
        _send_chunks(simulation, pending)
    except QUEUE_ERRORS as error:
        # Not retried after all: failed again, with why, for a person to retry later.
        simulation_fail(simulation_id=simulation.pk, error=error, chunk=None)
        raise PolicyAdminError(_("The task queue (Redis) is unavailable: the retry was "
                                 "not started. Try again in a minute.")) from None  # fmt: skip
    _finish_simulation_if_ready(simulation_id)
    simulation.refresh_from_db()
    return simulation

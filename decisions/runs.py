"""Re-scoring runs, their life from start to end: start, approve or discard, fail,
retry, resume and revert. The work on each chunk is in decisions/chunks.py; the
Celery tasks in decisions/tasks.py call both.

A run has two phases over id-range chunks of the portfolio:

- compute: each chunk is scored with the vectorised policy (scoring.vectorised)
  and its result stored on the chunk; nothing changes on the accounts;
- then the circuit breaker looks at the totals. Within its limits the run
  applies; otherwise it waits for a person to approve or discard it;
- apply: each chunk writes its decisions and updates its accounts through
  decisions.services.decisions_write, in one transaction per chunk.

Every step is keyed by the chunk's state in the database and takes the chunk
row with SKIP LOCKED, so a redelivered or duplicated task does nothing twice,
and a worker killed mid-chunk leaves that chunk's transaction rolled back for
the resumed run to redo. It locks that row only (`of=("self",)`, no ordering
joins): the run row, which every chunk updates, must not be locked with it, or
parallel chunks would skip each other."""

from __future__ import annotations

import contextlib
import logging
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Max, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

import scoring
from accounts import permissions as perms
from accounts.access import may
from accounts.book import id_ranges
from accounts.models import Account
from config import failures, metrics, queue
from config.queue import QUEUE_ERRORS, Send
from config.text import JUSTIFICATION_MAX, too_long
from decisions.chunks import (
    begin_apply,
    finish_apply_if_ready,
    finish_compute_if_ready,
    is_portfolio,
)
from decisions.errors import DecisionError
from decisions.models import LimitDecision, RescoreRun, RunChunk
from decisions.selectors import require_active_policy
from decisions.services import Change, decisions_write
from decisions.steady import steady_share
from history import services as history_services
from policies import selectors as policy_selectors

Run = RescoreRun
State = RescoreRun.State
logger = logging.getLogger(__name__)


class QueueUnavailable(DecisionError):
    """The task queue could not take the work; the message says what became of it."""


class RunBusy(DecisionError):
    """Another portfolio run is moving (docs/architecture.md, "Runs")."""

    def __init__(self) -> None:
        super().__init__(_("A portfolio re-score is already running; wait for it to finish."))


# Who or what moves a run on from each state that is not final (docs/architecture.md,
# "Runs", draws it); tests/decisions/test_run_states.py drives each way out and fails
# for a state missing here. Done, discarded and reverted are final.
WAYS_OUT: dict[str, str] = {
    State.QUEUED: "the worker scores its chunks; the watchdog queues them again if lost",
    State.COMPUTING: "the worker scores the rest; the watchdog queues the rest again if lost",
    State.WAITING: "a second person approves it (then it applies) or discards it",
    State.APPLYING: "the worker applies its chunks; the watchdog queues them again if lost",
    State.FAILED: "a person retries it from where it stopped, or reverts what it wrote",
    State.REVERTING: "the worker restores the accounts; the watchdog gives a revert that "
    "stopped back to a person, who may start it again",
}
FINAL = (State.DONE, State.DISCARDED, State.REVERTED)


def publish(sends: list[Send], *, not_queued: str) -> None:
    """Send tasks for a person's request, after its transaction committed; when the
    queue is away, QueueUnavailable with `not_queued`, the words for what became of it."""
    try:
        for task_name, args in sends:
            queue.send(task_name, *args)
    except QUEUE_ERRORS as error:
        logger.warning("tasks not queued (the task queue is away): %s", error)
        raise QueueUnavailable(not_queued) from error


@contextlib.contextmanager
def _one_moving_portfolio_run() -> Any:
    """Turn the database's refusal of a second moving portfolio run into RunBusy."""
    try:
        with transaction.atomic():
            yield
    except IntegrityError as error:
        if "one_moving_portfolio_run" in str(error):
            raise RunBusy() from error
        raise


def run_start(*, trigger: str, started_by: Any = None, account_id: int | None = None) -> Run:
    """Create a run over the whole portfolio (or one account) and queue its chunks."""
    if started_by is not None and not may(started_by, perms.START_RESCORE):
        raise DecisionError(_("Your role cannot start a re-score."))
    with transaction.atomic(durable=True):
        active = require_active_policy()
        busy = Run.objects.filter(account__isnull=True, state__in=Run.MOVING)
        if account_id is None and busy.exclude(trigger=Run.Trigger.SIGNAL).exists():
            raise RunBusy()
        if account_id is not None and not Account.objects.filter(pk=account_id).exists():
            raise DecisionError(_("This account does not exist."))
        candidate = policy_selectors.version_in_rollout()
        # Two starts at once both pass the check above; the database lets one through.
        with _one_moving_portfolio_run():
            run = Run.objects.create(
                trigger=trigger,
                started_by=started_by,
                account_id=account_id,
                policy=active,
                candidate=candidate,
                rollout_share=candidate.rollout_share if candidate else 0,
            )
        accounts = Account.objects.all()
        if account_id is not None:
            accounts = accounts.filter(pk=account_id)
        ranges = id_ranges(accounts)
        if ranges and is_portfolio(run):
            # Created with the run, under the cadence (docs/architecture.md,
            # "Snapshots in a run"); its chunks COPY their rows into it.
            history_services.snapshot_begin(
                run_id=run.pk,
                day=timezone.localdate(run.created_at),
                cadence=settings.PORTFOLIO_SNAPSHOT_CADENCE,
                policy_version=active.version,
                candidate_version=candidate.version if candidate else None,
                rollout_share=run.rollout_share,
            )
        # The nightly run scores only what may have changed (docs/architecture.md, "The
        # incremental nightly run"); a person's run, a rollout's and one writing a
        # snapshot score every account.
        incremental = (
            trigger == Run.Trigger.SCHEDULE
            and account_id is None
            and candidate is None
            and settings.RESCORE_INCREMENTAL
            and history_services.snapshot_writing(run_id=run.pk) is None
        )
        book = accounts.aggregate(
            total=Count("id"),
            exposure=Sum("current_limit", filter=Q(status=Account.Status.ACTIVE)),
        )
        if incremental and steady_share(policy_id=active.pk, accounts=book["total"]) >= 0.5:
            # Most of each chunk is advanced, not scored: fewer, larger chunks.
            ranges = id_ranges(accounts, size=settings.RESCORE_INCREMENTAL_CHUNK_SIZE)
        chunks = [
            RunChunk(run=run, index=index, first_id=first, last_id=last)
            for index, (first, last) in enumerate(ranges)
        ]
        RunChunk.objects.bulk_create(chunks)
        Run.objects.filter(pk=run.pk).update(
            chunks_total=len(chunks),
            accounts_total=book["total"],
            exposure_before=book["exposure"] or Decimal(0),
            incremental=incremental,
        )
        if not chunks:
            Run.objects.filter(pk=run.pk).update(state=State.DONE, finished_at=timezone.now())
    try:
        publish(
            [("decisions.tasks.compute_chunk", (run.pk, chunk.index)) for chunk in chunks],
            not_queued=_(
                "The task queue (Redis) is unavailable: nothing was started. Try again in a minute."
            ),
        )
    except QueueUnavailable:
        # Nothing is left behind for the watchdog to start later, after the person was
        # told it failed: chunks already sent find no run and do nothing.
        Run.objects.filter(pk=run.pk, state__in=[State.QUEUED, State.COMPUTING]).delete()
        history_services.snapshot_forget(run_id=run.pk)
        raise
    run.refresh_from_db()
    return run


def run_approve(*, run_id: int, actor: Any) -> Run:
    """A person lets a run held by the circuit breaker apply; never the one who started it."""
    if not may(actor, perms.START_RESCORE):
        raise DecisionError(_("Your role cannot approve a re-scoring run."))
    with transaction.atomic(durable=True):
        run = Run.objects.select_for_update().get(pk=run_id)
        if run.state != State.WAITING:
            raise DecisionError(_("This run is not waiting for approval."))
        if run.started_by_id == actor.pk:
            raise DecisionError(
                _("You started this run: a second person must approve it (they may discard it).")
            )
        run.decided_by = actor
        sends = begin_apply(run)
        with _one_moving_portfolio_run():
            run.save()
    publish(
        sends,
        not_queued=_(
            "Approved. The task queue (Redis) is unavailable: the run applies its "
            "decisions when it is back (the watchdog queues them within minutes)."
        ),
    )
    return run


def run_discard(*, run_id: int, actor: Any) -> Run:
    """A person throws away a run held by the circuit breaker; nothing is applied."""
    if not may(actor, perms.START_RESCORE):
        raise DecisionError(_("Your role cannot discard a re-scoring run."))
    with transaction.atomic(durable=True):
        run = Run.objects.select_for_update().get(pk=run_id)
        if run.state != State.WAITING:
            raise DecisionError(_("This run is not waiting for approval."))
        run.state = State.DISCARDED
        run.decided_by = actor
        run.finished_at = timezone.now()
        run.save()
        metrics.run_ended(
            trigger=run.trigger, state=run.state, started=run.created_at, ended=run.finished_at
        )
        run.chunks.update(result=None)
        # Its snapshot stays, read by nothing: the book it saw, actions never taken.
        history_services.snapshot_discard(run_id=run.pk)
    return run


# --------------------------------------------------------------------------
# Fail, retry, resume, revert
# --------------------------------------------------------------------------


def run_fail(*, run_id: int, error: BaseException, phase: str, chunk: int | None) -> None:
    """Mark a run failed with what went wrong. Applied chunks stay (each was whole);
    run_retry redoes the others."""
    record = failures.failure_record(error, phase=phase, chunk=chunk, at=timezone.now())
    with transaction.atomic(durable=True):
        run = (
            Run.objects.select_for_update()
            .filter(pk=run_id, state__in=[*Run.MOVING, State.FAILED])
            .first()
        )
        if run is None:
            return  # finished, discarded or reverted meanwhile: nothing to mark
        run.failures = [*run.failures, record]
        if run.state != State.FAILED:
            run.state, run.finished_at = State.FAILED, timezone.now()
            run.error = (
                f"chunk {chunk}: {record['error']}" if chunk is not None else record["error"]
            )
            metrics.run_ended(
                trigger=run.trigger, state=run.state, started=run.created_at, ended=run.finished_at
            )
        run.save(update_fields=["failures", "state", "finished_at", "error"])


def run_retry(*, run_id: int, actor: Any) -> Run:
    """Take up a failed run where it stopped: the chunks it had not scored are scored,
    those it had not applied are applied; what was applied stays as it is."""
    if not may(actor, perms.START_RESCORE):
        raise DecisionError(_("Your role cannot retry a re-scoring run."))
    with transaction.atomic(durable=True):
        run = Run.objects.select_for_update().filter(pk=run_id).first()
        if run is None or run.state != State.FAILED:
            raise DecisionError(_("Only a failed run can be retried."))
        chunks = dict(run.chunks.values_list("index", "state"))
        pending = [index for index, state in chunks.items() if state == RunChunk.State.PENDING]
        computed = [index for index, state in chunks.items() if state == RunChunk.State.COMPUTED]
        now = timezone.now()
        run.failures = failures.mark_retried(run.failures, by=actor.username, at=now)
        run.error, run.finished_at = "", None
        if pending or run.apply_started_at is None:
            # Stopped while scoring: score what is left; the breaker looks at the whole.
            run.state = State.COMPUTING if run.compute_started_at else State.QUEUED
            sends: list[Send] = [
                ("decisions.tasks.compute_chunk", (run.pk, index)) for index in pending
            ]
        else:
            run.state = State.APPLYING
            sends = [("decisions.tasks.apply_chunk", (run.pk, index)) for index in computed]
        with _one_moving_portfolio_run():
            run.save(update_fields=["failures", "error", "finished_at", "state"])
    publish(
        sends,
        not_queued=_(
            "The task queue (Redis) is unavailable: the run goes on when it is back "
            "(the watchdog queues its chunks within minutes)."
        ),
    )
    # Nothing left to queue (it stopped between two phases): move it on here.
    finish_compute_if_ready(run_id)
    finish_apply_if_ready(run_id)
    run.refresh_from_db()
    return run


def run_resume(*, run_id: int) -> int:
    """Queue again whatever a run still has to do (after a worker died). Idempotent."""
    with transaction.atomic(durable=True):
        run = Run.objects.select_for_update().get(pk=run_id)
        queued = 0
        if run.state in {State.QUEUED, State.COMPUTING}:
            for index in run.chunks.filter(state=RunChunk.State.PENDING).values_list(
                "index", flat=True
            ):
                queue.enqueue("decisions.tasks.compute_chunk", run.pk, index)
                queued += 1
        elif run.state == State.APPLYING:
            for index in run.chunks.filter(state=RunChunk.State.COMPUTED).values_list(
                "index", flat=True
            ):
                queue.enqueue("decisions.tasks.apply_chunk", run.pk, index)
                queued += 1
    if not queued:
        finish_compute_if_ready(run_id)
        finish_apply_if_ready(run_id)
    return queued


def runs_resume_stalled(*, quiet_for: timedelta) -> list[int]:
    """The watchdog: resume the runs in which no chunk has moved for `quiet_for`, and
    give up the reverts that wrote nothing for as long (a person may start them again).
    See docs/architecture.md, "Runs": every state that is not final has a way out."""
    since = timezone.now() - quiet_for
    stalled = []
    for run in Run.objects.filter(state__in=[*Run.MOVING, State.REVERTING]):
        if run.state == State.REVERTING:
            latest = LimitDecision.objects.filter(
                source=LimitDecision.Source.REVERT, reverts__run_id=run.pk
            ).aggregate(at=Max("created_at"))["at"]
            moments = [m for m in (latest, run.revert_requested_at, run.created_at) if m]
            if max(moments) < since:
                minutes = int(quiet_for.total_seconds() // 60)
                run_revert_failed(
                    run_id=run.pk, error=f"no restoring decision written for {minutes} min"
                )
                stalled.append(run.pk)
            continue
        latest = run.chunks.aggregate(computed=Max("computed_at"), applied=Max("applied_at"))
        moments = [m for m in (latest["computed"], latest["applied"], run.created_at) if m]
        if max(moments) < since:
            run_resume(run_id=run.pk)
            stalled.append(run.pk)
    return stalled


def _revert_text(run: Run, actor: Any, justification: str) -> str:
    """The checks before a revert; the justification, stripped."""
    if not may(actor, perms.START_RESCORE):
        raise DecisionError(_("Your role cannot revert a run."))
    text = (justification or "").strip()
    if len(text) < 10:
        raise DecisionError(_("Write why the run is reverted (at least 10 characters)."))
    if problem := too_long(text, JUSTIFICATION_MAX):
        raise DecisionError(problem)
    if not (run.revertible or run.state == State.REVERTING):
        raise DecisionError(
            _(
                "Only a finished run, or one that stopped part-way after writing decisions, "
                "can be reverted."
            )
        )
    return text


def run_revert_request(*, run_id: int, actor: Any, justification: str) -> Run:
    """Check a revert and hand it to the worker (a large run takes a while)."""
    with transaction.atomic(durable=True):
        run = Run.objects.select_for_update().get(pk=run_id)
        if run.state == State.REVERTING:
            raise DecisionError(_("This run is being reverted already."))
        text = _revert_text(run, actor, justification)
        run.state = State.REVERTING
        run.decided_by = actor
        run.revert_requested_at = timezone.now()
        run.save(update_fields=["state", "decided_by", "revert_requested_at"])
    try:
        publish(
            [("decisions.tasks.revert_run", (run.pk, actor.pk, text))],
            not_queued=_(
                "The task queue (Redis) is unavailable: the revert was not started. "
                "Try again in a minute."
            ),
        )
    except QueueUnavailable as error:
        # Not queued: the run is back where it was, and the person may try again.
        run_revert_failed(run_id=run.pk, error=f"not queued: {error.__cause__!r}")
        raise
    return run


def run_revert_failed(*, run_id: int, error: str) -> None:
    """A revert stopped half-way: the run is back where it was, done or stopped
    part-way (restored accounts stay restored), and says why, so a person can start
    the revert again."""
    with transaction.atomic(durable=True):
        run = Run.objects.select_for_update().filter(pk=run_id, state=State.REVERTING).first()
        if run is None:
            return
        whole = not run.chunks.exclude(state=RunChunk.State.APPLIED).exists()
        run.state = State.DONE if whole else State.FAILED
        run.error = f"revert stopped: {error}"[:4000]
        run.save(update_fields=["state", "error"])


def run_revert(
    *, run_id: int, actor: Any, justification: str, batch: int = 5000, queued: bool = False
) -> Run:
    """Undo a run with new decisions that restore each account's previous limit.

    History is not edited: each restoring decision points at the one it undoes.
    An account that changed again after the run keeps its newer decision.
    Idempotent: a decision already restored is not restored twice. `queued`: the
    worker's task, which does nothing once the request was given up (the watchdog
    gave it up, or it was redelivered after finishing).
    """
    run = Run.objects.get(pk=run_id)
    if queued and run.state != State.REVERTING:
        return run
    text = _revert_text(run, actor, justification)
    rules = scoring.parse_policy(require_active_policy().rules)
    last_id = 0
    while True:
        with transaction.atomic(durable=True):
            decisions = list(
                LimitDecision.objects.filter(run_id=run_id, pk__gt=last_id)
                .filter(~Q(reverted_by__isnull=False))
                .order_by("pk")[:batch]
            )
            if not decisions:
                break
            last_id = decisions[-1].pk
            current = {
                pk: (head, version)
                for pk, head, version in Account.objects.filter(
                    pk__in=[d.account_id for d in decisions]
                ).values_list("pk", "chain_head", "version")
            }
            changes = [
                Change(
                    account_id=d.account_id,
                    expected_version=current[d.account_id][1],
                    action=LimitDecision.Action.RESTORE,
                    source=LimitDecision.Source.REVERT,
                    new_limit=d.old_limit,
                    new_status=d.old_status,
                    reasons=("INCIDENT_REVERT",),
                    justification=text,
                    actor_id=actor.pk,
                    score_after=d.score_before,
                    band_after=d.band_before,
                    reverts_id=d.pk,
                    idempotency_key=f"revert:{d.pk}",
                )
                for d in decisions
                if current[d.account_id][0] == d.hash
            ]
            decisions_write(changes, cooldown_days=rules.cooldown_days)
    with transaction.atomic(durable=True):
        Run.objects.filter(pk=run_id).update(state=State.REVERTED, decided_by=actor)
        # A run that stopped part-way is reverted as it stands: what it had not
        # applied never will be.
        run.chunks.exclude(state=RunChunk.State.APPLIED).update(result=None)
    run.refresh_from_db()
    return run

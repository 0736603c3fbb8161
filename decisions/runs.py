"""Re-scoring runs: the services behind the Celery tasks in decisions/tasks.py.

A run has two phases over id-range chunks of the portfolio:

- compute: each chunk is scored with the vectorised policy (decisions.policy)
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
parallel chunks would skip each other.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Max, Min, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from kombu.exceptions import OperationalError as KombuOperationalError
from redis.exceptions import RedisError

from accounts.access import may
from accounts.models import Account
from accounts.signal_spec import SIGNALS_BY_NAME
from config import db
from config.text import JUSTIFICATION_MAX, too_long
from decisions import failures, policy
from decisions.models import LimitDecision, Policy, RescoreRequest, RescoreRun, RunChunk
from decisions.services import (
    Change,
    DecisionError,
    active_policy,
    decisions_write,
    update_from_rows,
)
from policies.selectors import reductions_paused

Run = RescoreRun
State = RescoreRun.State
logger = logging.getLogger(__name__)

_SIGNAL_SQL = ", ".join(
    f"COALESCE(s.{name}::int::float8, 0)"
    if SIGNALS_BY_NAME[name].kind == "bool"
    else f"COALESCE(s.{name}::float8, 0)"
    for name in policy.INPUT_SIGNALS
)
# Every column fixed-width and never NULL, so PostgreSQL's binary COPY of the
# chunk is one numpy record array (no per-value Python objects).
CHUNK_SQL = f"""
    COPY (
        SELECT a.id::int8, (a.current_limit * 100)::int8,
               (CASE a.status WHEN 'active' THEN 0 WHEN 'frozen' THEN 1 ELSE 2 END)::int8,
               a.version::int8, a.good_cycles::int8, COALESCE(a.score, -1)::int8,
               (COALESCE(array_position(%s::text[], a.band::text), 0) - 1)::int8,
               (CASE WHEN %s THEN {policy.ROLLOUT_BUCKET_SQL} ELSE 0 END)::int8,
               (a.cooldown_until IS NOT NULL AND a.cooldown_until > %s), {_SIGNAL_SQL}
        FROM accounts_account a JOIN accounts_accountsignals s ON s.account_id = a.id
        WHERE {{where}}
        ORDER BY a.id
    ) TO STDOUT (FORMAT BINARY)
"""  # noqa: S608 - column names come from code, values are parameters
_INT_COLUMNS = ("ids", "limit", "status", "version", "good_cycles", "score", "band", "bucket")
COPY_HEADER = 19  # signature (11), flags (4), header extension length (4)
COPY_ROW = np.dtype(
    [("fields", ">i2")]
    + [item for name in _INT_COLUMNS for item in ((f"{name}_len", ">i4"), (name, ">i8"))]
    + [("in_cooldown_len", ">i4"), ("in_cooldown", "?")]
    + [item for i in range(len(policy.INPUT_SIGNALS))
       for item in ((f"s{i}_len", ">i4"), (f"s{i}", ">f8"))]
)  # fmt: skip


# What the task queue raises when Redis cannot be reached (it fails within a second:
# tasks keep no results, so sending waits for no result backend; config/settings.py).
QUEUE_ERRORS = (KombuOperationalError, RedisError)
Send = tuple[str, tuple[Any, ...]]  # a task's name in decisions.tasks and its arguments


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


def _send(task_name: str, *args: Any) -> None:
    from decisions import tasks

    getattr(tasks, task_name).delay(*args)


def _send_or_leave_to_watchdog(task_name: str, *args: Any) -> None:
    try:
        _send(task_name, *args)
    except QUEUE_ERRORS as error:
        # The state is committed: the watchdog queues the work again once it is back.
        logger.warning("%s%s not queued (the task queue is away): %s", task_name, args, error)


def _enqueue(task_name: str, *args: Any) -> None:
    """Send a task once the surrounding transaction commits. For the worker's own next
    steps: a queue that is away then leaves them to the watchdog (runs_resume_stalled)."""
    transaction.on_commit(functools.partial(_send_or_leave_to_watchdog, task_name, *args))


def _publish(sends: list[Send], *, not_queued: str) -> None:
    """Send tasks for a person's request, after its transaction committed; when the
    queue is away, QueueUnavailable with `not_queued`, the words for what became of it."""
    try:
        for task_name, args in sends:
            _send(task_name, *args)
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


# --------------------------------------------------------------------------
# Start
# --------------------------------------------------------------------------


def id_ranges(accounts: QuerySet[Account]) -> list[tuple[int, int]]:
    """The accounts' id span in ranges of RESCORE_CHUNK_SIZE ids: the chunks of a run
    or of a simulation."""
    bounds = accounts.aggregate(low=Min("id"), high=Max("id"))
    low, high, size = bounds["low"], bounds["high"], settings.RESCORE_CHUNK_SIZE
    if low is None:
        return []
    return [(first, min(first + size - 1, high)) for first in range(low, high + 1, size)]


RESCORE_SCHEDULED_KEY = "limitdesk:rescore-requested"
RESCORE_SCHEDULED_SECONDS = 60  # and the beat looks every minute besides
# One task takes batches for this long at most, then queues its successor: under a
# steady feed it must not hold a worker away from runs and other tasks for good.
RESCORE_TASK_SECONDS = 20
# Batches of signal re-scores are taken one at a time (an advisory lock): a second
# task finds it held and leaves the work to the first, which always looks again.
RESCORE_BATCH_LOCK = 7_310_001


def rescore_accounts_request(account_ids: Iterable[int]) -> None:
    """Ask for a re-score of these accounts (their signals changed), in the caller's
    transaction; the worker is told once it commits. Requests are carried out in
    batches, and several for one account give one re-score, which reads the
    signals as they are when it starts."""
    ids = sorted(set(account_ids))
    if not ids:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {RescoreRequest._meta.db_table} (account_id, requested_at) "
            "SELECT unnest(%s::bigint[]), %s",
            [ids, timezone.now()],
        )
    # robust: the batch has committed; a broker that is down must not turn it into an
    # error (the beat queues the task within a minute).
    transaction.on_commit(rescore_requests_schedule, robust=True)


def rescore_requests_schedule() -> None:
    """Queue the task that carries out the requests, unless one is queued already and
    has not started taking them."""
    from decisions import tasks

    try:
        fresh = cache.add(RESCORE_SCHEDULED_KEY, 1, RESCORE_SCHEDULED_SECONDS)
    except RedisError:
        fresh = True  # without the cache, one task per transaction
    if fresh:
        tasks.rescore_requested.delay()


def rescore_requested(
    *, batch: int | None = None, seconds: float = RESCORE_TASK_SECONDS
) -> list[int]:
    """Carry out the waiting re-score requests, a batch per run, until none is left
    (or another task is taking them, or `seconds` are up: then a successor is
    queued). Returns the runs' ids."""
    # From here on a new request queues a new task: none is missed.
    with contextlib.suppress(RedisError):
        cache.delete(RESCORE_SCHEDULED_KEY)
    deadline = time.monotonic() + seconds
    done = []
    while (run := rescore_requested_batch(limit=batch or settings.RESCORE_CHUNK_SIZE)) is not None:
        done.append(run.pk)
        if time.monotonic() > deadline:
            rescore_requests_schedule()
            break
    return done


_TAKE_REQUESTS_SQL = f"""
    WITH taken AS (
        SELECT id, account_id FROM {RescoreRequest._meta.db_table}
        ORDER BY requested_at, id LIMIT %s FOR UPDATE SKIP LOCKED
    ), same_accounts AS (
        SELECT id FROM {RescoreRequest._meta.db_table}
        WHERE account_id IN (SELECT account_id FROM taken) FOR UPDATE SKIP LOCKED
    )
    DELETE FROM {RescoreRequest._meta.db_table}
    WHERE id IN (SELECT id FROM taken UNION SELECT id FROM same_accounts)
    RETURNING account_id
"""  # noqa: S608 - the table name comes from the model


def rescore_requested_batch(*, limit: int) -> Run | None:
    """Re-score the accounts of the oldest waiting requests (at most `limit`) in one
    transaction: a signal run, scored and applied at once; None when none waits.

    The requests are deleted in the transaction that writes the decisions, so a
    worker that dies leaves them for the next task. Another task skips the
    requests this one holds. No circuit breaker: each account is re-scored on its
    own news, as a single-account re-score is."""
    with transaction.atomic(durable=True):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [RESCORE_BATCH_LOCK])
            if not cursor.fetchone()[0]:
                return None  # another task is taking batches, and looks again after each
            cursor.execute(_TAKE_REQUESTS_SQL, [limit])
            ids = sorted({row[0] for row in cursor.fetchall()})
        if not ids:
            return None
        # Locked before they are read: no writer can move them between the scoring
        # and the writing, so no request is used up by a skipped account.
        _lock_accounts(ids)
        active = active_policy()
        candidate = Policy.objects.filter(state=Policy.State.ROLLOUT).first()
        now = timezone.now()
        run = Run.objects.create(
            trigger=Run.Trigger.SIGNAL, policy=active, candidate=candidate,
            rollout_share=candidate.rollout_share if candidate else 0, state=State.APPLYING,
            compute_started_at=now, apply_started_at=now,
        )  # fmt: skip
        compiled, other = _compiled(run)
        bands = [band.name for band in compiled.rules.bands]
        data = load_accounts(ids, bands, buckets=other is not None)
        # Between cycles: bad news cuts at once; raises wait for the nightly run.
        result, slot = score_with_rollout(compiled, other, run.rollout_share, data, cycle=False)
        scored = timezone.now()
        applied = _apply(run, _arrays(data, result, slot))
        active_before = data.status == policy.STATUS_CODES["active"]
        Run.objects.filter(pk=run.pk).update(
            **_tally(result), state=State.DONE, accounts_total=len(data.ids),
            accounts_done=len(data.ids), skipped=applied.skipped, held_cuts=applied.held,
            decisions_written=applied.written, exposure_change=applied.exposure_change,
            by_policy=_slot_counts(result, slot, _versions(run)),
            exposure_before=Decimal(int(data.limit[active_before].sum())) / 100,
            compute_finished_at=scored, finished_at=timezone.now(),
        )  # fmt: skip
    run.refresh_from_db()
    return run


def run_start(*, trigger: str, started_by: Any = None, account_id: int | None = None) -> Run:
    """Create a run over the whole portfolio (or one account) and queue its chunks."""
    if started_by is not None and not may(started_by, "accounts.start_rescore"):
        raise DecisionError(_("Your role cannot start a re-score."))
    with transaction.atomic(durable=True):
        active = active_policy()
        busy = Run.objects.filter(account__isnull=True, state__in=Run.MOVING)
        if account_id is None and busy.exclude(trigger=Run.Trigger.SIGNAL).exists():
            raise RunBusy()
        if account_id is not None and not Account.objects.filter(pk=account_id).exists():
            raise DecisionError(_("This account does not exist."))
        candidate = Policy.objects.filter(state=Policy.State.ROLLOUT).first()
        # Two starts at once both pass the check above; the database lets one through.
        with _one_moving_portfolio_run():
            run = Run.objects.create(
                trigger=trigger, started_by=started_by, account_id=account_id, policy=active,
                candidate=candidate, rollout_share=candidate.rollout_share if candidate else 0,
            )  # fmt: skip
        accounts = Account.objects.all()
        if account_id is not None:
            accounts = accounts.filter(pk=account_id)
        chunks = [
            RunChunk(run=run, index=index, first_id=first, last_id=last)
            for index, (first, last) in enumerate(id_ranges(accounts))
        ]
        RunChunk.objects.bulk_create(chunks)
        exposure = accounts.filter(status=Account.Status.ACTIVE).aggregate(
            total=Sum("current_limit")
        )["total"] or Decimal(0)
        Run.objects.filter(pk=run.pk).update(
            chunks_total=len(chunks), accounts_total=accounts.count(), exposure_before=exposure
        )
        if not chunks:
            Run.objects.filter(pk=run.pk).update(state=State.DONE, finished_at=timezone.now())
    try:
        _publish(
            [("compute_chunk", (run.pk, chunk.index)) for chunk in chunks],
            not_queued=_("The task queue (Redis) is unavailable: nothing was started. "
                         "Try again in a minute."),
        )  # fmt: skip
    except QueueUnavailable:
        # Nothing is left behind for the watchdog to start later, after the person was
        # told it failed: chunks already sent find no run and do nothing.
        Run.objects.filter(pk=run.pk, state__in=[State.QUEUED, State.COMPUTING]).delete()
        raise
    run.refresh_from_db()
    return run


# --------------------------------------------------------------------------
# Compute
# --------------------------------------------------------------------------


@dataclass
class ChunkInput:
    ids: np.ndarray
    limit: np.ndarray
    status: np.ndarray
    version: np.ndarray
    good_cycles: np.ndarray
    score: np.ndarray
    band: np.ndarray  # index into the policy's bands, -1 for none
    bucket: np.ndarray  # rollout bucket (policy.rollout_bucket), 0 when not asked for
    in_cooldown: np.ndarray
    signals: np.ndarray  # rows x INPUT_SIGNALS


def load_chunk(
    first_id: int, last_id: int, bands: list[str], *, buckets: bool = False
) -> ChunkInput:
    """The accounts of an id range with their signals; `band` is an index into `bands`;
    with `buckets`, each account's rollout bucket."""
    return _load("a.id BETWEEN %s AND %s", [first_id, last_id], bands, buckets)


def load_accounts(ids: list[int], bands: list[str], *, buckets: bool = False) -> ChunkInput:
    """As load_chunk, for these accounts."""
    return _load("a.id = ANY(%s)", [ids], bands, buckets)


def _load(where: str, where_params: list[Any], bands: list[str], buckets: bool) -> ChunkInput:
    buffer = bytearray()
    params = [bands, buckets, timezone.now(), *where_params]
    sql = CHUNK_SQL.replace("{where}", where)
    with connection.cursor() as cursor, db.copy(cursor, sql, params) as copy:
        for block in copy:
            buffer += block
    body = len(buffer) - COPY_HEADER - 2  # the trailer is a field count of -1
    rows = np.frombuffer(buffer, dtype=COPY_ROW, count=body // COPY_ROW.itemsize,
                         offset=COPY_HEADER)  # fmt: skip
    width = len(policy.INPUT_SIGNALS)
    signals = np.empty((len(rows), width), dtype=np.float64)
    for i in range(width):
        signals[:, i] = rows[f"s{i}"]
    ints = {name: rows[name].astype(np.int64) for name in _INT_COLUMNS}
    return ChunkInput(**ints, in_cooldown=rows["in_cooldown"].astype(bool), signals=signals)


def score_chunk(
    compiled: policy.CompiledRules, data: ChunkInput, *, cycle: bool = True
) -> policy.ChunkResult:
    signals = {name: data.signals[:, i] for i, name in enumerate(policy.INPUT_SIGNALS)}
    return policy.evaluate_chunk(
        compiled, signals, limit=data.limit, status=data.status,
        in_cooldown=data.in_cooldown, good_cycles=data.good_cycles, cycle=cycle,
    )  # fmt: skip


def score_with_rollout(
    base: policy.CompiledRules,
    candidate: policy.CompiledRules | None,
    share_pct: int,
    data: ChunkInput,
    *,
    cycle: bool = True,
) -> tuple[policy.ChunkResult, np.ndarray]:
    """Score a chunk with the active version, and the accounts in the rollout share
    with the candidate. Returns the merged result and each row's slot (0 active,
    1 candidate); a candidate row's band indexes the candidate's bands, offset by
    the number of the active version's bands."""
    result = score_chunk(base, data, cycle=cycle)
    slot = np.zeros(len(data.ids), dtype=np.int8)
    if candidate is None:
        return result, slot
    chosen = data.bucket < policy.rollout_cutoff(share_pct)
    if not chosen.any():
        return result, slot
    other = score_chunk(candidate, data, cycle=cycle)
    other.band = other.band + len(base.rules.bands)
    for name in result.__dataclass_fields__:
        mine, theirs = getattr(result, name), getattr(other, name)
        mask = chosen[:, None] if mine.ndim == 2 else chosen
        setattr(result, name, np.where(mask, theirs, mine))
    slot[chosen] = 1
    return result, slot


def _slot_counts(result: policy.ChunkResult, slot: np.ndarray, versions: list[int]) -> dict:
    """Per policy version: accounts, raised, reduced, closed, reopened, exposure after (cents)."""
    codes = policy.ACTION_CODES
    active_after = result.new_status == policy.STATUS_CODES["active"]
    counts = {}
    for index, version in enumerate(versions):
        mine = slot == index
        counts[str(version)] = {
            "accounts": int(mine.sum()),
            "raised": int((mine & (result.action == codes[policy.RAISE])).sum()),
            "reduced": int((mine & (result.action == codes[policy.REDUCE])).sum()),
            "closed": int((mine & (result.action == codes[policy.CLOSE])).sum()),
            "reopened": int((mine & (result.action == codes[policy.REOPEN])).sum()),
            "exposure_after": int(result.new_limit[mine & active_after].sum()),
        }
    return counts


def _arrays(
    data: ChunkInput, result: policy.ChunkResult, slot: np.ndarray
) -> dict[str, np.ndarray]:
    """What applying needs: every account's new score, band and good cycles, and for
    the accounts whose limit moves, the proposal with its points and inputs."""
    moved = result.action != policy.ACTION_CODES[policy.KEEP]
    return {
        "slot": slot, "ids": data.ids, "version": data.version, "old_score": data.score,
        "old_band": data.band, "old_good_cycles": data.good_cycles, "old_limit": data.limit,
        "old_status": data.status, "action": result.action.astype(np.int8),
        "new_limit": result.new_limit, "new_status": result.new_status.astype(np.int8),
        "score": result.score.astype(np.int16), "band": result.band.astype(np.int8),
        "good_cycles": result.good_cycles.astype(np.int16), "moved": np.flatnonzero(moved),
        "points": result.points[moved].astype(np.int16), "triggers": result.triggers[moved],
        "signals": data.signals[moved],
    }  # fmt: skip


def _pack(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


def _tally(result: policy.ChunkResult) -> dict[str, Any]:
    """Raised, reduced, closed, reopened and the exposure after, of a scored chunk."""
    action, codes = result.action, policy.ACTION_CODES
    active_after = result.new_status == policy.STATUS_CODES["active"]
    return {
        "raised": int((action == codes[policy.RAISE]).sum()),
        "reduced": int((action == codes[policy.REDUCE]).sum()),
        "closed": int((action == codes[policy.CLOSE]).sum()),
        "reopened": int((action == codes[policy.REOPEN]).sum()),
        "exposure_after": Decimal(int(result.new_limit[active_after].sum())) / 100,
    }


def _compiled(run: Run) -> tuple[policy.CompiledRules, policy.CompiledRules | None]:
    """The run's active version compiled, and its candidate's if one is in rollout."""
    compiled = policy.compile_rules(policy.parse_policy(run.policy.rules))
    if run.candidate is None:
        return compiled, None
    return compiled, policy.compile_rules(policy.parse_policy(run.candidate.rules))


def chunk_arrays(blob: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(blob)) as archive:
        return {name: archive[name] for name in archive.files}


def _take_chunk(run_id: int, index: int, state: str) -> RunChunk | None:
    """Lock the chunk if it is in `state` and nobody holds it, else None.

    Only the chunk row is locked (`of=("self",)`, no ordering join): the run
    row, which every chunk updates, must stay free, or parallel workers would
    skip each other's chunks.
    """
    return (
        RunChunk.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(run_id=run_id, index=index, state=state)
        .order_by()
        .first()
    )


def run_compute_chunk(*, run_id: int, index: int) -> bool:
    """Score one chunk; False when there was nothing to do (done already, or taken)."""
    with transaction.atomic(durable=True):
        chunk = _take_chunk(run_id, index, RunChunk.State.PENDING)
        if chunk is None:
            return False
        run = Run.objects.select_related("policy", "candidate").get(pk=run_id)
        if run.state not in {State.QUEUED, State.COMPUTING}:
            return False
        Run.objects.filter(pk=run_id, state=State.QUEUED).update(
            state=State.COMPUTING, compute_started_at=timezone.now()
        )
        compiled, candidate = _compiled(run)
        bands = [band.name for band in compiled.rules.bands]
        data = load_chunk(chunk.first_id, chunk.last_id, bands, buckets=candidate is not None)
        # A portfolio run is a cycle; a single account's re-score (a person's button)
        # is not: clicking again must not count good cycles towards a raise.
        result, slot = score_with_rollout(
            compiled, candidate, run.rollout_share, data, cycle=run.account_id is None
        )
        chunk.result = _pack(_arrays(data, result, slot))
        chunk.counts = _slot_counts(result, slot, _versions(run))
        chunk.state = RunChunk.State.COMPUTED
        chunk.accounts = len(data.ids)
        chunk.computed_at = timezone.now()
        chunk.save(update_fields=["result", "counts", "state", "accounts", "computed_at"])
        Run.objects.filter(pk=run_id).update(
            accounts_done=F("accounts_done") + len(data.ids),
            **{name: F(name) + value for name, value in _tally(result).items()},
        )
    _finish_compute_if_ready(run_id)
    return True


def breaker_verdict(run: Run, rules: policy.PolicyRules) -> str:
    """Why the run must wait for a person, or "" when it may apply."""
    if run.account_id is not None or not run.accounts_total:
        return ""
    cut_share = Decimal(run.reduced + run.closed) * 100 / run.accounts_total
    problems = []
    if cut_share > rules.breaker_max_accounts_cut_pct:
        problems.append(
            _("it would cut %(share)s%% of accounts (the limit is %(max)s%%)")
            % {"share": f"{cut_share:.1f}", "max": rules.breaker_max_accounts_cut_pct}
        )
    if run.exposure_before > 0:
        removed = (run.exposure_before - run.exposure_after) * 100 / run.exposure_before
        if removed > rules.breaker_max_exposure_cut_pct:
            problems.append(
                _("it would remove %(share)s%% of total exposure (the limit is %(max)s%%)")
                % {"share": f"{removed:.1f}", "max": rules.breaker_max_exposure_cut_pct}
            )
    return "; ".join(problems)


def _finish_compute_if_ready(run_id: int) -> None:
    with transaction.atomic(durable=True):
        run = Run.objects.select_for_update().select_related("policy").get(pk=run_id)
        if run.state != State.COMPUTING:
            return
        if run.chunks.exclude(state=RunChunk.State.COMPUTED).exists():
            return
        run.compute_finished_at = timezone.now()
        run.by_policy = _merge_counts(run.chunks.values_list("counts", flat=True))
        verdict = breaker_verdict(run, policy.parse_policy(run.policy.rules))
        if verdict:
            run.state = State.WAITING
            run.breaker_reason = verdict
        else:
            for task_name, args in _begin_apply(run):
                _enqueue(task_name, *args)
        run.save()


def _versions(run: Run) -> list[int]:
    """The policy version of each slot: the active one, then the candidate's."""
    return [run.policy.version] + ([run.candidate.version] if run.candidate else [])


def _merge_counts(parts: Any) -> dict[str, dict[str, int]]:
    total: dict[str, dict[str, int]] = {}
    for part in parts:
        for version, counts in (part or {}).items():
            into = total.setdefault(version, {})
            for name, n in counts.items():
                into[name] = into.get(name, 0) + n
    return total


def _begin_apply(run: Run) -> list[Send]:
    """Move the run to applying; the tasks to send once that is committed."""
    run.state = State.APPLYING
    run.apply_started_at = timezone.now()
    return [
        ("apply_chunk", (run.pk, index)) for index in run.chunks.values_list("index", flat=True)
    ]


def run_approve(*, run_id: int, actor: Any) -> Run:
    """A person lets a run held by the circuit breaker apply; never the one who started it."""
    if not may(actor, "accounts.start_rescore"):
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
        sends = _begin_apply(run)
        with _one_moving_portfolio_run():
            run.save()
    _publish(
        sends,
        not_queued=_("Approved. The task queue (Redis) is unavailable: the run applies its "
                     "decisions when it is back (the watchdog queues them within minutes)."),
    )  # fmt: skip
    return run


def run_discard(*, run_id: int, actor: Any) -> Run:
    """A person throws away a run held by the circuit breaker; nothing is applied."""
    if not may(actor, "accounts.start_rescore"):
        raise DecisionError(_("Your role cannot discard a re-scoring run."))
    with transaction.atomic(durable=True):
        run = Run.objects.select_for_update().get(pk=run_id)
        if run.state != State.WAITING:
            raise DecisionError(_("This run is not waiting for approval."))
        run.state = State.DISCARDED
        run.decided_by = actor
        run.finished_at = timezone.now()
        run.save()
        run.chunks.update(result=None)
    return run


# --------------------------------------------------------------------------
# Apply
# --------------------------------------------------------------------------


def _inputs(row: np.ndarray) -> dict[str, Any]:
    """The signals a decision used, typed back from the float array."""
    values: dict[str, Any] = {}
    for name, value in zip(policy.INPUT_SIGNALS, row, strict=True):
        kind = SIGNALS_BY_NAME[name].kind
        if kind == "bool":
            values[name] = bool(value)
        elif kind == "int":
            values[name] = int(value)
        elif kind == "money":
            values[name] = f"{value:.2f}"
        else:
            values[name] = f"{value:.4f}"
    return values


def run_apply_chunk(*, run_id: int, index: int) -> bool:
    """Write one computed chunk's decisions; False when there was nothing to do."""
    with transaction.atomic(durable=True):
        chunk = _take_chunk(run_id, index, RunChunk.State.COMPUTED)
        if chunk is None or chunk.result is None:
            return False
        run = Run.objects.select_related("policy", "candidate").get(pk=run_id)
        if run.state != State.APPLYING:
            return False
        applied = _apply(run, chunk_arrays(bytes(chunk.result)))
        chunk.state = RunChunk.State.APPLIED
        chunk.applied_at = timezone.now()
        chunk.result = None
        chunk.save(update_fields=["state", "applied_at", "result"])
        Run.objects.filter(pk=run_id).update(
            skipped=F("skipped") + applied.skipped,
            held_cuts=F("held_cuts") + applied.held,
            decisions_written=F("decisions_written") + applied.written,
            exposure_change=F("exposure_change") + applied.exposure_change,
        )
    _finish_apply_if_ready(run_id)
    return True


@dataclass(frozen=True)
class Applied:
    """What applying a scored chunk wrote."""

    written: int
    exposure_change: Decimal  # of the open lines, by the decisions written
    skipped: int  # accounts a person changed meanwhile
    held: int  # cuts held back by the kill switch


def _apply(run: Run, data: dict[str, np.ndarray]) -> Applied:
    """Write the decisions of a scored chunk through the one decision writer, and the
    new scores of the accounts whose limit stays."""
    rules = policy.parse_policy(run.policy.rules)
    versions = [run.policy] + ([run.candidate] if run.candidate else [])
    compiled = [policy.compile_rules(policy.parse_policy(version.rules)) for version in versions]
    band_names = [band.name for version in compiled for band in version.rules.bands]
    # A candidate row's band is offset by the active version's bands (score_with_rollout).
    band_offsets = [0, len(compiled[0].rules.bands)]
    paused = reductions_paused()
    changes, rows, held = [], [], 0
    for position, row in enumerate(data["moved"]):
        account_id = int(data["ids"][row])
        action = policy.ACTIONS[int(data["action"][row])]
        if paused and action in {policy.REDUCE, policy.CLOSE}:
            held += 1  # the kill switch: no automatic cut while it is on
            continue
        slot = int(data["slot"][row])
        used = versions[slot]
        contributions = {
            c.signal: int(data["points"][position, i]) for i, c in enumerate(policy.SCORECARD)
        }
        fired = tuple(
            code for code in policy.TRIGGER_ORDER
            if int(data["triggers"][position]) & policy.TRIGGER_BITS[code]
        )  # fmt: skip
        changes.append(Change(
            account_id=account_id, expected_version=int(data["version"][row]),
            action=action, source=LimitDecision.Source.RUN,
            new_limit=Decimal(int(data["new_limit"][row])) / 100,
            new_status=policy.STATUS_NAMES[int(data["new_status"][row])],
            reasons=policy.reasons_of(
                action, contributions, fired, limit=int(data["old_limit"][row]),
                band_index=int(data["band"][row]) - band_offsets[slot], compiled=compiled[slot],
            ),
            score_after=int(data["score"][row]),
            band_after=band_names[int(data["band"][row])],
            contributions=contributions, triggers=fired,
            inputs=_inputs(data["signals"][position]),
            policy_id=used.pk, policy_version=used.version, run_id=run.pk,
            good_cycles=int(data["good_cycles"][row]),
            idempotency_key=f"run:{run.pk}:{account_id}",
        ))  # fmt: skip
        rows.append(row)
    rescored = _rescored(data)
    # Lock every account this writes, in id order, before writing any: a signal
    # re-score and a run chunk may share accounts, and each writes limits and
    # scores in two statements.
    _lock_accounts(sorted({c.account_id for c in changes} | set(data["ids"][rescored].tolist())))
    written = decisions_write(changes, cooldown_days=rules.cooldown_days)
    skipped = set(written.skipped)
    _update_scores(data, band_names, rescored,
                   skip=skipped | {c.account_id for c in changes})  # fmt: skip
    done = np.asarray([r for r, c in zip(rows, changes, strict=True)
                       if c.account_id not in skipped], dtype=np.int64)  # fmt: skip
    return Applied(
        written=written.written,
        exposure_change=_exposure_change(data, done),
        skipped=len(written.skipped),
        held=held,
    )


def _exposure_change(data: dict[str, np.ndarray], rows: np.ndarray) -> Decimal:
    """How much these rows' decisions add to (or remove from) the open lines."""
    if not len(rows):
        return Decimal("0.00")
    active = policy.STATUS_CODES["active"]
    before = np.where(data["old_status"][rows] == active, data["old_limit"][rows], 0)
    after = np.where(data["new_status"][rows] == active, data["new_limit"][rows], 0)
    return Decimal(int(after.astype(np.int64).sum() - before.astype(np.int64).sum())) / 100


def _rescored(data: dict[str, np.ndarray]) -> np.ndarray:
    """Which rows' score, band or good cycles changed."""
    return (
        (data["score"] != data["old_score"])
        | (data["band"] != data["old_band"])
        | (data["good_cycles"] != data["old_good_cycles"])
    )


def _lock_accounts(ids: list[int]) -> None:
    if not ids:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM accounts_account WHERE id = ANY(%s) ORDER BY id FOR NO KEY UPDATE",
            [ids],
        )


def _update_scores(
    data: dict[str, np.ndarray], band_names: list[str], rescored: np.ndarray, skip: set[int]
) -> None:
    """Score, band and good cycles of the accounts whose limit stays: not limit changes.
    Only where the account is still at the version scored: a decision written since
    (a person's, or a fresher re-score's) set its own."""
    names = np.asarray(band_names, dtype="<U8")
    band = names[data["band"].astype(np.int64)]
    rows = [i for i in np.flatnonzero(rescored) if int(data["ids"][i]) not in skip]
    if not rows:
        return
    with connection.cursor() as cursor:
        update_from_rows(
            cursor,
            table="run_score_updates",
            columns="id bigint, version bigint, score int, band text, good_cycles int",
            rows=[
                (
                    int(data["ids"][i]),
                    int(data["version"][i]),
                    int(data["score"][i]),
                    str(band[i]),
                    int(data["good_cycles"][i]),
                )
                for i in rows
            ],
            update="""
                UPDATE accounts_account AS a
                SET score = u.score, band = u.band, good_cycles = u.good_cycles
                FROM run_score_updates AS u
                WHERE a.id = u.id AND a.version = u.version
            """,
        )


def _finish_apply_if_ready(run_id: int) -> None:
    with transaction.atomic(durable=True):
        run = Run.objects.select_for_update().get(pk=run_id)
        if run.state != State.APPLYING:
            return
        if run.chunks.exclude(state=RunChunk.State.APPLIED).exists():
            return
        run.state = State.DONE
        run.finished_at = timezone.now()
        run.save(update_fields=["state", "finished_at"])


# --------------------------------------------------------------------------
# Resume, revert, schedule
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
        run.save(update_fields=["failures", "state", "finished_at", "error"])


def run_retry(*, run_id: int, actor: Any) -> Run:
    """Take up a failed run where it stopped: the chunks it had not scored are scored,
    those it had not applied are applied; what was applied stays as it is."""
    if not may(actor, "accounts.start_rescore"):
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
            sends: list[Send] = [("compute_chunk", (run.pk, index)) for index in pending]
        else:
            run.state = State.APPLYING
            sends = [("apply_chunk", (run.pk, index)) for index in computed]
        with _one_moving_portfolio_run():
            run.save(update_fields=["failures", "error", "finished_at", "state"])
    _publish(
        sends,
        not_queued=_("The task queue (Redis) is unavailable: the run goes on when it is back "
                     "(the watchdog queues its chunks within minutes)."),
    )  # fmt: skip
    # Nothing left to queue (it stopped between two phases): move it on here.
    _finish_compute_if_ready(run_id)
    _finish_apply_if_ready(run_id)
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
                _enqueue("compute_chunk", run.pk, index)
                queued += 1
        elif run.state == State.APPLYING:
            for index in run.chunks.filter(state=RunChunk.State.COMPUTED).values_list(
                "index", flat=True
            ):
                _enqueue("apply_chunk", run.pk, index)
                queued += 1
    if not queued:
        _finish_compute_if_ready(run_id)
        _finish_apply_if_ready(run_id)
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
    if not may(actor, "accounts.start_rescore"):
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
        _publish(
            [("revert_run", (run.pk, actor.pk, text))],
            not_queued=_("The task queue (Redis) is unavailable: the revert was not started. "
                         "Try again in a minute."),
        )  # fmt: skip
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
    rules = policy.parse_policy(active_policy().rules)
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

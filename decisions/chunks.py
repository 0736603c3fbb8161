"""A run's chunks: scoring one (compute) and writing its decisions (apply). Each is
one transaction on one locked chunk row, so a chunk is never done twice
(docs/architecture.md, "Runs")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import numpy as np
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

import scoring
from accounts.book import SEGMENTS, load_chunk
from accounts.signal_spec import SIGNALS_BY_NAME
from config import metrics, queue
from config.queue import Send
from decisions import steady
from decisions.chunk_data import chunk_arrays, pack_arrays
from decisions.models import LimitDecision, RescoreRun, RunChunk
from decisions.services import Change, decisions_write, update_from_rows
from history import selectors as history_selectors
from history import services as history_services
from history import stats as history_stats
from history.models import Snapshot
from history.snapshots import SnapshotRows, snapshot_rows_write
from policies.selectors import reductions_paused


def slot_counts(result: scoring.ChunkResult, slot: np.ndarray, versions: list[int]) -> dict:
    """Per policy version: accounts, raised, reduced, closed, reopened, exposure after (cents)."""
    codes = scoring.ACTION_CODES
    active_after = result.new_status == scoring.STATUS_CODES["active"]
    counts = {}
    for index, version in enumerate(versions):
        mine = slot == index
        counts[str(version)] = {
            "accounts": int(mine.sum()),
            "raised": int((mine & (result.action == codes[scoring.RAISE])).sum()),
            "reduced": int((mine & (result.action == codes[scoring.REDUCE])).sum()),
            "closed": int((mine & (result.action == codes[scoring.CLOSE])).sum()),
            "reopened": int((mine & (result.action == codes[scoring.REOPEN])).sum()),
            "exposure_after": int(result.new_limit[mine & active_after].sum()),
        }
    return counts


def scored_arrays(
    data: scoring.ChunkInput,
    result: scoring.ChunkResult,
    slot: np.ndarray,
    *,
    mark: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """What applying needs: for each account whose limit, score, band or good cycles
    move or which is to be marked steady (decisions.steady), its new score, band and
    good cycles; for those whose limit moves, the proposal with its points and
    inputs; for those marked, their signals rows. The accounts with nothing to write
    (kept, nothing moved, no mark: most of an incremental run) are left out."""
    moved = result.action != scoring.ACTION_CODES[scoring.KEEP]
    marked = mark if mark is not None else np.zeros(len(data.ids), dtype=bool)
    changed = (
        (result.score != data.score)
        | (result.band != data.band)
        | (result.good_cycles != data.good_cycles)
    )
    rows = np.flatnonzero(moved | changed | marked)
    return {
        "mark": np.flatnonzero(marked[rows]),
        "mark_signals_row": (
            data.signals_row[rows][marked[rows]]
            if data.signals_row is not None
            else np.zeros(0, np.int64)
        ),
        "slot": slot[rows],
        "ids": data.ids[rows],
        "version": data.version[rows],
        "old_score": data.score[rows],
        "old_band": data.band[rows],
        "old_good_cycles": data.good_cycles[rows],
        "old_limit": data.limit[rows],
        "old_status": data.status[rows],
        "action": result.action[rows].astype(np.int8),
        "new_limit": result.new_limit[rows],
        "new_status": result.new_status[rows].astype(np.int8),
        "score": result.score[rows].astype(np.int16),
        "band": result.band[rows].astype(np.int8),
        "good_cycles": result.good_cycles[rows].astype(np.int16),
        "moved": np.flatnonzero(moved[rows]),
        "points": result.points[moved].astype(np.int16),
        "triggers": result.triggers[moved],
        "signals": data.signals[moved],
    }


def tally(result: scoring.ChunkResult) -> dict[str, Any]:
    """Raised, reduced, closed, reopened and the exposure after, of a scored chunk."""
    action, codes = result.action, scoring.ACTION_CODES
    active_after = result.new_status == scoring.STATUS_CODES["active"]
    return {
        "raised": int((action == codes[scoring.RAISE]).sum()),
        "reduced": int((action == codes[scoring.REDUCE]).sum()),
        "closed": int((action == codes[scoring.CLOSE]).sum()),
        "reopened": int((action == codes[scoring.REOPEN]).sum()),
        "exposure_after": Decimal(int(result.new_limit[active_after].sum())) / 100,
    }


def is_portfolio(run: RescoreRun) -> bool:
    """A run over the whole book: snapshots and the stability check are its alone
    (not a single account's re-score, nor a signal run over the accounts that changed)."""
    return run.account_id is None and run.trigger != RescoreRun.Trigger.SIGNAL


def marks_steady(run: RescoreRun) -> bool:
    """Whether the accounts this run keeps are marked steady: a portfolio run under one
    policy version (docs/architecture.md, "The incremental nightly run")."""
    return is_portfolio(run) and run.candidate_id is None


def snapshot_rows(
    data: scoring.ChunkInput,
    result: scoring.ChunkResult,
    slot: np.ndarray,
    versions: list[int],
    band_offsets: list[int],
) -> SnapshotRows:
    """The chunk's accounts as a snapshot keeps them: as the run saw them before
    deciding, and what it made of them. A row's band indexes the bands of the version
    that scored it (a candidate row's band comes offset: scoring.score_with_rollout)."""
    n = len(data.ids)
    slot = slot.astype(np.int64)
    dpd = data.signals[:, scoring.INPUT_SIGNALS.index("days_past_due")]
    return SnapshotRows(
        account_id=data.ids,
        segment=data.segment if data.segment is not None else np.zeros(n, dtype=np.int64),
        status_before=data.status,
        limit_before=data.limit,
        good_cycles=data.good_cycles,
        in_cooldown=data.in_cooldown,
        days_since_restoration=(
            data.days_since_restoration
            if data.days_since_restoration is not None
            else np.full(n, scoring.NEVER_RESTORED, dtype=np.int64)
        ),
        days_past_due=np.clip(np.rint(dpd), 0, np.iinfo(np.int16).max).astype(np.int64),
        score=result.score,
        band=np.where(
            result.band >= 0, result.band - np.asarray(band_offsets, dtype=np.int64)[slot], -1
        ),
        policy_version=np.asarray(versions, dtype=np.int64)[slot],
        action=result.action,
        limit_after=result.new_limit,
        status_after=result.new_status,
        signals=data.signals,
    )


def chunk_stats(
    run: RescoreRun,
    compiled: scoring.CompiledRules,
    data: scoring.ChunkInput,
    result: scoring.ChunkResult,
    slot: np.ndarray,
    snapshot_day: date | None,
) -> dict[str, Any]:
    """A portfolio run's distributions of the chunk; with a snapshot being written,
    its rows are COPYed in on this transaction (docs/architecture.md, "Snapshots in a
    run"). Without one, the score bins alone, for the stability check."""
    if snapshot_day is None:
        return {
            "accounts": len(data.ids),
            "score_bins": history_stats.counts(
                result.score.astype(np.float64), history_stats.SCORE_EDGES
            ),
        }
    rows = snapshot_rows(data, result, slot, versions_of(run), [0, len(compiled.rules.bands)])
    snapshot_rows_write(snapshot_day, rows)
    return history_stats.row_stats(rows, SEGMENTS, triggers=result.triggers)


def compiled_rules(run: RescoreRun) -> tuple[scoring.CompiledRules, scoring.CompiledRules | None]:
    """The run's active version compiled, and its candidate's if one is in rollout."""
    compiled = scoring.compile_rules(scoring.parse_policy(run.policy.rules))
    if run.candidate is None:
        return compiled, None
    return compiled, scoring.compile_rules(scoring.parse_policy(run.candidate.rules))


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


def run_compute_chunk(*, run_id: int, index: int, worker: str = "") -> bool:
    """Score one chunk; False when there was nothing to do (done already, or taken).
    `worker`: who scores it, kept on the chunk."""
    with transaction.atomic(durable=True):
        chunk = _take_chunk(run_id, index, RunChunk.State.PENDING)
        if chunk is None:
            return False
        run = RescoreRun.objects.select_related("policy", "candidate").get(pk=run_id)
        if run.state not in {RescoreRun.State.QUEUED, RescoreRun.State.COMPUTING}:
            return False
        RescoreRun.objects.filter(pk=run_id, state=RescoreRun.State.QUEUED).update(
            state=RescoreRun.State.COMPUTING, compute_started_at=timezone.now()
        )
        compiled, candidate = compiled_rules(run)
        bands = [band.name for band in compiled.rules.bands]
        now = timezone.now()
        if run.incremental:
            # Only the accounts not marked steady are scored (decisions.steady).
            span = (chunk.first_id, chunk.last_id)
            data, result, scored = steady.score_incrementally(
                compiled, run.policy_id, span, bands, now
            )
            slot = np.zeros(len(data.ids), dtype=np.int8)
        else:
            data = load_chunk(
                chunk.first_id, chunk.last_id, bands, buckets=candidate is not None, now=now
            )
            # A portfolio run is a cycle; a single account's re-score (a person's button)
            # is not: clicking again must not count good cycles towards a raise.
            result, slot = scoring.score_with_rollout(
                compiled, candidate, run.rollout_share, data, cycle=run.account_id is None
            )
            scored = np.ones(len(data.ids), dtype=bool)
        mark = None
        if marks_steady(run):
            mark = scored & (result.action == scoring.ACTION_CODES[scoring.KEEP])
        chunk.result = pack_arrays(scored_arrays(data, result, slot, mark=mark))
        chunk.counts = slot_counts(result, slot, versions_of(run))
        if is_portfolio(run):
            # In this transaction: a chunk that rolls back leaves no rows to write twice.
            snapshot_day = history_services.snapshot_writing(run_id=run_id)
            chunk.stats = chunk_stats(run, compiled, data, result, slot, snapshot_day)
        chunk.state = RunChunk.State.COMPUTED
        chunk.accounts = len(data.ids)
        chunk.computed_at = timezone.now()
        chunk.computed_by = worker
        chunk.save(
            update_fields=[
                "result",
                "counts",
                "stats",
                "state",
                "accounts",
                "computed_at",
                "computed_by",
            ]
        )
        RescoreRun.objects.filter(pk=run_id).update(
            accounts_done=F("accounts_done") + len(data.ids),
            accounts_steady=F("accounts_steady") + int((~scored).sum()),
            **{name: F(name) + value for name, value in tally(result).items()},
        )
    finish_compute_if_ready(run_id)
    return True


def breaker_verdict(run: RescoreRun, rules: scoring.PolicyRules) -> str:
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


def drift_verdict(run: RescoreRun, rules: scoring.PolicyRules, stats: dict[str, Any]) -> str:
    """The scores against the baseline snapshot: why the run must wait when their
    population stability index is beyond the policy's limit, else "". The baseline is
    history.selectors.baseline_snapshot's, as the Monitoring page's."""
    if not is_portfolio(run) or not stats.get("score_bins"):
        return ""
    current = history_services.snapshot_of_run(run_id=run.pk) or Snapshot(
        taken_on=timezone.localdate(run.created_at), policy_version=run.policy.version
    )
    current.stats = stats
    baseline = history_selectors.baseline_snapshot(current)
    if baseline is None:
        return ""
    index = history_selectors.score_psi(current, baseline)
    if index is None or Decimal(f"{index.value:.4f}") <= rules.breaker_max_psi:
        return ""
    shown = f"{index.value:.2f}"
    if Decimal(shown) <= rules.breaker_max_psi:
        shown = f"{index.value:.4f}"  # just above the limit: enough digits to see it
    return _(
        "the scores moved away from the snapshot of %(day)s: PSI %(psi)s (the limit is %(max)s)"
    ) % {"day": baseline.taken_on.isoformat(), "psi": shown, "max": rules.breaker_max_psi}


def finish_compute_if_ready(run_id: int) -> None:
    with transaction.atomic(durable=True):
        run = RescoreRun.objects.select_for_update().select_related("policy").get(pk=run_id)
        if run.state != RescoreRun.State.COMPUTING:
            return
        if run.chunks.exclude(state=RunChunk.State.COMPUTED).exists():
            return
        run.compute_finished_at = timezone.now()
        run.by_policy = _merge_counts(run.chunks.values_list("counts", flat=True))
        rules = scoring.parse_policy(run.policy.rules)
        stats = history_stats.merge(run.chunks.values_list("stats", flat=True))
        snapshot = history_services.snapshot_complete(run_id=run_id, stats=stats)
        if snapshot is not None:
            # Outcomes of earlier snapshots may have matured with this one.
            queue.enqueue("history.tasks.derive_outcomes")
        verdicts = (breaker_verdict(run, rules), drift_verdict(run, rules, stats))
        verdict = "; ".join(v for v in verdicts if v)
        if verdict:
            run.state = RescoreRun.State.WAITING
            run.breaker_reason = verdict
        else:
            for task_name, args in begin_apply(run):
                queue.enqueue(task_name, *args)
        run.save()


def versions_of(run: RescoreRun) -> list[int]:
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


def begin_apply(run: RescoreRun) -> list[Send]:
    """Move the run to applying; the tasks to send once that is committed."""
    run.state = RescoreRun.State.APPLYING
    run.apply_started_at = timezone.now()
    return [
        ("decisions.tasks.apply_chunk", (run.pk, index))
        for index in run.chunks.values_list("index", flat=True)
    ]


# --------------------------------------------------------------------------
# Apply
# --------------------------------------------------------------------------


def _inputs(row: np.ndarray) -> dict[str, Any]:
    """The signals a decision used, typed back from the float array."""
    values: dict[str, Any] = {}
    for name, value in zip(scoring.INPUT_SIGNALS, row, strict=True):
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


def run_apply_chunk(*, run_id: int, index: int, worker: str = "") -> bool:
    """Write one computed chunk's decisions; False when there was nothing to do.
    `worker`: who writes them, kept on the chunk."""
    with transaction.atomic(durable=True):
        chunk = _take_chunk(run_id, index, RunChunk.State.COMPUTED)
        if chunk is None or chunk.result is None:
            return False
        run = RescoreRun.objects.select_related("policy", "candidate").get(pk=run_id)
        if run.state != RescoreRun.State.APPLYING:
            return False
        applied = apply_arrays(run, chunk_arrays(bytes(chunk.result)))
        chunk.state = RunChunk.State.APPLIED
        chunk.applied_at = timezone.now()
        chunk.applied_by = worker
        chunk.result = None
        chunk.save(update_fields=["state", "applied_at", "applied_by", "result"])
        RescoreRun.objects.filter(pk=run_id).update(
            skipped=F("skipped") + applied.skipped,
            held_cuts=F("held_cuts") + applied.held,
            decisions_written=F("decisions_written") + applied.written,
            exposure_change=F("exposure_change") + applied.exposure_change,
        )
    finish_apply_if_ready(run_id)
    return True


@dataclass(frozen=True)
class Applied:
    """What applying a scored chunk wrote."""

    written: int
    exposure_change: Decimal  # of the open lines, by the decisions written
    skipped: int  # accounts a person changed meanwhile
    held: int  # cuts held back by the kill switch


def apply_arrays(run: RescoreRun, data: dict[str, np.ndarray]) -> Applied:
    """Write the decisions of a scored chunk through the one decision writer, and the
    new scores of the accounts whose limit stays."""
    rules = scoring.parse_policy(run.policy.rules)
    versions = [run.policy] + ([run.candidate] if run.candidate else [])
    compiled = [scoring.compile_rules(scoring.parse_policy(version.rules)) for version in versions]
    band_names = [band.name for version in compiled for band in version.rules.bands]
    # A candidate row's band is offset by the active version's bands (scoring.score_with_rollout).
    band_offsets = [0, len(compiled[0].rules.bands)]
    paused = reductions_paused()
    changes, rows, held = [], [], 0
    for position, row in enumerate(data["moved"]):
        account_id = int(data["ids"][row])
        action = scoring.ACTIONS[int(data["action"][row])]
        if paused and action in {scoring.REDUCE, scoring.CLOSE}:
            held += 1  # the kill switch: no automatic cut while it is on
            continue
        slot = int(data["slot"][row])
        used = versions[slot]
        contributions = {
            c.signal: int(data["points"][position, i]) for i, c in enumerate(scoring.SCORECARD)
        }
        fired = tuple(
            code
            for code in scoring.TRIGGER_ORDER
            if int(data["triggers"][position]) & scoring.TRIGGER_BITS[code]
        )
        changes.append(
            Change(
                account_id=account_id,
                expected_version=int(data["version"][row]),
                action=action,
                source=LimitDecision.Source.RUN,
                new_limit=Decimal(int(data["new_limit"][row])) / 100,
                new_status=scoring.STATUS_NAMES[int(data["new_status"][row])],
                reasons=scoring.reasons_of(
                    action,
                    contributions,
                    fired,
                    limit=int(data["old_limit"][row]),
                    band_index=int(data["band"][row]) - band_offsets[slot],
                    compiled=compiled[slot],
                ),
                score_after=int(data["score"][row]),
                band_after=band_names[int(data["band"][row])],
                contributions=contributions,
                triggers=fired,
                inputs=_inputs(data["signals"][position]),
                policy_id=used.pk,
                policy_version=used.version,
                run_id=run.pk,
                good_cycles=int(data["good_cycles"][row]),
                idempotency_key=f"run:{run.pk}:{account_id}",
            )
        )
        rows.append(row)
    rescored = _rescored(data)
    # Lock every account this writes, in id order, before writing any: a signal
    # re-score and a run chunk may share accounts, and each writes limits and
    # scores in two statements.
    lock_accounts(sorted({c.account_id for c in changes} | set(data["ids"][rescored].tolist())))
    written = decisions_write(changes, cooldown_days=rules.cooldown_days)
    skipped = set(written.skipped)
    _update_scores(data, band_names, rescored, skip=skipped | {c.account_id for c in changes})
    marked = data.get("mark", np.zeros(0, dtype=np.int64))
    steady.steady_marks(
        policy_id=run.policy_id,
        ids=data["ids"][marked],
        versions=data["version"][marked],
        signals_rows=data.get("mark_signals_row", np.zeros(0, dtype=np.int64)),
        since=run.created_at,
        protection_days=rules.decrease_protection_days,
    )
    done = np.asarray(
        [r for r, c in zip(rows, changes, strict=True) if c.account_id not in skipped],
        dtype=np.int64,
    )
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
    active = scoring.STATUS_CODES["active"]
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


def lock_accounts(ids: list[int]) -> None:
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


def finish_apply_if_ready(run_id: int) -> None:
    with transaction.atomic(durable=True):
        run = RescoreRun.objects.select_for_update().get(pk=run_id)
        if run.state != RescoreRun.State.APPLYING:
            return
        if run.chunks.exclude(state=RunChunk.State.APPLIED).exists():
            return
        run.state = RescoreRun.State.DONE
        run.finished_at = timezone.now()
        run.save(update_fields=["state", "finished_at"])
        metrics.run_ended(
            trigger=run.trigger, state=run.state, started=run.created_at, ended=run.finished_at
        )
        # The run's customer notices go out now rather than at beat's next tick
        # (docs/architecture.md, "Notices: the outbox and the receiver").
        queue.enqueue("notices.tasks.deliver_notices")

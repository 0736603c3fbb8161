"""Writes of the decisions app. Every change of a limit goes through `decision_record`.

Each public function runs in one transaction and leaves its LimitDecision (the
audit row) in that same transaction. Re-scoring runs, which write decisions in
bulk with the same rules (`decisions_write`), live in decisions/runs.py and
decisions/chunks.py."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

import scoring
from accounts.models import Account
from config import db, metrics
from config.text import JUSTIFICATION_MAX, too_long
from decisions import chain, checkpoint, notices
from decisions.audit_trail import CHAIN_HEADS_SQL, audit_checkpoint_key
from decisions.errors import DecisionError, StaleAccount
from decisions.models import LimitDecision, WorkerHeartbeat
from decisions.selectors import require_active_policy
from history.snapshots import month_start, next_month

HEARTBEATS_KEPT = timedelta(days=7)


def heartbeat_record(
    *, request_id: str, source: str, worker: str, requested_at: datetime
) -> WorkerHeartbeat:
    """Record that a worker ran a heartbeat task; a repeated request id changes nothing."""
    with transaction.atomic(durable=True):
        beat, _created = WorkerHeartbeat.objects.get_or_create(
            request_id=request_id,
            defaults={"source": source, "worker": worker, "requested_at": requested_at},
        )
        WorkerHeartbeat.objects.filter(recorded_at__lt=timezone.now() - HEARTBEATS_KEPT).delete()
    return beat


def parse_amount(raw: Any) -> Decimal:
    """A limit typed by a person: a non-negative amount with at most 2 decimals."""
    try:
        amount = Decimal(str(raw).replace(",", "").strip())
    except (InvalidOperation, ValueError):
        raise DecisionError(_("Enter the limit as an amount, e.g. 12000.00.")) from None
    if not amount.is_finite():
        raise DecisionError(_("Enter the limit as an amount, e.g. 12000.00."))
    if amount < 0:
        raise DecisionError(_("A limit cannot be negative."))
    if amount != amount.quantize(Decimal("0.01")):
        raise DecisionError(_("A limit has at most two decimal places."))
    if amount > Decimal("9999999999.99"):
        raise DecisionError(_("This limit is larger than any line the product offers."))
    return amount.quantize(Decimal("0.01"))


@dataclass(frozen=True)
class Change:
    """What one decision does to one account, and why."""

    account_id: int
    action: str
    source: str
    new_limit: Decimal
    new_status: str
    reasons: tuple[str, ...]
    idempotency_key: str
    # The account version the change was worked out against; a different
    # version now means someone changed the account meanwhile: skipped.
    expected_version: int
    justification: str = ""
    score_after: int | None = None
    band_after: str = ""
    contributions: dict[str, int] | None = None
    triggers: tuple[str, ...] = ()
    inputs: dict[str, Any] | None = None
    policy_id: int | None = None
    policy_version: int | None = None
    run_id: int | None = None
    reverts_id: int | None = None
    actor_id: int | None = None
    approver_id: int | None = None
    good_cycles: int | None = None


DECISION_COLUMNS = (
    "account_id",
    "sequence",
    "action",
    "source",
    "old_limit",
    "new_limit",
    "old_status",
    "new_status",
    "score_before",
    "score_after",
    "band_before",
    "band_after",
    "contributions",
    "triggers",
    "reasons",
    "inputs",
    "policy_id",
    "policy_version",
    "scorecard_version",
    "run_id",
    "actor_id",
    "justification",
    "approver_id",
    "reverts_id",
    "idempotency_key",
    "prev_hash",
    "hash",
    "created_at",
)
JSON_COLUMNS = {"contributions", "triggers", "reasons", "inputs"}


@dataclass(frozen=True)
class WriteResult:
    written: int
    skipped: list[int]  # account ids whose version had moved on


def decisions_write(
    changes: list[Change], *, cooldown_days: int, at: datetime | None = None
) -> WriteResult:
    """Write decisions and apply them to their accounts, in the caller's transaction.

    The one writer of limits: it locks the accounts (FOR NO KEY UPDATE: rows
    inserted elsewhere that point at an account, e.g. signal events, take a key
    share lock on it at commit, which this must not block), skips those whose version
    moved, extends each account's hash chain, COPYs the decisions and updates
    the accounts (limit, status, score, band, cool-down, version, chain head). Each
    decrease or closure gets its customer notice in the same transaction
    (`notices_create`).
    """
    if not changes:
        return WriteResult(0, [])
    now = at or timezone.now()  # `at`: only for loading a demo history
    if at is not None:
        # A back-dated history gets its month's partition first: rows left in the
        # DEFAULT partition would stop that month's partition being made later.
        _partition_ensure(at)
    ids = [change.account_id for change in changes]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, version, chain_head, current_limit, status, score, band "
            "FROM accounts_account WHERE id = ANY(%s) ORDER BY id FOR NO KEY UPDATE",
            [ids],
        )
        current = {row[0]: row[1:] for row in cursor.fetchall()}
        # From the links (one unique index), not the decisions (one index per month).
        cursor.execute(
            "SELECT account_id, MAX(sequence) FROM decisions_decisionlink "
            "WHERE account_id = ANY(%s) GROUP BY account_id",
            [ids],
        )
        last_sequence = dict(cursor.fetchall())
        rows, updates, skipped = [], [], []
        adverse: list[tuple[Change, int]] = []  # decisions that owe a notice, and their sequence
        tally: Counter[tuple[str, str]] = Counter()
        by_source: Counter[tuple[str, str]] = Counter()
        for change in changes:
            state = current.get(change.account_id)
            if state is None or state[0] != change.expected_version:
                skipped.append(change.account_id)
                continue
            version, head, old_limit, old_status, old_score, old_band = state
            fields: dict[str, Any] = {
                "account_id": change.account_id,
                "sequence": last_sequence.get(change.account_id, 0) + 1,
                "action": change.action,
                "source": change.source,
                "old_limit": old_limit,
                "new_limit": change.new_limit,
                "old_status": old_status,
                "new_status": change.new_status,
                "score_before": old_score,
                "score_after": old_score if change.score_after is None else change.score_after,
                "band_before": old_band,
                "band_after": change.band_after or old_band,
                "contributions": change.contributions or {},
                "triggers": list(change.triggers),
                "reasons": list(change.reasons),
                # Decimals in inputs are written as canonical strings by to_json,
                # in the stored column and in the hash alike.
                "inputs": change.inputs or {},
                "policy_id": change.policy_id,
                "policy_version": change.policy_version,
                "scorecard_version": scoring.SCORECARD_VERSION if change.contributions else "",
                "run_id": change.run_id,
                "actor_id": change.actor_id,
                "justification": change.justification,
                "approver_id": change.approver_id,
                "reverts_id": change.reverts_id,
                "idempotency_key": change.idempotency_key,
                "created_at": now,
            }
            fields["prev_hash"] = head
            fields["hash"] = chain.decision_hash(head, fields)
            current[change.account_id] = (
                version + 1,
                fields["hash"],
                change.new_limit,
                change.new_status,
                fields["score_after"],
                fields["band_after"],
            )
            last_sequence[change.account_id] = fields["sequence"]
            rows.append(
                tuple(
                    chain.to_json(fields[name]) if name in JSON_COLUMNS else fields[name]
                    for name in DECISION_COLUMNS
                )
            )
            closing = change.new_status == "closed" and old_status != "closed"
            updates.append(
                (
                    change.account_id,
                    change.new_limit,
                    change.new_status,
                    fields["score_after"],
                    fields["band_after"],
                    change.good_cycles,
                    closing,
                    change.new_status == "active" and old_status == "closed",
                    fields["hash"],
                    list(change.reasons),
                    # An appeal that raises the limit (restores it in full or in part)
                    # starts its decrease protection (docs/architecture.md, "Decrease
                    # protection"); overrides and runs never do.
                    change.source == "appeal" and change.new_limit > old_limit,
                )
            )
            tally[(change.action, "")] += 1
            by_source[(change.source, change.action)] += 1
            for reason in change.reasons:
                tally[(change.action, reason)] += 1
            if notices.needs_notice(
                old_limit=old_limit,
                new_limit=change.new_limit,
                old_status=old_status,
                new_status=change.new_status,
            ):
                adverse.append((change, fields["sequence"]))
        columns = ", ".join(DECISION_COLUMNS)
        with db.copy(cursor, f"COPY decisions_limitdecision ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        notices_create(cursor, adverse, decided_at=now)
        update_from_rows(
            cursor,
            table="decision_account_updates",
            columns="id bigint, new_limit numeric, new_status text, score int, band text, "
            "good_cycles int, closing bool, reopening bool, head text, reasons text[], "
            "restoring bool",
            rows=updates,
            update="""
                UPDATE accounts_account AS a SET
                    current_limit = u.new_limit,
                    status = u.new_status,
                    score = u.score,
                    band = u.band,
                    good_cycles = COALESCE(u.good_cycles, a.good_cycles),
                    cooldown_until = CASE
                        WHEN u.closing THEN %s
                        WHEN u.reopening THEN NULL
                        ELSE a.cooldown_until END,
                    version = a.version + 1,
                    chain_head = u.head,
                    last_reasons = u.reasons,
                    limit_changed_at = %s,
                    restored_at = CASE WHEN u.restoring THEN %s ELSE a.restored_at END,
                    updated_at = %s
                FROM decision_account_updates AS u
                WHERE a.id = u.id
            """,
            params=[now + timedelta(days=cooldown_days), now, now, now],
        )
        day = timezone.localdate(now)
        with db.copy(
            cursor, "COPY decisions_decisiontally (day, action, reason, count) FROM STDIN"
        ) as copy:
            for (action, reason), count in sorted(tally.items()):
                copy.write_row((day, action, reason, count))
    metrics.decisions_written(by_source.items())
    return WriteResult(written=len(rows), skipped=skipped)


NOTICE_INSERT = """
    INSERT INTO decisions_notice (
        decision_id, account_id, kind, language, reasons, created_at, due_by, state,
        attempts, next_attempt_at, last_error, idempotency_key, content_sha256
    )
    SELECT d.id, d.account_id, %s, a.language, d.reasons, d.created_at, %s, %s,
        0, CASE WHEN %s THEN d.created_at END, '', %s || d.hash, ''
    FROM unnest(%s::bigint[], %s::int[]) AS n(account_id, sequence)
    JOIN decisions_limitdecision AS d
        ON d.account_id = n.account_id AND d.sequence = n.sequence AND d.created_at = %s
    JOIN accounts_account AS a ON a.id = d.account_id
"""


def notices_create(cursor: Any, adverse: list[tuple[Change, int]], *, decided_at: datetime) -> int:
    """The notice of each decrease or closure just written, in the writer's transaction
    (docs/architecture.md, "Notices: the register").

    `adverse`: the changes that lower a limit or close a line, with the sequence of
    their decision. Each is classified in Python (`decisions.notices`, pure); then one
    INSERT ... SELECT per classification joins the decisions just written, so the
    reasons are the decision's own and the language the account's. Returns the count.
    """
    if not adverse:
        return 0
    run_ids = sorted({change.run_id for change, _sequence in adverse if change.run_id})
    candidates: dict[int, int | None] = {}
    if run_ids:
        cursor.execute(
            "SELECT id, candidate_id FROM decisions_rescorerun WHERE id = ANY(%s)", [run_ids]
        )
        candidates = dict(cursor.fetchall())
    groups: dict[notices.Classification, tuple[list[int], list[int]]] = {}
    for change, sequence in adverse:
        candidate = candidates.get(change.run_id) if change.run_id else None
        classified = notices.classify(
            triggers=change.triggers,
            reasons=change.reasons,
            rollout=candidate is not None and change.policy_id == candidate,
            portfolio_needs_individual=settings.NOTICE_PORTFOLIO_NEEDS_INDIVIDUAL,
        )
        account_ids, sequences = groups.setdefault(classified, ([], []))
        account_ids.append(change.account_id)
        sequences.append(sequence)
    due_by = notices.due_by(decided_at, clock_days=settings.NOTICE_CLOCK_DAYS)
    created = 0
    for classified, (account_ids, sequences) in groups.items():
        cursor.execute(
            NOTICE_INSERT,
            [
                classified.kind,
                due_by,
                classified.state,
                # A notice to send is due for delivery from its decision on.
                classified.state == notices.PENDING,
                notices.KEY_PREFIX,
                account_ids,
                sequences,
                decided_at,
            ],
        )
        created += cursor.rowcount
    if created != len(adverse):
        # Never a decision without its notice: the caller's transaction rolls back.
        raise RuntimeError(f"{len(adverse)} decisions owe a notice, {created} were recorded")
    return created


def update_from_rows(
    cursor: Any,
    *,
    table: str,
    columns: str,
    rows: list[tuple[Any, ...]],
    update: str,
    params: list[Any] | None = None,
) -> None:
    """Bulk UPDATE: COPY the rows into a temporary table, then one UPDATE ... FROM it.

    COPY streams in C; binding large arrays as parameters is many times slower.
    """
    if not rows:
        return
    cursor.execute(f"CREATE TEMPORARY TABLE {table} ({columns}) ON COMMIT DROP")
    with db.copy(cursor, f"COPY {table} FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    cursor.execute(update, params or [])
    cursor.execute(f"DROP TABLE {table}")


def decision_record(*, change: Change) -> LimitDecision:
    """Write one decision; raise StaleAccount when the account moved meanwhile."""
    cooldown = scoring.parse_policy(require_active_policy().rules).cooldown_days
    result = decisions_write([change], cooldown_days=cooldown)
    if result.skipped:
        raise StaleAccount(_("Someone else changed this account meanwhile. Reload and try again."))
    return LimitDecision.objects.get(idempotency_key=change.idempotency_key)


def locked_account(account_id: int, expected_version: int | None) -> Account:
    account = Account.objects.select_for_update(no_key=True).filter(pk=account_id).first()
    if account is None:
        raise DecisionError(_("This account does not exist."))
    if expected_version is not None and account.version != expected_version:
        raise StaleAccount(
            _(
                "Someone else changed this account while you were looking at it "
                "(version %(yours)s, now %(now)s). Reload the page and decide again."
            )
            % {"yours": expected_version, "now": account.version}
        )
    return account


def justification_checked(text: str) -> str:
    text = (text or "").strip()
    if len(text) < 10:
        raise DecisionError(
            _("Write a justification of at least 10 characters: it stays in the audit trail.")
        )
    if problem := too_long(text, JUSTIFICATION_MAX):
        raise DecisionError(problem)
    return text


def decision_tally_rebuild() -> int:
    """Recompute the per-day decision counts from the decisions table.

    For data loaded around `decisions_write` (a bulk import); returns the rows written.
    """
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("LOCK TABLE decisions_decisiontally IN EXCLUSIVE MODE")
        cursor.execute("DELETE FROM decisions_decisiontally")
        cursor.execute(
            """
            INSERT INTO decisions_decisiontally (day, action, reason, count)
            SELECT (d.created_at AT TIME ZONE %s)::date, d.action, r.reason, COUNT(*)
            FROM decisions_limitdecision AS d
            CROSS JOIN LATERAL (
                SELECT '' AS reason
                UNION ALL
                SELECT jsonb_array_elements_text(d.reasons)
            ) AS r
            GROUP BY 1, 2, 3
            """,
            [settings.TIME_ZONE],
        )
        return cursor.rowcount


# --- Audit checkpoints (docs/architecture.md, "Who can rewrite the audit trail") ----


# With DEBUG on and no key set (the demo run outside `make run`): never in production.
@dataclass(frozen=True)
class CheckpointWritten:
    path: Path
    checkpoint: checkpoint.Checkpoint


def audit_checkpoint_write() -> CheckpointWritten:
    """Write a signed checkpoint of every account's chain head, all read in one
    snapshot, to a new file in AUDIT_CHECKPOINT_DIR (daily by beat, and by
    `manage.py audit_checkpoint`)."""
    key = audit_checkpoint_key()  # before reading anything: a missing key fails at once
    builder = checkpoint.Builder()
    own_transaction = not connection.in_atomic_block
    with transaction.atomic():
        with connection.cursor() as cursor:
            if own_transaction:
                # Inside a caller's transaction the isolation is the caller's; the
                # heads are then read by one statement, which has one snapshot too.
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cursor.execute("SELECT statement_timestamp(), current_database()")
            taken_at, database = cursor.fetchone()
        # A server-side cursor: a million heads stream through, never all in memory.
        with connection.chunked_cursor() as cursor:
            cursor.execute(CHAIN_HEADS_SQL)
            while rows := cursor.fetchmany(10_000):
                for account_id, sequence, head_hash in rows:
                    builder.add(account_id, sequence, head_hash)
    made = builder.finish(taken_at=taken_at, database=database)
    directory = Path(settings.AUDIT_CHECKPOINT_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / checkpoint.file_name(made.taken_at)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(checkpoint.encode(made, key))
    partial.replace(path)  # the file appears whole or not at all
    return CheckpointWritten(path=path, checkpoint=made)


def scoring_inputs(signals: dict[str, Any]) -> dict[str, Any]:
    """Signal values as a decision's input snapshot (JSON-friendly)."""
    return {
        name: str(value) if isinstance(value, Decimal) else value for name, value in signals.items()
    }


def decision_partitions_ensure(*, now: datetime | None = None) -> list[date]:
    """This month's and next month's partitions of the decisions (months in UTC) made
    if they are not there; the months made. Through the owner's function
    (decisions/0021): the app's login owns no table (docs/architecture.md,
    "Decisions partitioned by month")."""
    today = (now or timezone.now()).astimezone(UTC).date()
    made = []
    for month in (month_start(today), next_month(today)):
        with transaction.atomic():
            if _partition_ensure(month):
                made.append(month)
    return made


def _partition_ensure(day: date | datetime) -> bool:
    """The partition of `day`'s month (UTC) made if missing; True when made now."""
    if isinstance(day, datetime):
        day = day.astimezone(UTC).date()
    with connection.cursor() as cursor:
        cursor.execute("SELECT decisions_partition_ensure(%s)", [month_start(day)])
        return bool(cursor.fetchone()[0])

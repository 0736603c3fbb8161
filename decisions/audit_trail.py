"""Reads of the audit trail: the hash chain's verification, the signed checkpoints,
and the CSV export of decisions (docs/architecture.md, "Who can rewrite the audit trail")."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import astuple, dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from accounts.models import Account
from config import db
from config.csv_export import FORMULA_SAFE_SQL
from decisions import chain, checkpoint
from decisions.models import (
    LimitDecision,
)

DEBUG_CHECKPOINT_KEY = "debug-only-audit-checkpoint-key-not-for-production"

# Every account's latest decision, in account order (one index probe per account).
CHAIN_HEADS_SQL = """
    SELECT a.id, d.sequence, d.hash
    FROM accounts_account AS a
    CROSS JOIN LATERAL (
        SELECT sequence, hash FROM decisions_limitdecision
        WHERE account_id = a.id ORDER BY sequence DESC LIMIT 1
    ) AS d
    ORDER BY a.id
"""


def audit_checkpoint_key() -> bytes:
    """The key checkpoints are signed with: AUDIT_CHECKPOINT_KEY, else the file that
    AUDIT_CHECKPOINT_KEY_FILE names. Read here, when a checkpoint is written or
    checked, so other commands run without one; ImproperlyConfigured says what is wrong."""
    if settings.AUDIT_CHECKPOINT_KEY:
        text, source = settings.AUDIT_CHECKPOINT_KEY, "AUDIT_CHECKPOINT_KEY"
    elif settings.AUDIT_CHECKPOINT_KEY_FILE:
        path = Path(settings.AUDIT_CHECKPOINT_KEY_FILE)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise ImproperlyConfigured(
                f"AUDIT_CHECKPOINT_KEY_FILE names {path}, which cannot be read "
                f"({error.strerror or error})."
            ) from None
        except UnicodeDecodeError:
            raise ImproperlyConfigured(
                f"AUDIT_CHECKPOINT_KEY_FILE names {path}, which does not hold text."
            ) from None
        source = f"The key in {path}"
    elif settings.DEBUG:
        return DEBUG_CHECKPOINT_KEY.encode()
    else:
        raise ImproperlyConfigured(
            "No key to sign or check audit checkpoints with: set AUDIT_CHECKPOINT_KEY, or "
            "AUDIT_CHECKPOINT_KEY_FILE to a file holding it, and keep it where the "
            'database and its administrators cannot read it (README, "Database roles '
            'and audit checkpoints").'
        )
    try:
        return checkpoint.key_bytes(text, source)
    except checkpoint.CheckpointError as error:
        raise ImproperlyConfigured(str(error)) from None


@dataclass(frozen=True)
class NamedBrokenLink:
    reference: str
    account_id: int
    sequence: int
    decision_id: int
    problem: str


@dataclass(frozen=True)
class ChainReport:
    accounts: int
    decisions: int
    broken: list[NamedBrokenLink]


def audit_chain_report(*, account_reference: str | None = None) -> ChainReport:
    """Recompute every decision's hash, account by account, streaming the table.

    Also checks that each account's chain head is its last decision's hash, so
    a deleted latest decision is caught too.
    """
    decisions = LimitDecision.objects.order_by("account_id", "sequence")
    accounts = Account.objects.exclude(chain_head="")
    if account_reference:
        decisions = decisions.filter(account__reference=account_reference)
        accounts = Account.objects.filter(reference=account_reference)
    heads = dict(accounts.values_list("pk", "chain_head"))
    references = dict(accounts.values_list("pk", "reference"))
    fields = ["id", "prev_hash", "hash", *chain.HASHED_FIELDS]
    broken: list[NamedBrokenLink] = []
    count = 0
    seen: set[int] = set()

    def check(account_id: int, rows: list[dict[str, Any]]) -> None:
        seen.add(account_id)
        link = chain.verify_chain(account_id, rows)
        if link is None and rows and heads.get(account_id) != rows[-1]["hash"]:
            link = chain.BrokenLink(
                account_id,
                rows[-1]["sequence"] + 1,
                0,
                "the account's latest decision is missing",
            )
        if link is not None:
            reference = references.get(account_id) or str(account_id)
            broken.append(NamedBrokenLink(reference, *astuple(link)))

    current: int | None = None
    rows: list[dict[str, Any]] = []
    for row in decisions.values(*fields).iterator(chunk_size=5000):
        count += 1
        if row["account_id"] != current:
            if current is not None:
                check(current, rows)
            current, rows = row["account_id"], []
        rows.append(row)
    if current is not None:
        check(current, rows)
    for account_id in heads.keys() - seen:
        broken.append(
            NamedBrokenLink(
                references[account_id],
                account_id,
                1,
                0,
                "the account has a chain head but its decisions are gone",
            )
        )
    return ChainReport(accounts=len(seen | heads.keys()), decisions=count, broken=broken)


@dataclass(frozen=True)
class CheckpointMismatch:
    """Accounts of one bucket whose chain heads no longer match the checkpoint."""

    first_id: int
    last_id: int
    accounts: int
    references: list[str]  # the first few accounts of the bucket
    missing: list[tuple[str, int, int]]  # (reference, account id, sequence) gone


@dataclass(frozen=True)
class CheckpointCheck:
    directory: Path
    path: Path | None  # the latest checkpoint; None: none written yet
    checkpoint: checkpoint.Checkpoint | None  # None: none, or one that cannot be trusted
    problem: str  # why the latest checkpoint cannot be trusted
    accounts: int  # accounts compared with it
    mismatches: list[CheckpointMismatch]

    @property
    def broken(self) -> bool:
        return bool(self.problem or self.mismatches)


def audit_checkpoint_latest() -> Path | None:
    directory = Path(settings.AUDIT_CHECKPOINT_DIR)
    try:
        names = sorted(
            entry.name for entry in directory.iterdir() if checkpoint.is_file_name(entry.name)
        )
    except FileNotFoundError:
        return None
    return directory / names[-1] if names else None


_HASHES_AT_SQL = """
    SELECT d.account_id, d.hash
    FROM unnest(%s::bigint[], %s::integer[]) AS c(account_id, sequence)
    JOIN decisions_limitdecision AS d
      ON d.account_id = c.account_id AND d.sequence = c.sequence
"""
CHECKPOINT_BUCKETS_PER_QUERY = 100


def audit_checkpoint_check(*, account_reference: str | None = None) -> CheckpointCheck:
    """Compare the decisions with the latest signed checkpoint: the decision at each
    account's checkpointed head must still be there, with the hash it had.

    Raises ImproperlyConfigured when a checkpoint exists but no key is set."""
    directory = Path(settings.AUDIT_CHECKPOINT_DIR)
    path = audit_checkpoint_latest()
    if path is None:
        return CheckpointCheck(directory, None, None, "", 0, [])
    key = audit_checkpoint_key()
    try:
        made = checkpoint.decode(path.read_bytes(), key)
    except checkpoint.CheckpointError as error:
        return CheckpointCheck(directory, path, None, str(error), 0, [])
    except OSError as error:
        return CheckpointCheck(
            directory, path, None, f"it cannot be read ({error.strerror or error})", 0, []
        )
    database = connection.settings_dict["NAME"]
    if made.database != database:
        problem = f"it is a checkpoint of the database {made.database}, not of {database}"
        return CheckpointCheck(directory, path, None, problem, 0, [])
    size = made.bucket_size
    buckets: Sequence[checkpoint.Bucket] = made.buckets
    if account_reference:
        account_id = (
            Account.objects.filter(reference=account_reference).values_list("pk", flat=True).first()
        )
        bucket = made.bucket_of(account_id) if account_id is not None else None
        buckets = [bucket] if bucket is not None else []
    found_mismatches: list[checkpoint.Mismatch] = []
    compared = 0
    with connection.cursor() as cursor:
        for start in range(0, len(buckets), CHECKPOINT_BUCKETS_PER_QUERY):
            batch = buckets[start : start + CHECKPOINT_BUCKETS_PER_QUERY]
            heads = [head for bucket in batch for head in bucket.heads(size)]
            cursor.execute(_HASHES_AT_SQL, [[a for a, _s in heads], [s for _a, s in heads]])
            found = dict(cursor.fetchall())
            compared += len(heads)
            found_mismatches += [
                mismatch
                for bucket in batch
                if (mismatch := checkpoint.compare(bucket, size, found)) is not None
            ]
    shown = 5
    wanted = {i for m in found_mismatches for i in m.account_ids[:shown]}
    wanted |= {account_id for m in found_mismatches for account_id, _seq in m.missing}
    references = dict(Account.objects.filter(pk__in=wanted).values_list("pk", "reference"))
    mismatches = [
        CheckpointMismatch(
            first_id=m.first_id,
            last_id=m.last_id,
            accounts=len(m.account_ids),
            references=[references.get(i, f"id {i}") for i in m.account_ids[:shown]],
            missing=[(references.get(i, f"id {i}"), i, seq) for i, seq in m.missing],
        )
        for m in found_mismatches
    ]
    return CheckpointCheck(directory, path, made, "", compared, mismatches)


# Free text (a justification, a username) that could read as a formula gets an apostrophe.
_JUSTIFICATION = FORMULA_SAFE_SQL.format(column="d.justification")
_ACTOR = FORMULA_SAFE_SQL.format(column="actor.username")
_APPROVER = FORMULA_SAFE_SQL.format(column="approver.username")
DECISIONS_CSV_SQL = f"""
    COPY (
        SELECT d.id, a.reference AS account, d.sequence, d.created_at AS decided_at, d.action,
               d.source, d.old_limit, d.new_limit, d.old_status, d.new_status, d.score_before,
               d.score_after, d.band_before, d.band_after,
               (SELECT string_agg(code, ' ') FROM jsonb_array_elements_text(d.reasons) AS code)
                   AS reasons,
               d.policy_version, d.run_id, {_ACTOR} AS actor,
               {_APPROVER} AS approver, {_JUSTIFICATION} AS justification, d.reverts_id,
               d.prev_hash, d.hash
        FROM decisions_limitdecision d
        JOIN accounts_account a ON a.id = d.account_id
        LEFT JOIN auth_user actor ON actor.id = d.actor_id
        LEFT JOIN auth_user approver ON approver.id = d.approver_id
        WHERE d.created_at >= %s AND d.created_at < %s
        ORDER BY d.id
    ) TO STDOUT WITH (FORMAT csv, HEADER true)
"""  # noqa: S608 - the columns come from code


def decisions_csv(since: date, until: date) -> Iterator[bytes]:
    """Every decision from `since` to `until` (whole UTC days, both included) as CSV,
    streamed from PostgreSQL's COPY: any number of rows in constant memory."""
    start = datetime.combine(since, time.min, tzinfo=UTC)
    end = datetime.combine(until + timedelta(days=1), time.min, tzinfo=UTC)
    with connection.cursor() as cursor, db.copy(cursor, DECISIONS_CSV_SQL, [start, end]) as copy:
        for block in copy:
            yield bytes(block)

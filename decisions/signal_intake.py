"""Signals in: the only writer of changes to AccountSignals and of re-score requests.

A signal changes through the API's events (api.services), a CSV import
(decisions.signal_import) or an appeal's verified evidence (appeals.services). Each
calls this module, in its own transaction; the accounts whose signals changed are
asked for a re-score (decisions.rescore_requests carries the requests out). See
docs/architecture.md, "The life of a decision".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from accounts.models import AccountSignals
from accounts.signal_spec import SIGNALS_BY_NAME, SQL_TYPES
from decisions.models import RescoreRequest
from decisions.rescore_requests import rescore_requests_schedule
from decisions.services import update_from_rows

SIGNALS_TABLE = AccountSignals._meta.db_table
REQUESTS_TABLE = RescoreRequest._meta.db_table


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
            f"INSERT INTO {REQUESTS_TABLE} (account_id, requested_at) "
            "SELECT unnest(%s::bigint[]), %s",
            [ids, timezone.now()],
        )
    # robust: the batch has committed; a broker that is down must not turn it into an
    # error (the beat queues the task within a minute).
    transaction.on_commit(rescore_requests_schedule, robust=True)


def signals_update(
    names: Sequence[str], rows: Sequence[tuple[Any, ...]], *, rescore: bool = True
) -> None:
    """Write new values of the signals `names` for many accounts in one UPDATE from a
    COPYed table (Django's bulk_update builds a CASE per field and row). A row is
    (account_id, observed_at, *values in the order of `names`). With `rescore`, each
    account is asked for a re-score."""
    if not rows:
        return
    columns = ", ".join(
        ["account_id bigint", "observed_at timestamptz"]
        + [f"{name} {SQL_TYPES[SIGNALS_BY_NAME[name].kind]}" for name in names]
    )
    assignments = ", ".join(f"{name} = u.{name}" for name in ["observed_at", *names])
    with connection.cursor() as cursor:
        update_from_rows(
            cursor,
            table="signal_updates",
            columns=columns,
            rows=list(rows),
            update=f"UPDATE {SIGNALS_TABLE} AS s SET {assignments} "  # noqa: S608
            f"FROM signal_updates AS u WHERE s.account_id = u.account_id",
        )
    if rescore:
        rescore_accounts_request(row[0] for row in rows)


def signals_set_verified(*, account_id: int, values: dict[str, Any], at: datetime) -> None:
    """Set the values an appeal's evidence verified. The appeal's own decision scores
    the account with them, so no re-score is asked for."""
    AccountSignals.objects.filter(account_id=account_id).update(**values, observed_at=at)


def signals_import_staged(
    cursor: Any, *, table: str, names: list[str], broken: str, rescore_at_most: int
) -> tuple[int, int, int, bool]:
    """Apply the rows staged in the temporary `table` (line, account, observed_at,
    *names): per account the newest row that breaks no cross-signal rule (`broken`,
    an SQL condition) and is newer than the signals on file. When at most
    `rescore_at_most` accounts change, each is asked for a re-score; a larger change,
    like a bureau refresh of the book, is left to a portfolio run.

    Returns (rows good, newest per account, applied, re-scores requested)."""
    assignments = ", ".join(f"{name} = i.{name}" for name in names)
    cursor.execute(
        f"""
        WITH good AS (
            SELECT i.*, a.id AS account_id FROM {table} i
            JOIN accounts_account a ON a.reference = i.account
            JOIN {SIGNALS_TABLE} s ON s.account_id = a.id
            WHERE NOT ({broken})
        ), newest AS (
            SELECT DISTINCT ON (account_id) * FROM good
            ORDER BY account_id, observed_at DESC, line DESC
        ), applied AS (
            UPDATE {SIGNALS_TABLE} s SET {assignments}, observed_at = i.observed_at
            FROM newest i
            WHERE s.account_id = i.account_id AND i.observed_at > s.observed_at
            RETURNING s.account_id
        ), requested AS (
            INSERT INTO {REQUESTS_TABLE} (account_id, requested_at)
            SELECT account_id, now() FROM applied
            WHERE (SELECT count(*) FROM applied) <= %s
        )
        SELECT (SELECT count(*) FROM good), (SELECT count(*) FROM newest),
               (SELECT count(*) FROM applied)
        """,  # noqa: S608 - names come from the signal table and the code, values from COPY
        [rescore_at_most],
    )
    good, newest, applied = cursor.fetchone()
    requested = 0 < applied <= rescore_at_most
    if requested:
        transaction.on_commit(rescore_requests_schedule, robust=True)
    return good, newest, applied, requested

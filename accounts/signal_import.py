"""Import account signals from a CSV file of any size (manage.py import_signals).

The file is read once, row by row: each row is checked (account reference,
observed_at with a time zone, each signal in its range) and the good ones are
COPYed into a temporary table; rejected rows go to an error file with their
reasons. If more than the allowed share of rows is rejected, nothing is
applied. Otherwise, in the same transaction, rows for unknown accounts or
breaking a cross-signal rule are rejected too, the newest row per account is
kept, rows older than the signals on file are skipped, and one UPDATE applies
the rest and asks for a re-score of every account it changed (a small file) or
leaves them to the next portfolio run (a large one).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import IO, Any

from django.db import connection, transaction

from accounts.signal_spec import SIGNALS_BY_NAME, SQL_TYPES, SignalSpec, value_problem
from config import db
from decisions.models import RescoreRequest
from decisions.runs import rescore_requests_schedule

REFERENCE = re.compile(r"^[A-Za-z0-9-]{1,32}$")
COPY_BATCH = 10_000
TRUE, FALSE = {"true", "1", "yes", "t"}, {"false", "0", "no", "f"}


class ImportRefused(Exception):
    """The whole file is refused (a bad header, or too many bad rows); nothing applied."""


@dataclass
class ImportResult:
    rows: int = 0
    applied: int = 0
    stale: int = 0
    superseded: int = 0  # an older row of the same account in the file
    rejected: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    rescores_requested: bool = False  # else the changes wait for a portfolio run


def parse_value(spec: SignalSpec, text: str) -> Any:
    """A CSV cell as the signal's value, or ValueError with the reason."""
    text = text.strip()
    if text == "":
        if spec.nullable:
            return None
        raise ValueError("is empty")
    if spec.kind == "bool":
        if text.lower() in TRUE:
            return True
        if text.lower() in FALSE:
            return False
        raise ValueError("is not true or false")
    if spec.kind == "int":
        if not re.fullmatch(r"-?[0-9]{1,9}", text):
            raise ValueError("is not a whole number")
        value: Any = int(text)
    else:
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise ValueError("is not a number") from None
        if not value.is_finite():
            raise ValueError("is not a number")
    problem = value_problem(spec, value)
    if problem:
        raise ValueError(problem)
    return value


def check_row(row: dict[str, str], names: list[str]) -> tuple[list[Any], list[str]]:
    """(values in column order: account, observed_at, signals…), or the reasons."""
    problems = []
    reference = (row.get("account") or "").strip()
    if not REFERENCE.fullmatch(reference):
        problems.append("account: not an account reference")
    observed: datetime | None = None
    try:
        observed = datetime.fromisoformat((row.get("observed_at") or "").strip())
        if observed.tzinfo is None:
            problems.append("observed_at: needs a time zone")
    except ValueError:
        problems.append("observed_at: not a date and time like 2026-11-25T08:00:00+08:00")
    values: list[Any] = [reference, observed]
    for name in names:
        try:
            values.append(parse_value(SIGNALS_BY_NAME[name], row.get(name) or ""))
        except ValueError as error:
            problems.append(f"{name}: {error}")
    return values, problems


def _header(columns: list[str] | None) -> list[str]:
    if not columns:
        raise ImportRefused("The file is empty.")
    missing = {"account", "observed_at"} - set(columns)
    if missing:
        raise ImportRefused(f"The header lacks: {', '.join(sorted(missing))}.")
    unknown = [
        c for c in columns if c not in SIGNALS_BY_NAME and c not in {"account", "observed_at"}
    ]
    if unknown:
        raise ImportRefused(f"Unknown columns: {', '.join(unknown)}.")
    if len(set(columns)) != len(columns):
        raise ImportRefused("A column appears twice.")
    names = [c for c in columns if c in SIGNALS_BY_NAME]
    if not names:
        raise ImportRefused("The file names no signal column.")
    return names


def _batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def signals_import(
    source: IO[str],
    errors: IO[str],
    *,
    max_rejected_pct: Decimal = Decimal("1"),
    rescore_at_most: int = 5_000,
) -> ImportResult:
    """Import the CSV `source`; rejected rows, with reasons, are written to `errors`.

    When it changes at most `rescore_at_most` accounts, each is asked for a re-score
    (as an API event would); a larger file, like a bureau refresh of the book, is
    left to a portfolio run, which the circuit breaker guards."""
    reader = csv.DictReader(source)
    names = _header(list(reader.fieldnames or []))
    result = ImportResult()
    rejects = csv.writer(errors)
    rejects.writerow(["line", "account", "reasons"])

    def reject(line: int, account: str, reasons: list[str]) -> None:
        result.rejected += 1
        for reason in reasons:
            key = reason.split(":", 1)[0]
            result.reasons[key] = result.reasons.get(key, 0) + 1
        rejects.writerow([line, account, "; ".join(reasons)])

    columns = ", ".join(f"{name} {SQL_TYPES[SIGNALS_BY_NAME[name].kind]}" for name in names)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE signal_import (line integer, account text, "
            f"observed_at timestamptz, {columns}) ON COMMIT DROP"
        )
        copy_sql = f"COPY signal_import (line, account, observed_at, {', '.join(names)}) FROM STDIN"

        def good_rows() -> Iterator[list[Any]]:
            for line, row in enumerate(reader, start=2):
                result.rows += 1
                if None in row:  # more cells than the header names
                    reject(line, row.get("account") or "", ["row: more cells than the header"])
                    continue
                values, problems = check_row(row, names)
                if problems:
                    reject(line, row.get("account") or "", problems)
                else:
                    yield [line, *values]

        for batch in _batches(good_rows(), COPY_BATCH):
            with db.copy(cursor, copy_sql) as copy:
                for values in batch:
                    copy.write_row(values)
        _refuse_if_too_many(result, max_rejected_pct)

        cursor.execute(
            "SELECT i.line, i.account FROM signal_import i "
            "LEFT JOIN accounts_account a ON a.reference = i.account "
            "LEFT JOIN accounts_accountsignals s ON s.account_id = a.id "
            "WHERE s.account_id IS NULL ORDER BY i.line"
        )
        for line, account in cursor.fetchall():
            reject(line, account, ["account: no account with this reference"])
        merged = {name: f"i.{name}" for name in names}

        def value(name: str) -> str:
            return merged.get(name, f"s.{name}")

        broken = (
            f"{value('max_dpd_12m')} < {value('days_past_due')} "
            f"OR {value('lender_applications_90d')} < {value('lender_applications_30d')}"
        )
        cursor.execute(
            f"SELECT i.line, i.account FROM signal_import i "  # noqa: S608
            f"JOIN accounts_account a ON a.reference = i.account "
            f"JOIN accounts_accountsignals s ON s.account_id = a.id WHERE {broken} ORDER BY i.line"
        )
        for line, account in cursor.fetchall():
            reject(line, account, ["signals: worst days past due below the current, or fewer "
                                   "applications in 90 days than in 30"])  # fmt: skip
        _refuse_if_too_many(result, max_rejected_pct)

        assignments = ", ".join(f"{name} = i.{name}" for name in names)
        cursor.execute(
            f"""
            WITH good AS (
                SELECT i.*, a.id AS account_id FROM signal_import i
                JOIN accounts_account a ON a.reference = i.account
                JOIN accounts_accountsignals s ON s.account_id = a.id
                WHERE NOT ({broken})
            ), newest AS (
                SELECT DISTINCT ON (account_id) * FROM good
                ORDER BY account_id, observed_at DESC, line DESC
            ), applied AS (
                UPDATE accounts_accountsignals s SET {assignments}, observed_at = i.observed_at
                FROM newest i
                WHERE s.account_id = i.account_id AND i.observed_at > s.observed_at
                RETURNING s.account_id
            ), requested AS (
                INSERT INTO {RescoreRequest._meta.db_table} (account_id, requested_at)
                SELECT account_id, now() FROM applied
                WHERE (SELECT count(*) FROM applied) <= %s
            )
            SELECT (SELECT count(*) FROM good), (SELECT count(*) FROM newest),
                   (SELECT count(*) FROM applied)
            """,  # noqa: S608 - column names come from the signal table, values from COPY
            [rescore_at_most],
        )
        good, newest, applied = cursor.fetchone()
        if 0 < applied <= rescore_at_most:
            result.rescores_requested = True
            transaction.on_commit(rescore_requests_schedule, robust=True)
        result.superseded = good - newest
        result.applied = applied
        result.stale = newest - applied
    return result


def _refuse_if_too_many(result: ImportResult, max_rejected_pct: Decimal) -> None:
    if result.rows and Decimal(result.rejected * 100) / result.rows > max_rejected_pct:
        raise ImportRefused(
            f"{result.rejected:,} of {result.rows:,} rows were rejected, more than "
            f"{max_rejected_pct}%: nothing was applied. See the error file."
        )

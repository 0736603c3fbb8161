"""Import account signals from a CSV file of any size (manage.py import_signals).
The rows are checked and staged here; decisions.signal_intake applies them.

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
from decimal import Decimal
from typing import IO, Any

from django.db import connection, transaction

from accounts.models import ACCOUNT_REFERENCE
from accounts.signal_spec import SIGNALS_BY_NAME, SQL_TYPES, parse_value
from config import db
from decisions import signal_intake

COPY_BATCH = 10_000


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


def check_row(row: dict[str, str], names: list[str]) -> tuple[list[Any], list[str]]:
    """(values in column order: account, observed_at, signals…), or the reasons."""
    problems = []
    reference = (row.get("account") or "").strip()
    if not re.fullmatch(ACCOUNT_REFERENCE, reference):
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
            values.append(parse_value(SIGNALS_BY_NAME[name], row.get(name) or "", text=True))
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
            reject(
                line,
                account,
                [
                    "signals: worst days past due below the current, or fewer "
                    "applications in 90 days than in 30"
                ],
            )
        _refuse_if_too_many(result, max_rejected_pct)

        good, newest, applied, requested = signal_intake.signals_import_staged(
            cursor,
            table="signal_import",
            names=names,
            broken=broken,
            rescore_at_most=rescore_at_most,
        )
        result.rescores_requested = requested
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

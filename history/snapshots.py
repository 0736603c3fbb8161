"""Snapshot rows in and out of the partitioned table, by PostgreSQL's binary COPY
straight from and into numpy (docs/architecture.md, "Portfolio history").

The one writer of `history_accountsnapshot`; everything that reads a whole
snapshot (the back-test, the outcomes) reads it through `snapshot_load`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, fields
from datetime import date, timedelta
from typing import Any

import numpy as np
from django.db import connection

import scoring
from config import db

SIGNAL_WIDTH = len(scoring.INPUT_SIGNALS)
_EPOCH = date(2000, 1, 1)  # PostgreSQL's binary dates count days from here

# (column, numpy type) in table order after taken_on; `signals` is SIGNAL_WIDTH
# little-endian float64 in a bytea.
_COLUMNS: tuple[tuple[str, str], ...] = (
    ("account_id", ">i8"),
    ("segment", ">i2"),
    ("status_before", ">i2"),
    ("limit_before", ">i8"),
    ("good_cycles", ">i2"),
    ("in_cooldown", "?"),
    ("days_since_restoration", ">i4"),
    ("days_past_due", ">i2"),
    ("score", ">i2"),
    ("band", ">i2"),
    ("policy_version", ">i4"),
    ("action", ">i2"),
    ("limit_after", ">i8"),
    ("status_after", ">i2"),
)
COLUMN_NAMES = ("taken_on", *(name for name, _type in _COLUMNS), "signals")
_SIGNAL_BYTES = SIGNAL_WIDTH * 8
_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_TRAILER = struct.pack(">h", -1)


def _row_dtype(with_date: bool) -> np.dtype:
    parts: list[tuple[str, str]] = [("fields", ">i2")]
    if with_date:
        parts += [("taken_on_len", ">i4"), ("taken_on", ">i4")]
    for name, kind in _COLUMNS:
        parts += [(f"{name}_len", ">i4"), (name, kind)]
    parts += [("signals_len", ">i4"), ("signals", f"V{_SIGNAL_BYTES}")]
    return np.dtype(parts)


_WRITE_ROW = _row_dtype(with_date=True)
_READ_ROW = _row_dtype(with_date=False)


@dataclass
class SnapshotRows:
    """Accounts of one snapshot as arrays, one entry per account, in id order.

    Money in cents; `status_*` and `action` are scoring.STATUS_CODES and
    scoring.ACTION_CODES; `segment` indexes accounts.book.SEGMENTS; `band`
    indexes the bands of `policy_version`; `signals` is rows x INPUT_SIGNALS."""

    account_id: np.ndarray
    segment: np.ndarray
    status_before: np.ndarray
    limit_before: np.ndarray
    good_cycles: np.ndarray
    in_cooldown: np.ndarray
    days_since_restoration: np.ndarray
    days_past_due: np.ndarray
    score: np.ndarray
    band: np.ndarray
    policy_version: np.ndarray
    action: np.ndarray
    limit_after: np.ndarray
    status_after: np.ndarray
    signals: np.ndarray

    def __len__(self) -> int:
        return len(self.account_id)

    def take(self, rows: np.ndarray) -> SnapshotRows:
        """These rows only (a boolean mask or indexes)."""
        return SnapshotRows(**{f.name: getattr(self, f.name)[rows] for f in fields(self)})

    def as_chunk_input(self) -> scoring.ChunkInput:
        """The rows as the scorer reads them: the book before the run, to replay a
        policy version on it."""
        n = len(self)
        return scoring.ChunkInput(
            ids=self.account_id.astype(np.int64),
            limit=self.limit_before.astype(np.int64),
            status=self.status_before.astype(np.int64),
            version=np.zeros(n, dtype=np.int64),
            good_cycles=self.good_cycles.astype(np.int64),
            score=self.score.astype(np.int64),
            band=np.full(n, -1, dtype=np.int64),
            bucket=np.zeros(n, dtype=np.int64),
            in_cooldown=self.in_cooldown.astype(bool),
            signals=self.signals.astype(np.float64),
            segment=self.segment.astype(np.int64),
            days_since_restoration=self.days_since_restoration.astype(np.int64),
        )


def partition_name(day: date) -> str:
    return f"history_accountsnapshot_p{day.year:04d}{day.month:02d}"


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    first = month_start(day)
    return (first + timedelta(days=32)).replace(day=1)


def partition_ensure(day: date) -> bool:
    """Create the month's partition of the snapshot table if it is not there (True
    when it was created). Through a function of the table's owner (migration
    history/0002): the app's login owns no table."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT history_partition_ensure(%s)", [month_start(day)])
        return bool(cursor.fetchone()[0])


def partitions() -> list[tuple[str, date]]:
    """Every partition of the snapshot table with the month it holds, oldest first."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname FROM pg_inherits i
            JOIN pg_class c ON c.oid = i.inhrelid
            JOIN pg_class p ON p.oid = i.inhparent
            WHERE p.relname = 'history_accountsnapshot' ORDER BY c.relname
            """
        )
        names = [row[0] for row in cursor.fetchall()]
    return [(name, date(int(name[-6:-2]), int(name[-2:]), 1)) for name in names]


def snapshot_rows_write(taken_on: date, rows: SnapshotRows) -> None:
    """COPY these rows into the snapshot of `taken_on` (its partition must exist:
    partition_ensure), on the current transaction's connection."""
    n = len(rows)
    if not n:
        return
    out = np.zeros(n, dtype=_WRITE_ROW)
    out["fields"] = len(COLUMN_NAMES)
    out["taken_on_len"] = 4
    out["taken_on"] = (taken_on - _EPOCH).days
    for name, kind in _COLUMNS:
        out[f"{name}_len"] = np.dtype(kind).itemsize
        out[name] = getattr(rows, name)
    out["signals_len"] = _SIGNAL_BYTES
    signals = np.ascontiguousarray(rows.signals, dtype="<f8").reshape(n, SIGNAL_WIDTH)
    out["signals"] = signals.view(f"V{_SIGNAL_BYTES}").reshape(n)
    sql = f"COPY history_accountsnapshot ({', '.join(COLUMN_NAMES)}) FROM STDIN (FORMAT BINARY)"
    with connection.cursor() as cursor, db.copy(cursor, sql) as copy:
        copy.write(_HEADER)
        copy.write(out.tobytes())
        copy.write(_TRAILER)


def snapshot_load(
    taken_on: date, first_id: int | None = None, last_id: int | None = None
) -> SnapshotRows:
    """The rows of one snapshot (optionally an id range), in account id order."""
    where = "taken_on = %s"
    params: list[Any] = [taken_on]
    if first_id is not None and last_id is not None:
        where += " AND account_id BETWEEN %s AND %s"
        params += [first_id, last_id]
    columns = ", ".join(name for name in COLUMN_NAMES if name != "taken_on")
    sql = (
        f"COPY (SELECT {columns} FROM history_accountsnapshot WHERE {where} "  # noqa: S608
        "ORDER BY account_id) TO STDOUT (FORMAT BINARY)"
    )
    buffer = bytearray()
    with connection.cursor() as cursor, db.copy(cursor, sql, params) as copy:
        for block in copy:
            buffer += block
    body = len(buffer) - len(_HEADER) - len(_TRAILER)
    raw = np.frombuffer(
        buffer, dtype=_READ_ROW, count=body // _READ_ROW.itemsize, offset=len(_HEADER)
    )
    values: dict[str, Any] = {
        name: raw[name].astype(np.dtype(kind).newbyteorder("=")) for name, kind in _COLUMNS
    }
    signals = np.frombuffer(raw["signals"].tobytes(), dtype="<f8").reshape(len(raw), SIGNAL_WIDTH)
    return SnapshotRows(**values, signals=signals.astype(np.float64))


@dataclass(frozen=True)
class Outcomes:
    """What later snapshots showed of each account, within a window after a snapshot:
    the worst days past due and whether the line was closed. Accounts no later
    snapshot saw are absent."""

    account_id: np.ndarray
    worst_dpd: np.ndarray
    closed: np.ndarray


def outcomes_after(taken_on: date, months: int) -> Outcomes:
    """Outcomes in the `months` after `taken_on`, from the complete snapshots taken in
    (taken_on, taken_on + months]."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT l.account_id, max(l.days_past_due), bool_or(l.status_after = %s)
            FROM history_accountsnapshot l
            JOIN history_snapshot s ON s.taken_on = l.taken_on AND s.state = 'complete'
            WHERE l.taken_on > %s AND l.taken_on <= (%s::date + make_interval(months => %s))::date
            GROUP BY l.account_id ORDER BY l.account_id
            """,
            [scoring.STATUS_CODES["closed"], taken_on, taken_on, months],
        )
        found = cursor.fetchall()
    if not found:
        empty = np.zeros(0, dtype=np.int64)
        return Outcomes(empty, empty, np.zeros(0, dtype=bool))
    ids, worst, closed = zip(*found, strict=True)
    return Outcomes(
        np.asarray(ids, dtype=np.int64),
        np.asarray(worst, dtype=np.int64),
        np.asarray(closed, dtype=bool),
    )


# Columns of a snapshot that the outcomes need, read as one bytea (the rows packed by
# PostgreSQL's *send functions): no per-row message as COPY has, so a million rows
# come back in one value (docs/architecture.md, "Outcomes and performance").
OUTCOME_COLUMNS = np.dtype(
    [
        ("account_id", ">i8"),
        ("score", ">i2"),
        ("band", ">i2"),
        ("policy_version", ">i4"),
        ("action", ">i2"),
        ("days_past_due", ">i2"),
        ("status_after", ">i2"),
    ]
)


def snapshot_outcome_columns(taken_on: date) -> dict[str, np.ndarray]:
    """account_id, score, band, policy_version, action, days_past_due, status_after of
    every row of one snapshot, in account id order, in native byte order."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT string_agg(
                int8send(account_id) || int2send(score) || int2send(band)
                || int4send(policy_version) || int2send(action)
                || int2send(days_past_due) || int2send(status_after),
                ''::bytea ORDER BY account_id)
            FROM history_accountsnapshot WHERE taken_on = %s
            """,
            [taken_on],
        )
        packed = cursor.fetchone()[0]
    raw = np.frombuffer(bytes(packed or b""), dtype=OUTCOME_COLUMNS)
    return {
        name: raw[name].astype(OUTCOME_COLUMNS[name].newbyteorder("="))
        for name in OUTCOME_COLUMNS.names or ()
    }

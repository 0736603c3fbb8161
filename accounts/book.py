"""The book as arrays: accounts with their signals, read by PostgreSQL's binary COPY
straight into numpy, for the re-scoring runs and the simulations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection
from django.db.models import Max, Min, QuerySet
from django.utils import timezone

import scoring
from accounts.models import Account
from accounts.signal_spec import SIGNALS_BY_NAME
from config import db

_SIGNAL_SQL = ", ".join(
    f"COALESCE(s.{name}::int::float8, 0)"
    if SIGNALS_BY_NAME[name].kind == "bool"
    else f"COALESCE(s.{name}::float8, 0)"
    for name in scoring.INPUT_SIGNALS
)
# Every column fixed-width and never NULL, so PostgreSQL's binary COPY of the
# chunk is one numpy record array (no per-value Python objects).
CHUNK_SQL = f"""
    COPY (
        SELECT a.id::int8, (a.current_limit * 100)::int8,
               (CASE a.status WHEN 'active' THEN 0 WHEN 'frozen' THEN 1 ELSE 2 END)::int8,
               a.version::int8, a.good_cycles::int8, COALESCE(a.score, -1)::int8,
               (COALESCE(array_position(%s::text[], a.band::text), 0) - 1)::int8,
               (CASE WHEN %s THEN {scoring.ROLLOUT_BUCKET_SQL} ELSE 0 END)::int8,
               (a.cooldown_until IS NOT NULL AND a.cooldown_until > %s),
               (COALESCE(array_position(%s::text[], a.segment::text), 0) - 1)::int8,
               COALESCE(EXTRACT(DAY FROM %s - a.restored_at)::int8, {scoring.NEVER_RESTORED}),
               s.xmin::text::int8,
               {_SIGNAL_SQL}
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
    + [("segment_len", ">i4"), ("segment", ">i8"), ("restored_len", ">i4"), ("restored", ">i8")]
    + [("signals_row_len", ">i4"), ("signals_row", ">i8")]
    + [
        item
        for i in range(len(scoring.INPUT_SIGNALS))
        for item in ((f"s{i}_len", ">i4"), (f"s{i}", ">f8"))
    ]
)


# Cohort codes of the account's segment (ChunkInput.segment, the portfolio snapshots).
SEGMENTS: tuple[str, ...] = tuple(Account.Segment.values)


def id_ranges(accounts: QuerySet[Account], *, size: int | None = None) -> list[tuple[int, int]]:
    """The accounts' id span in ranges of `size` ids (RESCORE_CHUNK_SIZE unless given):
    the chunks of a run or of a simulation."""
    bounds = accounts.aggregate(low=Min("id"), high=Max("id"))
    low, high = bounds["low"], bounds["high"]
    size = size or settings.RESCORE_CHUNK_SIZE
    if low is None:
        return []
    return [(first, min(first + size - 1, high)) for first in range(low, high + 1, size)]


def load_chunk(
    first_id: int,
    last_id: int,
    bands: list[str],
    *,
    buckets: bool = False,
    unless: tuple[str, list[Any]] | None = None,
    now: datetime | None = None,
) -> scoring.ChunkInput:
    """The accounts of an id range with their signals; `band` is an index into `bands`;
    with `buckets`, each account's rollout bucket. `unless`: a condition on the account
    `a` (SQL and its parameters) that leaves an account out; `now`: the moment cool-downs
    and restorations are measured at (this moment when None)."""
    # The range on both tables: PostgreSQL carries an equality across the join, not a
    # range, and would otherwise read every signals row to join a chunk's.
    where = "a.id BETWEEN %s AND %s AND s.account_id BETWEEN %s AND %s"
    params: list[Any] = [first_id, last_id, first_id, last_id]
    if unless is not None:
        where, params = f"{where} AND NOT {unless[0]}", [*params, *unless[1]]
    return _load(where, params, bands, buckets, now=now)


def load_accounts(ids: list[int], bands: list[str], *, buckets: bool = False) -> scoring.ChunkInput:
    """As load_chunk, for these accounts."""
    return _load("a.id = ANY(%s)", [ids], bands, buckets)


def _load(
    where: str,
    where_params: list[Any],
    bands: list[str],
    buckets: bool,
    *,
    now: datetime | None = None,
) -> scoring.ChunkInput:
    buffer = bytearray()
    now = timezone.now() if now is None else now
    params = [bands, buckets, now, list(SEGMENTS), now, *where_params]
    sql = CHUNK_SQL.replace("{where}", where)
    with connection.cursor() as cursor, db.copy(cursor, sql, params) as copy:
        for block in copy:
            buffer += block
    body = len(buffer) - COPY_HEADER - 2  # the trailer is a field count of -1
    rows = np.frombuffer(
        buffer, dtype=COPY_ROW, count=body // COPY_ROW.itemsize, offset=COPY_HEADER
    )
    width = len(scoring.INPUT_SIGNALS)
    signals = np.empty((len(rows), width), dtype=np.float64)
    for i in range(width):
        signals[:, i] = rows[f"s{i}"]
    ints = {name: rows[name].astype(np.int64) for name in _INT_COLUMNS}
    return scoring.ChunkInput(
        **ints,
        in_cooldown=rows["in_cooldown"].astype(bool),
        signals=signals,
        segment=rows["segment"].astype(np.int64),
        days_since_restoration=rows["restored"].astype(np.int64),
        signals_row=rows["signals_row"].astype(np.int64),
    )

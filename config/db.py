"""PostgreSQL calls that Django's cursor does not cover the same way in every profile.

Every COPY in the project goes through `copy()`: see docs/architecture.md,
"One code path with DEBUG on and off". `shared_snapshot()` lets threads read the
snapshot of the transaction that starts them (docs/architecture.md, "Evidence pack").
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from typing import Any

from django.db import connection, transaction
from psycopg import Copy

type Submit = Callable[..., Future[Any]]


def copy(
    cursor: Any, statement: str, params: Sequence[Any] | None = None
) -> AbstractContextManager[Copy]:
    """`COPY ... FROM STDIN` or `COPY (...) TO STDOUT` through a Django cursor.

    With DEBUG on, Django hands out a CursorDebugWrapper whose `copy()` takes the
    statement alone; with DEBUG off, the plain wrapper passes parameters on to
    psycopg. PostgreSQL has no parameters for COPY, so psycopg itself merges them
    into the statement on the client: the same is done here, with Django's own
    quoting, and both wrappers get a finished statement.
    """
    if params:
        statement = cursor.db.ops.compose_sql(statement, params)
    copying: AbstractContextManager[Copy] = cursor.copy(statement)
    return copying


@contextlib.contextmanager
def shared_snapshot(workers: int) -> Iterator[Submit]:
    """Threads that read exactly what the current transaction reads.

    Called inside a REPEATABLE READ transaction of its own (not a caller's: another
    connection cannot see a transaction's uncommitted rows), it exports that
    transaction's snapshot (`pg_export_snapshot`) and yields `submit(function, *args)`:
    each function runs in a thread on a connection of its own, in a read-only REPEATABLE
    READ transaction that imported the snapshot (`SET TRANSACTION SNAPSHOT`), and its
    result comes back as a Future. The exporting transaction stays open until every
    thread is done; a thread's connection is closed when its function returns."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_export_snapshot()")
        (snapshot,) = cursor.fetchone()

    def in_snapshot(function: Callable[..., Any], *args: Any) -> Any:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                cursor.execute("SET TRANSACTION SNAPSHOT %s", [snapshot])
                return function(*args)
        finally:
            connection.close()

    pool = ThreadPoolExecutor(workers, thread_name_prefix="snapshot")
    try:
        yield lambda function, *args: pool.submit(in_snapshot, function, *args)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)

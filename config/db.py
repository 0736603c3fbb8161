"""PostgreSQL calls that Django's cursor does not cover the same way in every profile.

Every COPY in the project goes through `copy()`: see docs/architecture.md,
"One code path with DEBUG on and off".
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

from psycopg import Copy


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

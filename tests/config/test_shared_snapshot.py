"""Threads started by `config.db.shared_snapshot` read what the starting transaction
reads, not what was committed since (docs/architecture.md, "Evidence pack")."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections, transaction

from config import db

pytestmark = pytest.mark.django_db(transaction=True)


def _count() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM auth_group WHERE name LIKE 'snapshot-%%'")
        (count,) = cursor.fetchone()
    return count


def _commit_from_elsewhere(name: str) -> None:
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("INSERT INTO auth_group (name) VALUES (%s)", [name])
    finally:
        other.close()


def test_threads_read_the_snapshot_of_the_transaction_that_started_them():
    _commit_from_elsewhere("snapshot-before")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        assert _count() == 1  # the snapshot is taken here
        _commit_from_elsewhere("snapshot-after")
        with db.shared_snapshot(2) as submit:
            seen = [submit(_count) for _ in range(3)]
            names = [submit(lambda: threading.current_thread().name) for _ in range(2)]
            assert [future.result() for future in seen] == [1, 1, 1]
            assert all(future.result().startswith("snapshot") for future in names)
    assert _count() == 2  # a new transaction sees the row committed meanwhile


def test_a_thread_cannot_write_and_its_error_reaches_the_caller():
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        with db.shared_snapshot(1) as submit:
            failed = submit(_commit_in_thread)
            with pytest.raises(Exception, match="read-only transaction"):
                failed.result()
    assert _count() == 0


def _commit_in_thread() -> None:
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO auth_group (name) VALUES ('snapshot-written')")

"""The running app's database login cannot rewrite the audit trail.

This test process migrates, so it logs in as the owner of the tables; the running app
(web, worker, beat) logs in as DATABASE_APP_URL's role, which owns nothing. Here that
login, on the test database, does what the app does and tries what an attacker would
(docs/architecture.md, "Who can rewrite the audit trail").
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from decimal import Decimal
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from django.db import connection
from psycopg import errors, sql

from accounts import roles
from config import db
from config.grants import APPEND_ONLY_TABLES, app_role_grant
from decisions import overrides
from tests.base import make_account, make_user

pytestmark = pytest.mark.django_db(transaction=True)


def app_url() -> str:
    url = os.environ.get("DATABASE_APP_URL", "")
    owner = connection.settings_dict["USER"]
    if not url or urlsplit(url).username == owner:
        pytest.skip("the suite runs with one database login (DATABASE_APP_URL not apart)")
    return urlunsplit(urlsplit(url)._replace(path=f"/{connection.settings_dict['NAME']}"))


@pytest.fixture
def app() -> Iterator[psycopg.Connection]:
    """The app's login on the test database; what it does is rolled back."""
    with psycopg.connect(app_url()) as conn:
        yield conn


@pytest.fixture
def decision():
    alice = make_user("alice", roles.RISK_ANALYST)
    account = make_account(reference="LD-ROLES", current_limit=Decimal("10000.00"))
    return overrides.account_override_limit(
        account_id=account.pk,
        expected_version=account.version,
        new_limit="12000",
        actor=alice,
        justification="Customer verified a new salary flow.",
    ).decision


def refused(app: psycopg.Connection, query: str | sql.Composed, params: list | None = None) -> str:
    with pytest.raises(errors.InsufficientPrivilege) as caught:
        app.execute(query, params)
    app.rollback()
    return str(caught.value)


def test_the_app_cannot_change_remove_or_empty_decisions_nor_switch_the_trigger_off(app, decision):
    denied = "permission denied for table decisions_limitdecision"
    update = "UPDATE decisions_limitdecision SET new_limit = 99999 WHERE id = %s"
    assert denied in refused(app, update, [decision.pk])
    delete = "DELETE FROM decisions_limitdecision WHERE id = %s"
    assert denied in refused(app, delete, [decision.pk])
    assert denied in refused(app, "TRUNCATE decisions_limitdecision CASCADE")
    assert "must be owner of table decisions_limitdecision" in refused(
        app, "ALTER TABLE decisions_limitdecision DISABLE TRIGGER USER"
    )
    assert "permission denied to set parameter" in refused(
        app, "SET session_replication_role = replica"
    )
    for table in APPEND_ONLY_TABLES:
        first_column = app.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum = 1",
            [table],
        ).fetchone()
        assert first_column is not None
        column = sql.Identifier(first_column[0])
        for statement in ("UPDATE {} SET {} = {}", "DELETE FROM {}", "TRUNCATE {}"):
            query = sql.SQL(statement).format(sql.Identifier(table), column, column)
            assert f"permission denied for table {table}" in refused(app, query)
    owned = app.execute(
        "SELECT count(*) FROM pg_class WHERE relowner = "
        "(SELECT oid FROM pg_roles WHERE rolname = current_user)"
    ).fetchone()
    assert owned == (0,)
    decision.refresh_from_db()
    assert decision.new_limit == Decimal("12000.00")


def test_the_app_reads_and_appends_decisions_by_insert_and_copy(app, decision):
    columns = sql.SQL(
        "account_id, sequence, action, source, old_limit, new_limit, old_status, new_status, "
        "contributions, triggers, reasons, inputs, scorecard_version, justification, "
        "idempotency_key, prev_hash, hash, band_before, band_after, created_at"
    )
    with app.transaction(force_rollback=True):
        assert app.execute(
            "SELECT hash FROM decisions_limitdecision WHERE id = %s", [decision.pk]
        ).fetchone() == (decision.hash,)
        insert = sql.SQL(
            "INSERT INTO decisions_limitdecision ({}) "
            "SELECT account_id, 2, 'set', 'override', new_limit, 13000, new_status, new_status, "
            "'{{}}', '[]', '[]', '{{}}', '', 'x', 'roles:2', hash, repeat('2', 64), '', '', now() "
            "FROM decisions_limitdecision WHERE id = %s"
        ).format(columns)
        app.execute(insert, [decision.pk])
        copy_in = sql.SQL("COPY decisions_limitdecision ({}) FROM STDIN").format(columns)
        with db.copy(app.cursor(), copy_in.as_string(app)) as copy:
            copy.write_row(
                [
                    decision.account_id,
                    3,
                    "set",
                    "override",
                    "13000",
                    "14000",
                    "active",
                    "active",
                    "{}",
                    "[]",
                    "[]",
                    "{}",
                    "",
                    "x",
                    "roles:3",
                    "2" * 64,
                    "3" * 64,
                    "",
                    "",
                    "2026-12-03 00:00:00+00",
                ]
            )
        count = app.execute(
            "SELECT count(*) FROM decisions_limitdecision WHERE account_id = %s",
            [decision.account_id],
        ).fetchone()
        assert count == (3,)
        # Ordinary tables: the app changes and removes rows as its work needs.
        app.execute(
            "UPDATE accounts_account SET version = version + 1 WHERE id = %s",
            [decision.account_id],
        )
        app.execute("CREATE TEMPORARY TABLE scratch (id bigint) ON COMMIT DROP")
        app.execute("DELETE FROM decisions_decisiontally")


def test_the_grants_are_already_in_place_after_migrate_and_flush(app):
    # This database was migrated and flushed: nothing is left to grant (one read).
    assert app_role_grant() is False
    assert app.execute(
        "SELECT has_table_privilege(current_user, 'accounts_account', 'UPDATE'), "
        "has_table_privilege(current_user, 'decisions_limitdecision', 'INSERT'), "
        "has_table_privilege(current_user, 'decisions_limitdecision', 'UPDATE')"
    ).fetchone() == (True, True, False)


def test_rights_given_by_hand_are_taken_back_by_the_next_migrate(app, decision):
    role = urlsplit(app_url()).username
    with connection.cursor() as cursor:
        cursor.execute(f"GRANT ALL ON decisions_limitdecision TO {role}")
    assert app_role_grant() is True
    update = "UPDATE decisions_limitdecision SET new_limit = 99999 WHERE id = %s"
    assert "permission denied" in refused(app, update, [decision.pk])
    assert "permission denied" in refused(app, "TRUNCATE decisions_limitdecision CASCADE")


def test_a_role_that_does_not_exist_is_skipped_quietly():
    assert app_role_grant(role="no_such_limitdesk_role") is False

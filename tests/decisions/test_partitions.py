"""Limit decisions partitioned by month (decisions/migrations/0021; docs/architecture.md,
"Decisions partitioned by month")."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone
from psycopg import errors, sql

from accounts import roles
from decisions import overrides, services, tasks
from decisions.audit_trail import audit_chain_report
from decisions.models import DecisionLink, LimitDecision
from tests.base import make_account, make_user

ROOT = Path(__file__).resolve().parents[2]


def partition_of(decision: LimitDecision) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tableoid::regclass::text FROM decisions_limitdecision WHERE id = %s",
            [decision.pk],
        )
        return cursor.fetchone()[0]


def override(account, limit: str, **extra) -> LimitDecision:
    decision = overrides.account_override_limit(
        account_id=account.pk,
        expected_version=account.version,
        new_limit=limit,
        actor=make_user(f"alice{account.pk}", roles.RISK_ANALYST),
        justification="Bureau check.",
        **extra,
    ).decision
    assert decision is not None
    return decision


def copy_of(decision: LimitDecision, **changes) -> LimitDecision:
    fields = {
        field.attname: getattr(decision, field.attname)
        for field in LimitDecision._meta.concrete_fields
        if field.attname != "id"
    }
    return LimitDecision(**{**fields, **changes})


@pytest.mark.django_db
def test_a_decision_lands_in_its_months_partition_with_its_link():
    decision = override(make_account(), "8000")
    month = timezone.now().astimezone(UTC).strftime("%Y%m")
    assert partition_of(decision) == f"decisions_limitdecision_p{month}"
    link = DecisionLink.objects.get(decision_id=decision.pk)
    assert (link.account_id, link.sequence, link.hash, link.idempotency_key) == (
        decision.account_id,
        decision.sequence,
        decision.hash,
        decision.idempotency_key,
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT partstrat FROM pg_partitioned_table "
            "WHERE partrelid = 'decisions_limitdecision'::regclass"
        )
        assert cursor.fetchone() == ("r",)  # by range of created_at


@pytest.mark.django_db
def test_the_unique_keys_hold_across_months():
    decision = override(make_account(), "8000")
    next_year = decision.created_at.replace(year=decision.created_at.year + 1)
    duplicates: dict[str, dict[str, Any]] = {
        "the same link of the chain": {"hash": "f" * 64, "idempotency_key": "other-key"},
        "the same hash": {"sequence": 99, "idempotency_key": "other-key"},
        "the same idempotency key": {"sequence": 99, "hash": "e" * 64},
    }
    for what, changes in duplicates.items():
        with pytest.raises(IntegrityError), transaction.atomic():
            copy_of(decision, created_at=next_year, **changes).save()
        assert LimitDecision.objects.filter(account_id=decision.account_id).count() == 1, what


@pytest.mark.django_db
def test_history_cannot_be_changed_through_a_partition_either():
    decision = override(make_account(), "8000")
    partition = partition_of(decision)
    for statement in (
        f"UPDATE {partition} SET new_limit = 1 WHERE id = %s",  # noqa: S608 - a table name
        f"DELETE FROM {partition} WHERE id = %s",  # noqa: S608
        "UPDATE decisions_decisionlink SET sequence = 7 WHERE decision_id = %s",
        "DELETE FROM decisions_decisionlink WHERE decision_id = %s",
    ):
        with (
            pytest.raises(DatabaseError) as refused,
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement, [decision.pk])
        assert "append-only" in str(refused.value), statement
    assert audit_chain_report().broken == []


@pytest.mark.django_db(transaction=True)
def test_the_apps_login_cannot_empty_or_change_a_partition_or_the_links():
    url = os.environ.get("DATABASE_APP_URL", "")
    if not url or urlsplit(url).username == connection.settings_dict["USER"]:
        pytest.fail("the suite runs beside the app's own database login (config/stack.py)")
    decision = override(make_account(), "8000")
    partition = partition_of(decision)
    app_url = urlunsplit(urlsplit(url)._replace(path=f"/{connection.settings_dict['NAME']}"))
    with psycopg.connect(app_url) as app:
        for table in (partition, "decisions_limitdecision_pdefault", "decisions_decisionlink"):
            for statement in ("TRUNCATE {}", "DELETE FROM {}", "UPDATE {} SET account_id = 0"):
                with pytest.raises(errors.InsufficientPrivilege):
                    app.execute(sql.SQL(statement).format(sql.Identifier(table)))
                app.rollback()
        # What the app does: read and append, through the parent.
        found = app.execute("SELECT count(*) FROM decisions_limitdecision").fetchone()
        assert found == (1,)


@pytest.mark.django_db
def test_the_daily_task_makes_next_months_partition_ahead():
    far = datetime(2031, 6, 15, 12, tzinfo=UTC)
    assert services.decision_partitions_ensure(now=far) == [
        far.date().replace(day=1),
        date(2031, 7, 1),
    ]
    assert services.decision_partitions_ensure(now=far) == []  # already there
    account = make_account()
    decision = override(account, "8000")
    later = copy_of(
        decision,
        sequence=decision.sequence + 1,
        hash="d" * 64,
        idempotency_key="in-2031",
        created_at=datetime(2031, 7, 31, 23, 59, tzinfo=UTC),
    )
    later.save()
    assert partition_of(later) == "decisions_limitdecision_p203107"
    # The task as beat sends it: this month's and next month's, both there already.
    assert tasks.ensure_decision_partitions() == []


@pytest.mark.django_db
def test_a_back_dated_decision_goes_to_the_default_partition():
    decision = override(make_account(), "8000")
    old = copy_of(
        decision,
        sequence=decision.sequence + 1,
        hash="c" * 64,
        idempotency_key="in-2019",
        created_at=datetime(2019, 3, 1, tzinfo=UTC),
    )
    old.save()
    assert partition_of(old) == "decisions_limitdecision_pdefault"
    assert LimitDecision.objects.filter(account_id=decision.account_id).count() == 2


def one(db: psycopg.Connection, query: str) -> tuple[Any, ...]:
    row = db.execute(query).fetchone()
    assert row is not None
    return row


def manage(url: str, *args: str) -> str:
    env = {**os.environ, "DATABASE_URL": url, "DATABASE_APP_ROLE": ""}
    env.pop("DATABASE_REPLICA_URL", None)
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.django_db
def test_the_migration_moves_an_existing_table_with_its_rows():
    """A database at 0020 with decisions in three months, migrated to 0021: every row
    kept in its month's partition, its links made, the ids going on after the last."""
    scratch = f"{connection.settings_dict['NAME']}_partition_move"
    owner = connection.settings_dict
    with psycopg.connect(
        host=owner["HOST"], user=owner["USER"], dbname="postgres", autocommit=True
    ) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(scratch)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(scratch)))
    url = urlunsplit(urlsplit(os.environ["DATABASE_URL"])._replace(path=f"/{scratch}"))
    try:
        manage(url, "migrate", "decisions", "0020", "--noinput")
        manage(url, "migrate", "appeals", "0014", "--noinput")
        with psycopg.connect(url, autocommit=True) as db:
            db.execute(
                "INSERT INTO accounts_account (reference, full_name, phone, national_id, "
                "segment, language, status, current_limit, score, band, opened_at, version, "
                "good_cycles, chain_head, updated_at) "
                "VALUES ('LD-MOVE', 'x', '13800000000', '1', 'mass', 'zh-hans', 'active', "
                "1000, 700, 'B', now(), 1, 0, '', now())"
            )
            (account_id,) = one(db, "SELECT id FROM accounts_account")
            for sequence, when in enumerate(
                ("2025-11-03", "2025-12-31 23:30", "2026-02-10"), start=1
            ):
                db.execute(
                    "INSERT INTO decisions_limitdecision (account_id, sequence, action, "
                    "source, old_limit, new_limit, old_status, new_status, band_before, "
                    "band_after, contributions, triggers, reasons, inputs, scorecard_version, "
                    "justification, idempotency_key, prev_hash, hash, created_at) VALUES "
                    "(%s, %s, 'set', 'override', 1000, 900, 'active', 'active', 'B', 'B', "
                    "'{}', '[]', '[]', '{}', '', 'x', %s, '', %s, %s::timestamptz)",
                    [account_id, sequence, f"move-{sequence}", f"{sequence:064d}", when + "+00"],
                )
            (last_id,) = one(db, "SELECT max(id) FROM decisions_limitdecision")
        manage(url, "migrate", "--noinput")
        with psycopg.connect(url, autocommit=True) as db:
            rows = db.execute(
                "SELECT sequence, tableoid::regclass::text FROM decisions_limitdecision "
                "ORDER BY sequence"
            ).fetchall()
            assert rows == [
                (1, "decisions_limitdecision_p202511"),
                (2, "decisions_limitdecision_p202512"),
                (3, "decisions_limitdecision_p202602"),
            ]
            links = db.execute("SELECT count(*) FROM decisions_decisionlink").fetchone()
            assert links == (3,)
            db.execute(
                "INSERT INTO decisions_limitdecision (account_id, sequence, action, "
                "source, old_limit, new_limit, old_status, new_status, band_before, "
                "band_after, contributions, triggers, reasons, inputs, scorecard_version, "
                "justification, idempotency_key, prev_hash, hash, created_at) VALUES "
                "(%s, 4, 'set', 'override', 900, 800, 'active', 'active', 'B', 'B', "
                "'{}', '[]', '[]', '{}', '', 'x', 'move-4', '', %s, now())",
                [account_id, "4" * 64],
            )
            (new_id,) = one(db, "SELECT id FROM decisions_limitdecision WHERE sequence = 4")
            assert new_id > last_id
            with pytest.raises(errors.UniqueViolation):
                db.execute(
                    "INSERT INTO decisions_limitdecision (account_id, sequence, action, "
                    "source, old_limit, new_limit, old_status, new_status, band_before, "
                    "band_after, contributions, triggers, reasons, inputs, "
                    "scorecard_version, justification, idempotency_key, prev_hash, hash, "
                    "created_at) VALUES (%s, 2, 'set', 'override', 900, 800, 'active', "
                    "'active', 'B', 'B', '{}', '[]', '[]', '{}', '', 'x', 'move-5', '', %s, "
                    "now())",
                    [account_id, "5" * 64],
                )
    finally:
        with psycopg.connect(
            host=owner["HOST"], user=owner["USER"], dbname="postgres", autocommit=True
        ) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(scratch))
            )


@pytest.mark.django_db
def test_a_back_dated_history_gets_its_months_partition_and_a_crowded_default_is_left_as_it_is():
    from tests.notices.factories import cut

    # The decision writer, loading a history (the demo's stories), makes the month first.
    loaded = cut(at=datetime(2024, 5, 20, 9, tzinfo=UTC))
    assert partition_of(loaded) == "decisions_limitdecision_p202405"
    # A row that reached the DEFAULT partition keeps its month from getting a partition:
    # the daily task says so and goes on, the row stays readable.
    stray = copy_of(
        loaded,
        sequence=loaded.sequence + 1,
        hash="b" * 64,
        idempotency_key="in-2023",
        created_at=datetime(2023, 8, 2, tzinfo=UTC),
    )
    stray.save()
    assert partition_of(stray) == "decisions_limitdecision_pdefault"
    assert services.decision_partitions_ensure(now=datetime(2023, 8, 10, tzinfo=UTC)) == [
        date(2023, 9, 1)
    ]
    assert LimitDecision.objects.get(pk=stray.pk).idempotency_key == "in-2023"

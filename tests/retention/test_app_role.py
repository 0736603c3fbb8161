"""The running app's login prunes the append-only logs only through their owner's
functions, past the floors; it cannot delete their rows itself (docs/architecture.md,
"Retention"). And the daily task runs on a real worker, as the app."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from django.db import connection
from django.utils import timezone
from psycopg import errors, sql

from accounts import roles
from accounts.models import PersonalDataReveal, PersonalDataSearch
from api.models import ApiCall
from config import queue
from retention.models import RetentionPrune
from tests.base import make_account, make_user

pytestmark = pytest.mark.django_db(transaction=True)

LOGS = (
    "api_apicall",
    "accounts_personaldatareveal",
    "accounts_personaldatasearch",
    "retention_retentionprune",
)


def app_url() -> str:
    url = os.environ["DATABASE_APP_URL"]  # config.stack sets it, apart from the owner's
    assert urlsplit(url).username != connection.settings_dict["USER"]
    return urlunsplit(urlsplit(url)._replace(path=f"/{connection.settings_dict['NAME']}"))


@pytest.fixture
def app() -> Iterator[psycopg.Connection]:
    with psycopg.connect(app_url()) as conn:
        yield conn


def old_and_new_rows() -> tuple[ApiCall, ApiCall, PersonalDataReveal]:
    now = timezone.now()
    old = ApiCall.objects.create(
        method="GET", path="/api/v1/decisions", status=200, milliseconds=2,
        at=now - timedelta(days=500),
    )  # fmt: skip
    new = ApiCall.objects.create(
        method="GET", path="/api/v1/decisions", status=200, milliseconds=2,
        at=now - timedelta(days=10),
    )  # fmt: skip
    reveal = PersonalDataReveal.objects.create(
        account=make_account(),
        user=make_user("frank", roles.AUDITOR),
        purpose="Court order",
        revealed_at=now - timedelta(days=2000),
    )
    return old, new, reveal


def refused(app: psycopg.Connection, query: sql.Composed | str, params: list | None = None) -> str:
    with pytest.raises(errors.InsufficientPrivilege) as caught:
        app.execute(query, params)
    app.rollback()
    return str(caught.value)


def test_the_app_cannot_delete_change_or_empty_the_logs_itself(app):
    old, _new, reveal = old_and_new_rows()
    for table in LOGS:
        for statement in ("DELETE FROM {}", "UPDATE {} SET id = id", "TRUNCATE {}"):
            query = sql.SQL(statement).format(sql.Identifier(table))
            assert f"permission denied for table {table}" in refused(app, query)
    # Not even a row past its period.
    assert "permission denied" in refused(app, "DELETE FROM api_apicall WHERE id = %s", [old.pk])
    assert "permission denied" in refused(
        app, "DELETE FROM accounts_personaldatareveal WHERE id = %s", [reveal.pk]
    )
    assert ApiCall.objects.filter(pk=old.pk).exists()
    assert PersonalDataReveal.objects.filter(pk=reveal.pk).exists()


def test_the_apps_login_prunes_only_through_the_functions_and_past_the_floor(app):
    old, new, reveal = old_and_new_rows()
    with pytest.raises(errors.InvalidParameterValue, match="kept at least 183 days, not 30"):
        app.execute("SELECT retention_prune_api_apicall(30, 100)")
    app.rollback()
    with pytest.raises(errors.InvalidParameterValue, match="a batch is 1 to 50000 rows"):
        app.execute("SELECT retention_prune_api_apicall(400, 0)")
    app.rollback()
    assert app.execute("SELECT retention_prune_api_apicall(400, 100)").fetchone() == (1,)
    assert app.execute(
        "SELECT retention_prune_accounts_personaldatareveal(1096, 100)"
    ).fetchone() == (1,)
    assert app.execute(
        "SELECT retention_prune_accounts_personaldatasearch(1096, 100)"
    ).fetchone() == (0,)
    app.commit()
    assert set(ApiCall.objects.values_list("id", flat=True)) == {new.pk}
    assert not PersonalDataReveal.objects.filter(pk=reveal.pk).exists()
    assert old.pk != new.pk and not PersonalDataSearch.objects.exists()


@pytest.mark.worker
def test_the_daily_task_prunes_on_a_real_worker(settings, celery_worker):
    entry = settings.CELERY_BEAT_SCHEDULE["prune-retention"]
    assert entry["task"] == "retention.tasks.prune_retention"
    assert (entry["schedule"].hour, entry["schedule"].minute) == ({1}, {45})
    old, new, reveal = old_and_new_rows()
    queue.send("retention.tasks.prune_retention")
    deadline = time.monotonic() + 60
    while RetentionPrune.objects.count() < 5 and time.monotonic() < deadline:
        time.sleep(0.2)
    log = {row.category: row for row in RetentionPrune.objects.all()}
    assert set(log) == {"api_calls", "signal_events", "appeal_evidence", "reveals", "notices"}
    assert all(row.trigger == "beat" for row in log.values())
    assert (log["api_calls"].removed, log["reveals"].removed) == (1, 1)
    assert set(ApiCall.objects.values_list("id", flat=True)) == {new.pk}
    assert not PersonalDataReveal.objects.filter(pk=reveal.pk).exists()
    assert not ApiCall.objects.filter(pk=old.pk).exists()

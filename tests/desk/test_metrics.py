"""/metrics as Prometheus scrapes it, and what each figure counts (desk/metrics.py,
config/metrics.py)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import transaction
from prometheus_client.parser import text_string_to_metric_families

from accounts import roles
from api import services as api_services
from config.stack import free_port
from decisions import overrides, tasks
from decisions import runs as decision_runs
from decisions.models import Notice, RescoreRequest
from tests.base import make_account, make_signals, make_user

pytestmark = pytest.mark.django_db

PROMETHEUS = {"HTTP_HOST": "10.0.0.7:8000"}  # by the instance's address, as a scraper asks


@pytest.fixture(autouse=True)
def _production_like(settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.ALLOWED_HOSTS = ["limitdesk.example"]
    settings.METRICS_TOKEN = ""


def scrape(client, **extra) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics", **PROMETHEUS, **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    assert not response.cookies
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def value(figures, name: str, **labels: str) -> float:
    return figures.get((name, tuple(sorted(labels.items()))), 0.0)


def test_pages_are_counted_by_view_and_status_and_timed(client):
    alice = make_user("alice", roles.RISK_ANALYST)
    before = scrape(client)
    client.force_login(alice)
    assert client.get("/", secure=True, HTTP_HOST="limitdesk.example").status_code == 200
    assert (
        client.get("/accounts/LD-NONE/", secure=True, HTTP_HOST="limitdesk.example").status_code
        == 404
    )
    after = scrape(client)

    ok = {"view": "overview", "method": "GET", "status": "200"}
    assert value(after, "limitdesk_http_requests_total", **ok) == (
        value(before, "limitdesk_http_requests_total", **ok) + 1
    )
    assert (
        value(
            after,
            "limitdesk_http_requests_total",
            view="accounts:detail",
            method="GET",
            status="404",
        )
        == value(
            before,
            "limitdesk_http_requests_total",
            view="accounts:detail",
            method="GET",
            status="404",
        )
        + 1
    )
    seconds = "limitdesk_http_request_duration_seconds_count"
    assert value(after, seconds, view="overview") == value(before, seconds, view="overview") + 1
    # The scrapes themselves are answered before the count, like the probes.
    assert not any(labels and ("view", "metrics") in labels for _name, labels in after)


def test_the_backlogs_are_read_from_the_database_and_redis_at_each_scrape(client):
    first, second = make_account(), make_account()
    before = scrape(client)
    assert value(before, "limitdesk_rescore_backlog_accounts") == 0
    assert value(before, "limitdesk_redis_up") == 1
    assert value(before, "limitdesk_database_up") == 1
    assert ("limitdesk_queue_depth", (("queue", "celery"),)) in before

    for account in (first, first, second):  # two requests for one account: one re-score
        RescoreRequest.objects.create(account=account)
    overrides.account_override_limit(
        account_id=first.pk,
        expected_version=first.version,
        new_limit=Decimal("4000.00"),
        actor=make_user("alice", roles.RISK_ANALYST),
        justification="Bureau check: two new loans elsewhere.",
    )
    assert Notice.objects.filter(state__in=["pending", "retrying"]).count() == 1
    after = scrape(client)
    assert value(after, "limitdesk_rescore_backlog_accounts") == 2
    assert value(after, "limitdesk_rescore_backlog_oldest_seconds") >= 0
    assert value(after, "limitdesk_notice_backlog", state="waiting") == 1
    assert value(after, "limitdesk_notice_backlog", state="overdue") == 0
    assert value(after, "limitdesk_notice_backlog", state="dead") == 0


def test_a_redis_that_is_away_is_reported_not_raised(client, settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    figures = scrape(client)
    assert value(figures, "limitdesk_redis_up") == 0
    assert ("limitdesk_queue_depth", (("queue", "celery"),)) not in figures
    assert value(figures, "limitdesk_database_up") == 1


def test_decisions_are_counted_when_their_transaction_commits(
    client, django_capture_on_commit_callbacks
):
    account = make_account()
    before = scrape(client)
    with django_capture_on_commit_callbacks(execute=True):
        overrides.account_override_limit(
            account_id=account.pk,
            expected_version=account.version,
            new_limit=Decimal("12000.00"),
            actor=make_user("alice", roles.RISK_ANALYST),
            justification="Salary verified.",
        )
    after = scrape(client)
    labels = {"source": "override", "action": "set"}  # a person sets a limit by hand
    assert value(after, "limitdesk_decisions_written_total", **labels) == (
        value(before, "limitdesk_decisions_written_total", **labels) + 1
    )


def test_a_write_that_rolls_back_counts_nothing(client, django_capture_on_commit_callbacks):
    account = make_account()
    before = scrape(client)
    alice = make_user("alice", roles.RISK_ANALYST)
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        overrides.account_override_limit(
            account_id=account.pk,
            expected_version=account.version,
            new_limit=Decimal("9000.00"),
            actor=alice,
            justification="Salary verified.",
        )
        raise RuntimeError("the rest of the request failed")
    after = scrape(client)
    written = "limitdesk_decisions_written_total"
    assert value(after, written, source="override", action="set") == value(
        before, written, source="override", action="set"
    )


def test_a_run_times_its_chunks_and_itself(client, django_capture_on_commit_callbacks):
    for _ in range(3):
        make_signals(make_account())
    before = scrape(client)
    with django_capture_on_commit_callbacks(execute=True):
        run = decision_runs.run_start(trigger="button")
        indexes = list(run.chunks.values_list("index", flat=True))
        for index in indexes:
            tasks.compute_chunk(run.pk, index)
        run.refresh_from_db()
        assert run.state == "applying", run.breaker_reason
        for index in indexes:
            tasks.apply_chunk(run.pk, index)
    run.refresh_from_db()
    assert run.state == "done"
    after = scrape(client)
    chunk = "limitdesk_chunk_duration_seconds_count"
    for phase in ("compute", "apply"):
        assert value(after, chunk, phase=phase) == value(before, chunk, phase=phase) + len(indexes)
    ran = "limitdesk_run_duration_seconds_count"
    assert value(after, ran, trigger="button", state="done") == (
        value(before, ran, trigger="button", state="done") + 1
    )


def test_api_calls_are_counted_by_key_and_status(client):
    admin = make_user("root", roles.ADMINISTRATOR)
    secret = api_services.api_key_create(
        name="risk engine", scopes=["decisions:read"], actor=admin
    )[1]
    before = scrape(client)
    ok = client.get(
        "/api/v1/decisions?limit=1",
        secure=True,
        HTTP_HOST="limitdesk.example",
        HTTP_AUTHORIZATION=f"Bearer {secret}",
    )
    refused = client.get(
        "/api/v1/decisions?limit=1",
        secure=True,
        HTTP_HOST="limitdesk.example",
        HTTP_AUTHORIZATION="Bearer not-a-key",
    )
    after = scrape(client)
    calls = "limitdesk_api_calls_total"
    for key, status in (("risk engine", ok.status_code), ("none", refused.status_code)):
        labels = {"key": key, "status": str(status)}
        assert value(after, calls, **labels) == value(before, calls, **labels) + 1
    assert (ok.status_code, refused.status_code) == (200, 401)


def test_only_this_machine_may_scrape_without_a_token(client):
    assert client.get("/metrics", **PROMETHEUS).status_code == 200  # from 127.0.0.1
    elsewhere = client.get("/metrics", REMOTE_ADDR="10.0.0.9", **PROMETHEUS)
    assert elsewhere.status_code == 403
    assert b"METRICS_TOKEN" in elsewhere.content
    assert b"limitdesk_" not in elsewhere.content


def test_with_a_token_only_its_bearer_may_scrape(client, settings):
    settings.METRICS_TOKEN = "scrape-me-0123456789"
    for authorization in ("", "Bearer wrong", "scrape-me-0123456789"):
        refused = client.get("/metrics", HTTP_AUTHORIZATION=authorization, **PROMETHEUS)
        assert refused.status_code == 403, authorization
    figures = scrape(
        client, REMOTE_ADDR="10.0.0.9", HTTP_AUTHORIZATION="Bearer scrape-me-0123456789"
    )
    assert value(figures, "limitdesk_database_up") == 1
    assert client.post("/metrics", **PROMETHEUS).status_code == 405

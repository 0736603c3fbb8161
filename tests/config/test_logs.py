"""Logs as JSON lines naming the request, its user and the run (config/logs.py,
config/request_log.py)."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
from collections.abc import Iterator

import pytest

from accounts import roles
from config import celery as celery_app
from config.logs import JsonLines, WorkContext
from decisions import tasks
from tests.base import make_account, make_user, manage

pytestmark = pytest.mark.django_db
SITE = {"secure": True, "HTTP_HOST": "limitdesk.example"}


@pytest.fixture(autouse=True)
def _site(settings):
    settings.ALLOWED_HOSTS = ["limitdesk.example"]


@contextlib.contextmanager
def captured(logger: str = "") -> Iterator[list[dict]]:
    """The lines written meanwhile, as the configured console handler writes them;
    the list is filled when the block ends."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLines())
    handler.addFilter(WorkContext())
    logging.getLogger(logger).addHandler(handler)
    written: list[dict] = []
    try:
        yield written
    finally:
        logging.getLogger(logger).removeHandler(handler)
        # One JSON object per line, nothing else.
        written.extend(json.loads(line) for line in stream.getvalue().splitlines())


def test_the_console_writes_json_lines_with_the_work_context():
    handler = next(h for h in logging.getLogger().handlers if h.get_name() == "console")
    assert isinstance(handler.formatter, JsonLines)
    assert any(isinstance(f, WorkContext) for f in handler.filters)


def test_each_request_is_one_line_with_its_id_user_view_and_status(client):
    with captured() as written:
        client.force_login(make_user("alice", roles.RISK_ANALYST))
        given = client.get("/", HTTP_X_REQUEST_ID="lb-7f3a9c21e0", **SITE)
        made = client.get("/", HTTP_X_REQUEST_ID="<script>alert(1)</script>", **SITE)
    assert given["X-Request-ID"] == "lb-7f3a9c21e0"  # the load balancer's id is kept
    assert len(made["X-Request-ID"]) == 32 and made["X-Request-ID"].isalnum()  # replaced
    requests = [line for line in written if line["logger"] == "limitdesk.request"]
    assert [line["request_id"] for line in requests] == ["lb-7f3a9c21e0", made["X-Request-ID"]]
    first = requests[0]
    assert first["user"] == "alice"
    assert (first["method"], first["path"], first["status"], first["view"]) == (
        "GET",
        "/",
        200,
        "overview",
    )
    assert first["level"] == "INFO" and first["ms"] >= 0
    assert first["message"].startswith("GET / 200 ")


def test_a_line_logged_while_answering_names_the_request_and_the_person(client):
    with captured() as written:
        client.force_login(make_user("bob", roles.APPEAL_HANDLER))
        refused = client.get("/policy/", HTTP_X_REQUEST_ID="req-00000042", **SITE)
    assert refused.status_code == 403
    # Django's own warning about the refusal, logged inside the view's handling.
    forbidden = next(line for line in written if line["logger"] == "django.request")
    assert forbidden["level"] == "WARNING"
    assert forbidden["request_id"] == "req-00000042"
    assert forbidden["user"] == "bob"
    assert "exc" not in forbidden  # a refusal is one line, not a traceback


def test_a_task_names_its_run_in_every_line():
    assert celery_app.run_id_of(tasks.compute_chunk, (17, 3), {}) == 17
    assert celery_app.run_id_of(tasks.apply_chunk, (), {"run_id": 4, "index": 0}) == 4
    assert celery_app.run_id_of(tasks.nightly_rescore, (), {}) is None
    logger = logging.getLogger("decisions.test")
    with captured("decisions.test") as written:
        celery_app._name_the_work(task_id="t-1", task=tasks.compute_chunk, args=(17, 3), kwargs={})
        logger.warning("chunk %s slow", 3)
        celery_app._work_done()
        logger.warning("between tasks")
    during, after = written
    assert (during["task"], during["task_id"], during["run_id"]) == (
        "decisions.tasks.compute_chunk",
        "t-1",
        17,
    )
    assert during["message"] == "chunk 3 slow"
    assert "run_id" not in after and "task" not in after


def test_a_traceback_stays_inside_its_one_line():
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed: %s", ("boom",), None)
    try:
        raise ValueError("bad chunk")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    text = JsonLines().format(record)
    assert "\n" not in text
    line = json.loads(text)
    assert line["message"] == "failed: boom"
    assert line["exc"].startswith("Traceback (most recent call last)")
    assert "ValueError: bad chunk" in line["exc"]


def test_an_unknown_log_format_is_refused_by_name():
    result = manage({**os.environ, "LOG_FORMAT": "xml"}, "check")
    assert result.returncode != 0
    assert "LOG_FORMAT must be json or plain, not 'xml'" in result.stderr
    plain = manage({**os.environ, "LOG_FORMAT": "plain"}, "check")
    assert plain.returncode == 0, plain.stderr


def test_a_search_term_is_not_written_to_the_log(client):
    account = make_account(full_name="李秀英")
    with captured() as written:
        client.force_login(make_user("alice", roles.RISK_ANALYST))
        assert client.get("/accounts/", {"q": account.full_name}, **SITE).status_code == 200
    text = json.dumps(written, ensure_ascii=False)
    assert "李秀英" not in text
    assert any(line.get("path") == "/accounts/" for line in written)

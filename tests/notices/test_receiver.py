"""The local receiver the stack starts for `make run` and the tests (config/receiver.py):
it checks the signature, de-duplicates by key (across a restart too), refuses the
unreachable account, and stops with the stack."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from config import stack
from notices import webhook
from tests.notices.receivers import start_receiver, stop_receiver


@pytest.fixture
def configured(monkeypatch, tmp_path):
    monkeypatch.setenv("LIMITDESK_STACK_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", "postgres://app:a@db.example:5432/limitdesk")
    monkeypatch.setenv("REDIS_URL", "redis://cache.example:6379/0")
    for name in (
        "DATABASE_OWNER_URL",
        "DATABASE_APP_URL",
        "LIMITDESK_STATE_DIR",
        "NOTICE_WEBHOOK_URL",
        "NOTICE_WEBHOOK_SECRET",
        "NOTICE_RECEIVER_DIR",
    ):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def sender(url: str, secret: str) -> webhook.Sender:
    return webhook.Sender(url, secret, concurrency=2, timeout=5)


def test_the_stack_starts_a_receiver_for_make_run_and_the_tests(configured):
    body = json.dumps({"account": "LD-1"}).encode()
    with stack.services("test") as env:
        url, secret = env["NOTICE_WEBHOOK_URL"], env["NOTICE_WEBHOOK_SECRET"]
        assert len(secret) == 64
        assert Path(env["NOTICE_RECEIVER_DIR"]) == configured / "test" / "receiver"
        assert "the notice receiver" in env["LIMITDESK_EMBEDDED"]
        good = sender(url, secret)
        assert good.post("k1", body) == webhook.Outcome(webhook.DELIVERED, 200, "")
        assert good.post("k1", body).verdict == webhook.DELIVERED  # a repeat: 200 again
        unreachable = json.dumps({"account": "LD-UNREACHABLE"}).encode()
        refused = good.post("k2", unreachable)
        assert (refused.verdict, refused.status) == (webhook.DEAD, 422)
        assert "no deliverable contact" in refused.error
        good.close()
        forged = sender(url, "not-the-secret").post("k3", body)
        assert (forged.verdict, forged.status) == (webhook.DEAD, 401)
        lines = (configured / "test" / "receiver" / "notices.jsonl").read_text().splitlines()
        assert [json.loads(line)["idempotency_key"] for line in lines] == ["k1"]
    port = urlsplit(url).port
    assert port is not None
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), 0.5).close()
    # The test profile's next session starts from nothing; `make run` keeps its file.
    with stack.services("test") as env:
        assert not (configured / "test" / "receiver" / "notices.jsonl").read_text()


def test_a_configured_webhook_is_used_and_no_receiver_is_started(configured, monkeypatch):
    monkeypatch.setenv("NOTICE_WEBHOOK_URL", "https://messages.example/notices")
    monkeypatch.setenv("NOTICE_WEBHOOK_SECRET", "s" * 40)
    with stack.services("dev") as env:
        assert env["NOTICE_WEBHOOK_URL"] == "https://messages.example/notices"
        assert "NOTICE_RECEIVER_DIR" not in env
        assert "receiver" not in env["LIMITDESK_EMBEDDED"]
    with stack.services("bench") as env:  # the benchmark starts its own
        assert env["NOTICE_WEBHOOK_URL"] == "https://messages.example/notices"


def test_a_restarted_receiver_still_knows_the_keys_it_took(tmp_path):
    body = b'{"account":"LD-2"}'
    first = start_receiver(tmp_path)
    try:
        assert sender(first.url, first.secret).post("k", body).status == 200
    finally:
        stop_receiver(first)
    second = start_receiver(tmp_path)
    try:
        assert sender(second.url, second.secret).post("k", body).status == 200
        assert second.stats()["duplicates"] == 1
        assert len(second.records()) == 1
    finally:
        stop_receiver(second)


def test_it_can_be_told_to_fail_for_a_test(tmp_path):
    receiver = start_receiver(tmp_path)
    try:
        receiver.fail(503, 1)
        post = sender(receiver.url, receiver.secret)
        first = post.post("k", b"{}")
        assert (first.verdict, first.status) == (webhook.RETRY, 503)
        assert post.post("k", b"{}").verdict == webhook.DELIVERED
    finally:
        stop_receiver(receiver)

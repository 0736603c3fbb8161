"""A real notice receiver (config/receiver.py) per test, in a directory of its own: the
fixture `receiver` (tests/notices/conftest.py and the browser tests import it)."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from config.stack import free_port

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Receiver:
    url: str
    secret: str
    directory: Path
    process: subprocess.Popen[bytes]

    @property
    def base(self) -> str:
        return self.url.rsplit("/", 1)[0]

    def records(self) -> list[dict[str, Any]]:
        path = self.directory / "notices.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]

    def _call(self, method: str, path: str) -> dict[str, Any]:
        request = urllib.request.Request(  # noqa: S310 (the loopback receiver)
            self.base + path, method=method, data=b"" if method == "POST" else None
        )
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            result: dict[str, Any] = json.loads(response.read())
            return result

    def stats(self) -> dict[str, int]:
        return self._call("GET", "/stats")

    def fail(self, status: int, count: int) -> None:
        self._call("POST", f"/control/fail?status={status}&count={count}")


def start_receiver(directory: Path) -> Receiver:
    port = free_port()
    secret = secrets.token_hex(16)
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "config" / "receiver.py"), "--port", str(port),
         "--state-dir", str(directory)],
        env={**os.environ, "NOTICE_WEBHOOK_SECRET": secret},
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert process.poll() is None, "the receiver exited"
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return Receiver(f"http://127.0.0.1:{port}/notices", secret, directory, process)
        time.sleep(0.05)
    raise AssertionError("the receiver did not start")


def stop_receiver(receiver: Receiver) -> None:
    if receiver.process.poll() is None:
        os.killpg(receiver.process.pid, signal.SIGTERM)
        receiver.process.wait(10)


@pytest.fixture
def receiver(settings, monkeypatch, tmp_path) -> Iterator[Receiver]:
    """The webhook the outbox posts to, for this process and the workers it starts."""
    started = start_receiver(tmp_path / "receiver")
    settings.NOTICE_WEBHOOK_URL = started.url
    settings.NOTICE_WEBHOOK_SECRET = started.secret
    monkeypatch.setenv("NOTICE_WEBHOOK_URL", started.url)
    monkeypatch.setenv("NOTICE_WEBHOOK_SECRET", started.secret)
    yield started
    stop_receiver(started)

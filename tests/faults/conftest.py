"""The fault suite's harness: the processes `make run` starts (gunicorn, Celery worker,
Celery beat) on the test database, a Redis of the test's own that it can stop and
start, and a person's browser session that records every answer it got.

Each fault test breaks something real (a process killed, a backend terminated, the
server restarted, Redis stopped, a second scheduler, a row lock held), then checks
the invariants in tests/faults/invariants.py.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
import requests
from django.conf import settings
from django.db import connection

from config.stack import EmbeddedRedis, free_port

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery staple"  # tests.base.PASSWORD

pytestmark = pytest.mark.fault


def wait_until(condition: Callable[[], object], seconds: float = 120.0, step: float = 0.05):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(step)
    raise AssertionError(f"not true after {seconds} s")


def database_url_for_processes() -> str:
    """The URL of the test database, for the processes the test starts."""
    url = urlsplit(os.environ.get("DATABASE_APP_URL") or os.environ["DATABASE_URL"])
    return urlunsplit(url._replace(path=f"/{connection.settings_dict['NAME']}"))


def owner_database_url() -> str:
    """The test database as this process reaches it (the owner, who may end any
    backend)."""
    url = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(url._replace(path=f"/{connection.settings_dict['NAME']}"))


class OwnRedis:
    """A redis-server of the test's own, stopped and started again on the same port."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = EmbeddedRedis(self.directory, persist=False).binary()
        self.process = subprocess.Popen(
            [
                binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--dir",
                str(self.directory),
                "--logfile",
                str(self.directory / "redis.log"),
            ],
            start_new_session=True,
        )
        wait_until(self.answers, 20)

    def answers(self) -> bool:
        try:
            return bool(redis.Redis(port=self.port, socket_connect_timeout=0.2).ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()  # as a crash or a host going away: nothing saved
            self.process.wait(10)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path)
    server.start()
    yield server
    server.stop()


@dataclass
class Processes:
    """The app's processes, started on the test database and a given Redis."""

    home: Path
    redis_url: str
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)
    port: int = 0

    def env(self, **extra: str) -> dict[str, str]:
        return {
            **os.environ,
            "DATABASE_URL": database_url_for_processes(),
            "REDIS_URL": self.redis_url,
            "LIMITDESK_STATE_DIR": str(self.home),
            "DEBUG": "0",
            # Runs started through the web are cut into chunks as the test's are.
            "RESCORE_CHUNK_SIZE": str(settings.RESCORE_CHUNK_SIZE),
            **extra,
        }

    def _start(self, name: str, command: list[str], **extra: str) -> subprocess.Popen[bytes]:
        log = (self.home / f"{name}.log").open("ab")
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=self.env(**extra),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.started.append(process)
        return process

    def web(self, workers: int = 2) -> str:
        """gunicorn as the Procfile starts it; its URL once it answers."""
        self.port = free_port()
        self._start(
            "web",
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(workers),
                "--graceful-timeout",
                "5",
            ],
        )
        url = f"http://127.0.0.1:{self.port}"

        def answers() -> bool:
            with contextlib.suppress(requests.RequestException):
                return requests.get(f"{url}/login/", timeout=2).status_code == 200
            return False

        wait_until(answers, 60, 0.2)
        return url

    def worker(self, name: str = "worker", concurrency: int = 2) -> subprocess.Popen[bytes]:
        return self._start(
            name,
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--concurrency",
                str(concurrency),
                "--loglevel",
                "INFO",
                "--hostname",
                f"{name}@%h",
                "--without-gossip",
                "--without-mingle",
            ],
        )

    def beat(self, name: str = "beat", **extra: str) -> subprocess.Popen[bytes]:
        return self._start(
            name,
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "beat",
                "--loglevel",
                "INFO",
                "--schedule",
                str(self.home / f"{name}-schedule"),
            ],
            **extra,
        )

    def log(self, name: str) -> str:
        path = self.home / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def server_errors(self) -> list[str]:
        """5xx answers in the request lines (config/request_log.py), and tracebacks of
        the web process."""
        text = self.log("web")
        return [
            line
            for line in text.splitlines()
            if re.search(r'"status": 5\d\d\b|Traceback|Internal Server Error', line)
        ]

    def stop(self) -> None:
        for process in self.started:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        for process in self.started:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)


@pytest.fixture
def processes(transactional_db, tmp_path: Path) -> Iterator[Callable[[str], Processes]]:
    """Start the app's processes on the test database and the given Redis URL."""
    made: list[Processes] = []

    def start(redis_url: str) -> Processes:
        redis.Redis.from_url(redis_url).delete("celery")  # no message of an earlier test
        stack = Processes(home=tmp_path, redis_url=redis_url)
        made.append(stack)
        return stack

    yield start
    for stack in made:
        stack.stop()


class Person:
    """A person at the browser: logs in, reads and submits forms, and remembers every
    answer, so a test can say that none was a server error."""

    def __init__(self, url: str, username: str) -> None:
        self.url = url
        self.session = requests.Session()
        self.answers: list[tuple[str, str, int, float]] = []
        self.get("/login/")
        self.post("/login/", {"username": username, "password": PASSWORD})

    def _record(self, method: str, path: str, send: Callable[[], requests.Response]):
        began = time.monotonic()
        response = send()
        self.answers.append((method, path, response.status_code, time.monotonic() - began))
        return response

    def get(self, path: str) -> requests.Response:
        return self._record("GET", path, lambda: self.session.get(self.url + path, timeout=60))

    def post(self, path: str, data: dict[str, str]) -> requests.Response:
        token = self.session.cookies.get("csrftoken", "")
        return self._record(
            "POST",
            path,
            lambda: self.session.post(
                self.url + path,
                data={"csrfmiddlewaretoken": token, **data},
                headers={"Referer": self.url + path},
                timeout=60,
            ),
        )

    def server_errors(self) -> list[tuple[str, str, int, float]]:
        return [answer for answer in self.answers if answer[2] >= 500]


def text_of(response: requests.Response) -> str:
    """The page's words, tags dropped and spaces collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.text)).replace("&#x27;", "'")


@pytest.fixture(autouse=True)
def _fresh_pool(request):
    """A fault test kills connections; this process's own pool, shared by every test of
    the session, starts each fault test fresh (its connections closed, a new pool)."""
    if "transactional_db" in request.fixturenames or request.node.get_closest_marker("django_db"):
        request.getfixturevalue("transactional_db")
        connection.close()
        connection.close_pool()  # type: ignore[attr-defined]  # PostgreSQL backend only
    yield

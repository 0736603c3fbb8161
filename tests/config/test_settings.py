import io
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import override_settings
from django.urls import reverse

from accounts import roles
from config import stack
from tests.base import BaseTestCase, make_user, manage

ROOT = Path(__file__).resolve().parents[2]


def test_deploy_checks_pass_with_debug_off_and_a_secret_set():
    env = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": "x7#Vq2!pL9zR4mK8sT1wY6uB3nE5cH0jD2fG7aQ9-w3Lr8Nz5Pk1Xs6Tb4Hy0Jm",
        "ALLOWED_HOSTS": "limitdesk.example.com",
    }
    env.pop("HTTPS", None)  # production default: HTTPS on
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # set by the browser tests' fixture
    result = manage(env, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_it_refuses_to_start_without_a_secret_when_debug_is_off():
    env = {**os.environ, "DEBUG": "0", "SECRET_KEY": ""}
    result = manage(env, "check")
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off." in result.stderr


def test_it_refuses_a_database_other_than_postgresql():
    env = {**os.environ, "DATABASE_URL": "sqlite:///db.sqlite3"}
    result = manage(env, "check")
    assert result.returncode != 0
    assert "PostgreSQL only" in result.stderr


def test_configured_servers_are_used_and_nothing_is_started(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@db.example:5432/limitdesk")
    monkeypatch.setenv("REDIS_URL", "redis://cache.example:6379/0")
    monkeypatch.setenv("NOTICE_WEBHOOK_URL", "https://messages.example/notices")
    monkeypatch.setenv("NOTICE_WEBHOOK_SECRET", "s" * 40)
    monkeypatch.delenv("DEBUG", raising=False)
    monkeypatch.setattr(stack.EmbeddedPostgres, "start", lambda self: pytest_fail("postgres"))
    monkeypatch.setattr(stack.EmbeddedRedis, "start", lambda self: pytest_fail("redis"))
    monkeypatch.setattr(stack.NoticeReceiver, "start", lambda self: pytest_fail("receiver"))
    with stack.services("dev") as env:
        assert env["DATABASE_URL"] == "postgres://u:p@db.example:5432/limitdesk"
        assert env["REDIS_URL"] == "redis://cache.example:6379/0"
        assert env["NOTICE_WEBHOOK_URL"] == "https://messages.example/notices"
        assert env["DEBUG"] == "1"


def pytest_fail(what: str) -> str:
    raise AssertionError(f"{what} was started although its URL was set")


class SecurityHeaderTests(BaseTestCase):
    def test_pages_carry_a_csp_with_a_nonce_that_the_scripts_use(self):
        self.client.force_login(self.alice)
        response = self.client.get(reverse("overview"))
        policy = response.headers["Content-Security-Policy"]
        match = re.search(r"'nonce-([^']+)'", policy)
        assert match, policy
        nonce = match.group(1)
        assert "default-src 'self'" in policy
        assert "frame-ancestors 'none'" in policy
        tags = re.findall(r"<script[^>]*>", response.content.decode())
        # Data blocks (json_script, chart figures) are never executed; every other script is.
        scripts = [tag for tag in tags if 'type="application/json"' not in tag]
        assert len(scripts) == 4, "htmx, the scroll regions, Chart.js and the chart script"
        assert all(f'nonce="{nonce}"' in tag for tag in scripts)

    def test_each_response_gets_a_fresh_nonce(self):
        first = self.client.get(reverse("login")).headers["Content-Security-Policy"]
        second = self.client.get(reverse("login")).headers["Content-Security-Policy"]
        assert first != second

    def test_the_language_switcher_turns_the_pages_chinese(self):
        self.client.force_login(self.alice)
        response = self.client.post(
            reverse("set_language"),
            {"language": "zh-hans", "next": reverse("overview")},
            follow=True,
        )
        body = response.content.decode()
        assert '<html lang="zh-hans">' in body
        assert "组合概览" in body
        assert "退出登录" in body

    @override_settings(HTTPS=True, SESSION_COOKIE_SECURE=True, CSRF_COOKIE_SECURE=True)
    def test_production_cookies_are_secure_and_http_only(self):
        from django.conf import settings

        assert settings.SESSION_COOKIE_HTTPONLY and settings.CSRF_COOKIE_HTTPONLY
        response = self.client.post(
            reverse("login"),
            {"username": "alice", "password": "correct horse battery staple"},
            secure=True,
        )
        cookie = response.cookies["sessionid"]
        assert cookie["secure"] and cookie["httponly"]
        assert cookie["samesite"] == "Lax"


class LogTests(BaseTestCase):
    def output_of(self, path: str) -> str:
        """What the console handlers a django.request record reaches write for `path`
        (not the test runner's own capture handlers)."""
        handlers, logger = [], logging.getLogger("django.request")
        while logger is not None:
            handlers += [h for h in logger.handlers if type(h) is logging.StreamHandler]
            logger = logger.parent if logger.propagate else None  # type: ignore[assignment]
        stream = io.StringIO()
        previous = [handler.setStream(stream) for handler in handlers]
        try:
            self.client.get(path)
        finally:
            for handler, old in zip(handlers, previous, strict=True):
                handler.setStream(old)
        return stream.getvalue()

    def test_a_refused_page_is_one_warning_line_not_a_traceback(self):
        self.client.force_login(make_user("newcomer", roles.ADMINISTRATOR))
        for debug in (False, True):  # `make run` serves with DEBUG on
            with self.subTest(debug=debug), override_settings(DEBUG=debug):
                output = self.output_of(reverse("accounts:list"))
                assert output.count("Forbidden (Permission denied): /accounts/") == 1, output
                assert "Traceback" not in output and "PermissionDenied" not in output


@pytest.mark.django_db
def test_every_model_change_has_its_migration():
    """A model changed without a migration (a validator's message, a constraint) would
    leave a database that differs from what the code says it enforces."""
    from django.core.management import call_command

    out = io.StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()


def test_the_web_process_waits_for_locks_a_few_seconds_and_workers_wait_as_needed():
    env = {**os.environ, "DB_LOCK_TIMEOUT_SECONDS": "", "DB_STATEMENT_TIMEOUT_SECONDS": ""}
    env.pop("DB_LOCK_TIMEOUT_SECONDS")
    env.pop("DB_STATEMENT_TIMEOUT_SECONDS")
    show = (
        "from django.conf import settings; "
        "print(settings.DATABASES['default']['OPTIONS']['options'])"
    )
    web = subprocess.run(
        [sys.executable, "-c", f"import config.wsgi; {show}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert web.stdout.strip() == "-c lock_timeout=5000 -c statement_timeout=20000"
    other = manage(env, "shell", "--no-imports", "-c", show)
    assert other.stdout.strip() == "-c lock_timeout=0 -c statement_timeout=0"

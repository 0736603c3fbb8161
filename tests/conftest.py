import os
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


# DEBUG off, as production and the benchmarks run, and on, as `make run` serves.
# A test parametrised with `@pytest.mark.parametrize("profile", PROFILES)` runs in
# both, in its own process and in the workers it starts (docs/architecture.md,
# "One code path with DEBUG on and off").
PROFILES = ("debug-off", "debug-on")


@pytest.fixture
def profile() -> str:
    return "debug-off"


@pytest.fixture(autouse=True)
def _profile_settings(profile, settings):
    settings.DEBUG = profile == "debug-on"


@pytest.fixture(autouse=True)
def _english_by_default(settings):
    settings.LANGUAGE_CODE = "en"


@pytest.fixture(autouse=True)
def _reads_on_the_primary(settings):
    """A test's data is written in its own transaction, which the streaming replica
    never sees: pages read the primary, except in the replica's own tests
    (tests/config/test_replica.py)."""
    settings.DATABASE_REPLICA_READS = False


@pytest.fixture(autouse=True)
def _fresh_portfolio_figures():
    """The overview caches its figures in Redis; each test computes its own."""
    from django.core.cache import cache

    from accounts.selectors import BAND_SCORES_CACHE_KEY, PORTFOLIO_CACHE_KEY

    cache.delete(PORTFOLIO_CACHE_KEY)
    cache.delete(BAND_SCORES_CACHE_KEY)  # the account page's rank within a band


@pytest.fixture(autouse=True)
def _kill_switch_off_in_cache():
    """The banner reads the kill switch from Redis, which outlives a test's database."""
    from django.core.cache import cache

    from policies.selectors import KILL_SWITCH_CACHE_KEY

    cache.set(KILL_SWITCH_CACHE_KEY, {"paused": False}, None)


@pytest.fixture(autouse=True)
def _no_drift_alerts_in_cache():
    """The drift banner counts open alerts through Redis, which outlives a test's
    database: none, as in a fresh database (raising or acknowledging one clears it)."""
    from django.core.cache import cache

    from history.selectors import DRIFT_BANNER_CACHE_KEY

    cache.set(DRIFT_BANNER_CACHE_KEY, 0, None)


@pytest.fixture(autouse=True)
def _no_rescore_task_marked_queued():
    """A signal change queues the re-score task unless Redis says one is queued: a mark
    left by an earlier test (whose task never ran) would hold it back."""
    from django.core.cache import cache

    from decisions.rescore_requests import RESCORE_SCHEDULED_KEY

    cache.delete(RESCORE_SCHEDULED_KEY)


@pytest.fixture(autouse=True)
def _no_audit_checkpoint_yet(settings, tmp_path):
    """verify_audit_chain compares with the latest checkpoint in AUDIT_CHECKPOINT_DIR,
    which outlives a test's database: each test starts with a directory of its own."""
    settings.AUDIT_CHECKPOINT_DIR = tmp_path / "audit-checkpoints"


@pytest.fixture(autouse=True)
def _reference_data(request):
    """Transactional tests start after another one's flush: put back what the
    data migrations created (roles, policy v1, reason codes)."""
    marker = request.node.get_closest_marker("django_db")
    transactional = (marker is not None and marker.kwargs.get("transaction")) or any(
        name in request.fixturenames for name in ("transactional_db", "live_server")
    )
    if transactional:
        request.getfixturevalue("transactional_db")
        from tests.base import ensure_reference_data

        ensure_reference_data()


@pytest.fixture
def worker_factory(transactional_db, profile):
    """Start real Celery worker processes on the test database; all stopped after the test.

    The data must be committed for a worker to see it, hence a transactional test.
    A worker is the running app: it logs in as the app's role (DATABASE_APP_URL, set
    by config.stack), which owns nothing, while this process is the owner.
    """
    url = urlsplit(os.environ.get("DATABASE_APP_URL") or os.environ["DATABASE_URL"])
    test_database = connection.settings_dict["NAME"]
    env = {
        **os.environ,
        "DATABASE_URL": urlunsplit(url._replace(path=f"/{test_database}")),
        "DEBUG": "1" if profile == "debug-on" else "0",
    }
    started: list[subprocess.Popen] = []

    def start(
        name: str = "test-worker", concurrency: int = 1, extra_env: dict[str, str] | None = None
    ) -> subprocess.Popen:
        pool = ["--pool", "solo"] if concurrency == 1 else ["--concurrency", str(concurrency)]
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                *pool,
                "--loglevel",
                "WARNING",
                "--hostname",
                f"{name}@%h",
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=ROOT,
            env={**env, **(extra_env or {})},
            start_new_session=True,  # a group of its own, to kill whole
        )
        started.append(worker)
        return worker

    # Messages left by earlier tests (their runs are gone) are not for these workers.
    from config.celery import app

    app.control.purge()
    yield start
    for worker in started:
        if worker.poll() is None:
            worker.terminate()  # warm shutdown: lets a running task finish
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait(10)


@pytest.fixture
def celery_worker(worker_factory):
    return worker_factory()


@pytest.fixture(scope="session")
def browser():
    """One chromium for the session: Playwright's sync API allows one at a time."""
    from tests.browser.conftest import launched_chromium

    yield from launched_chromium()

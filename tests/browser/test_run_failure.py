"""A run that stopped half-way, as the analyst finds it: what went wrong in plain
words, what it wrote, and Retry, done by a real worker."""

import re
from unittest import mock

import pytest
from django.core.management import call_command
from django.db import OperationalError
from playwright.sync_api import expect

from decisions import runs, services, tasks
from decisions.models import LimitDecision, RescoreRun
from demo.services import DEMO_PASSWORD
from demo.stories import STORY_ACCOUNTS
from tests.base import open_the_breaker
from tests.browser.conftest import new_page, screenshot, serious_violations
from tests.browser.test_golden_paths import log_in

# serialized_rollback, as every browser test: a flush without it creates the content
# types again under new ids, which the next serialized test clashes with.
pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_a_run_that_stopped_mid_apply_is_explained_and_retried(
    live_server, browser, worker_factory, settings
):
    settings.RESCORE_CHUNK_SIZE = 100
    call_command("seed_demo", "--accounts", str(400 - len(STORY_ACCOUNTS)), verbosity=0)
    open_the_breaker()
    run = runs.run_start(trigger="button")
    for index in range(run.chunks_total):
        tasks.compute_chunk(run.pk, index)
    # The database drops the connection while the third chunk is written.
    original, calls = services.decisions_write, []

    def dropped_on_the_third(changes, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise OperationalError("server closed the connection unexpectedly")
        return original(changes, **kwargs)

    with mock.patch("decisions.chunks.decisions_write", dropped_on_the_third):
        for index in range(run.chunks_total):
            try:
                tasks.apply_chunk(run.pk, index)
            except OperationalError:
                break
    run.refresh_from_db()
    assert run.state == "failed"
    written = LimitDecision.objects.filter(run=run).count()

    page = new_page(browser)
    log_in(page, live_server.url, "alice", DEMO_PASSWORD)
    page.goto(f"{live_server.url}/runs/{run.pk}/")
    progress = page.get_by_role("region", name="Progress")
    stopped = progress.get_by_role("alert")
    expect(stopped).to_contain_text("The run stopped")
    expect(stopped).to_contain_text("The database could not be reached or closed the connection.")
    expect(stopped).to_contain_text(
        f"2 of {run.chunks_total} chunks were applied ({written} decisions written)"
    )
    expect(progress).to_contain_text("(applied before it stopped)")
    # The technical error is there for those who want it, folded away.
    technical = progress.get_by_text("server closed the connection unexpectedly")
    expect(technical).to_be_hidden()
    progress.get_by_text("Technical details").click()
    expect(technical).to_be_visible()
    assert serious_violations(page) == []
    screenshot(page, "run-failed")

    worker_factory()
    page.get_by_role("button", name=re.compile(r"Retry the \d+ chunks left")).click()
    expect(page.get_by_text("Retrying: the run goes on from where it stopped.")).to_be_visible()
    expect(progress.locator(".state")).to_have_text("done", timeout=60_000)
    expect(progress).to_contain_text("Retried after 1 earlier stop")
    assert serious_violations(page) == []
    screenshot(page, "run-retried")
    assert page.console_errors == []  # type: ignore[attr-defined]
    page.context.close()
    run.refresh_from_db()
    assert LimitDecision.objects.filter(run=run).count() == run.decisions_written > written
    assert RescoreRun.objects.get(pk=run.pk).state == "done"

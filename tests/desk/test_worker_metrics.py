"""A host that runs workers only answers Prometheus itself (WORKER_METRICS_PORT;
docs/architecture.md, "Metrics and logs"): the chunks its pool scored and wrote and
the decisions they wrote, read from a real worker with two pool processes."""

from __future__ import annotations

import time
import urllib.request

import pytest
from django.core.management import call_command
from prometheus_client.parser import text_string_to_metric_families

from config.stack import free_port
from decisions import runs
from decisions.models import RescoreRun
from tests.base import ensure_roles, open_the_breaker

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_a_worker_host_serves_its_own_chunk_and_decision_figures(
    worker_factory, settings, tmp_path
):
    ensure_roles()
    settings.RESCORE_CHUNK_SIZE = 100
    call_command("seed_demo", "--accounts", "600", "--seed", "3", verbosity=0)
    open_the_breaker()
    port = free_port()
    worker_factory(
        "metrics-host",
        concurrency=2,
        extra_env={"WORKER_METRICS_PORT": str(port), "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)},
    )
    deadline = time.monotonic() + 60
    while True:  # the endpoint answers once the worker has started
        try:
            scrape(port)
            break
        except OSError:
            assert time.monotonic() < deadline, "the worker's metrics endpoint never answered"
            time.sleep(0.2)

    run = runs.run_start(trigger="button")
    deadline = time.monotonic() + 120
    while RescoreRun.objects.get(pk=run.pk).state != "done":
        assert time.monotonic() < deadline, "the run did not finish"
        time.sleep(0.2)
    run.refresh_from_db()
    assert run.decisions_written > 0

    figures = scrape(port)
    chunks = run.chunks_total
    assert figures[("limitdesk_chunk_duration_seconds_count", (("phase", "compute"),))] == chunks
    assert figures[("limitdesk_chunk_duration_seconds_count", (("phase", "apply"),))] == chunks
    written = sum(
        count
        for (name, labels), count in figures.items()
        if name == "limitdesk_decisions_written_total" and ("source", "run") in labels
    )
    assert written == run.decisions_written
    ended = ("limitdesk_run_duration_seconds_count", (("state", "done"), ("trigger", "button")))
    assert figures[ended] == 1


def test_the_endpoint_refuses_to_start_without_a_directory_for_the_pool(monkeypatch):
    from django.core.exceptions import ImproperlyConfigured

    from config import metrics

    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    with pytest.raises(ImproperlyConfigured, match="PROMETHEUS_MULTIPROC_DIR"):
        metrics.worker_endpoint(port=free_port(), addr="127.0.0.1")

"""Web → Redis → a real Celery worker → PostgreSQL, and back on the overview."""

import time

import pytest
from django.urls import reverse

from decisions.models import WorkerHeartbeat
from tests.base import make_user


def wait_for(condition, seconds: float = 60.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"not true after {seconds} s")


@pytest.mark.worker
def test_the_check_button_reaches_the_worker_and_the_overview_shows_it(client, celery_worker):
    from accounts import roles

    client.force_login(make_user("alice", roles.RISK_ANALYST))
    page = client.get(reverse("overview"))
    assert "No heartbeat recorded yet" in page.content.decode()

    response = client.post(reverse("worker_check"), headers={"HX-Request": "true"})
    assert "Heartbeat requested" in response.content.decode()

    beat = wait_for(lambda: WorkerHeartbeat.objects.filter(source="button").first())
    assert beat.worker.startswith("test-worker@")
    assert beat.recorded_at >= beat.requested_at

    panel = client.get(reverse("worker_status"), headers={"HX-Request": "true"})
    body = panel.content.decode()
    assert "Running." in body
    assert "test-worker@" in body
    assert "<html" not in body, "the HTMX refresh returns only the panel"


@pytest.mark.worker
def test_a_redelivered_heartbeat_writes_one_row(celery_worker):
    from decisions.tasks import record_heartbeat

    # Tasks keep no result: what a task did is read from its row. The worker takes
    # one task at a time (a solo pool), so once "after" is written the redelivered
    # one before it has been handled too.
    def recorded(task_id: str) -> bool:
        return WorkerHeartbeat.objects.filter(request_id=task_id).exists()

    record_heartbeat.apply_async(kwargs={"source": "test"}, task_id="same-id")
    wait_for(lambda: recorded("same-id"))
    record_heartbeat.apply_async(kwargs={"source": "test"}, task_id="same-id")
    record_heartbeat.apply_async(kwargs={"source": "test"}, task_id="after")
    wait_for(lambda: recorded("after"))
    assert WorkerHeartbeat.objects.filter(request_id="same-id").count() == 1

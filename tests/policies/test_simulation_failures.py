"""A simulation that stops on an error says so in plain words on the draft's page and
is retried from where it stopped (chunks driven in the test process)."""

from __future__ import annotations

import re
from unittest import mock

import pytest
from django.core.management import call_command
from django.urls import reverse

from accounts import roles
from demo.stories import STORY_ACCOUNTS
from policies import selectors, services, simulations, tasks
from policies.models import Simulation
from tests.base import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def draft(settings):
    settings.RESCORE_CHUNK_SIZE = 400
    call_command(
        "seed_demo", "--accounts", str(1200 - len(STORY_ACCOUNTS)), "--seed", "2", verbosity=0
    )
    from django.contrib.auth.models import User

    return services.policy_draft_create(author=User.objects.get(username="dave"))


def test_a_failed_simulation_says_why_and_retry_scores_the_rest(draft, client):
    dave = draft.author
    simulation = simulations.simulation_start(version=draft.version, actor=dave)
    assert simulation.chunks_total == 3
    tasks.simulate_chunk(simulation.pk, 0)
    with (
        mock.patch("policies.simulations.load_chunk", side_effect=MemoryError()),
        pytest.raises(MemoryError),
    ):
        tasks.simulate_chunk(simulation.pk, 1)
    simulation.refresh_from_db()
    assert simulation.state == "failed" and simulation.chunks_done == 1

    client.force_login(dave)
    url = reverse("policies:version", args=[draft.version])
    body = re.sub(r"\s+", " ", client.get(url).content.decode())
    assert "The simulation stopped" in body
    assert "An error in the program stopped it." in body
    assert "1 of 3 chunks of accounts were scored." in body
    assert "no limit has changed" in body
    assert "Retry the 2 chunks left" in body

    # Only the policy admins retry, and only this version's simulation.
    client.force_login(make_user("frank-sim", roles.AUDITOR))
    retry = reverse("policies:simulation_retry", args=[draft.version, simulation.pk])
    assert client.post(retry).status_code == 403
    client.force_login(dave)
    wrong = reverse("policies:simulation_retry", args=[1, simulation.pk])
    assert client.post(wrong).status_code == 404

    with mock.patch("config.queue.send") as queued:
        response = client.post(retry, follow=True)
    assert "Retrying the simulation from where it stopped." in response.content.decode()
    assert sorted(call.args for call in queued.call_args_list) == [
        ("policies.tasks.simulate_chunk", simulation.pk, 1),
        ("policies.tasks.simulate_chunk", simulation.pk, 2),
    ]
    for index in (1, 2):
        tasks.simulate_chunk(simulation.pk, index)
    simulation.refresh_from_db()
    assert simulation.state == "done" and simulation.accounts_done == 1200
    assert simulation.results["draft"]["accounts"] == 1200

    body = re.sub(r"\s+", " ", client.get(url).content.decode())
    assert "The simulation stopped" not in body
    assert "Retried after 1 earlier stop" in body
    # Retried and done, on the thresholds the draft holds: it may go to its approver.
    assert selectors.simulation_current(draft, Simulation.objects.get(pk=simulation.pk))


def test_with_the_task_queue_down_a_simulation_is_not_left_looking_started(draft, client):
    from kombu.exceptions import OperationalError as QueueDown

    client.force_login(draft.author)
    url = reverse("policies:simulate", args=[draft.version])
    with mock.patch("config.queue.send", side_effect=QueueDown("refused")):
        response = client.post(url, follow=True)
    body = re.sub(r"\s+", " ", response.content.decode())
    assert response.status_code == 200
    assert "The task queue (Redis) is unavailable: nothing was started." in body
    assert not Simulation.objects.exists()

    simulation = simulations.simulation_start(version=draft.version, actor=draft.author)
    simulations.simulation_fail(simulation_id=simulation.pk, error=ValueError("x"), chunk=0)
    retry = reverse("policies:simulation_retry", args=[draft.version, simulation.pk])
    with mock.patch("config.queue.send", side_effect=QueueDown("refused")):
        body = re.sub(r"\s+", " ", client.post(retry, follow=True).content.decode())
    assert "The task queue (Redis) is unavailable: the retry was not started." in body
    simulation.refresh_from_db()
    assert simulation.state == "failed"
    assert "The task queue (Redis) could not be reached." in body

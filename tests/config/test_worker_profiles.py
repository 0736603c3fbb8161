"""A portfolio run and a policy simulation finish on a real Celery worker, with DEBUG
off and with DEBUG on as `make run` starts the worker (docs/architecture.md, "One
code path with DEBUG on and off")."""

from __future__ import annotations

import time

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.urls import reverse

from accounts import roles
from decisions.models import LimitDecision, RescoreRun
from policies import services as policy_services
from policies.models import Simulation
from tests.base import ensure_roles, make_user, open_the_breaker
from tests.conftest import PROFILES

pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.parametrize("profile", PROFILES),
]


def wait_for(read, done, seconds: float = 90.0):
    deadline = time.monotonic() + seconds
    while not done(value := read()):
        assert time.monotonic() < deadline, f"still {value!r} after {seconds} s"
        time.sleep(0.2)
    return value


@pytest.fixture
def book(settings):
    ensure_roles()
    settings.RESCORE_CHUNK_SIZE = 600
    call_command("seed_demo", "--accounts", "2000", "--seed", "7", verbosity=0)
    open_the_breaker()


def test_a_portfolio_run_started_on_the_page_is_done_by_the_worker(
    profile, book, client, worker_factory
):
    worker_factory()
    client.force_login(User.objects.get(username="alice"))
    response = client.post(reverse("decisions:run_start"), {"confirm": "1"}, follow=True)
    run = RescoreRun.objects.latest("pk")
    assert run.chunks_total == 4
    assert response.redirect_chain[-1][0] == reverse("decisions:run", args=[run.pk])

    state = wait_for(
        lambda: RescoreRun.objects.get(pk=run.pk).state, lambda s: s in {"done", "failed"}
    )
    run.refresh_from_db()
    assert (state, run.error) == ("done", "")
    assert run.accounts_done == run.accounts_total == 2007
    written = LimitDecision.objects.filter(run=run).count()
    assert written == run.raised + run.reduced + run.closed + run.reopened - run.skipped > 0


def test_a_draft_simulated_on_the_page_is_scored_by_the_worker(
    profile, book, client, worker_factory
):
    worker_factory()
    dave = User.objects.filter(username="dave").first() or make_user("dave", roles.POLICY_ADMIN)
    draft = policy_services.policy_draft_create(author=dave)
    client.force_login(dave)
    client.post(reverse("policies:simulate", args=[draft.version]))
    simulation = Simulation.objects.get(policy=draft)

    state = wait_for(
        lambda: Simulation.objects.get(pk=simulation.pk).state, lambda s: s in {"done", "failed"}
    )
    simulation.refresh_from_db()
    assert (state, simulation.error) == ("done", "")
    assert simulation.accounts_done == 2007
    # A draft just started is the active version's copy: both outcomes are the same.
    draft, active = simulation.results["draft"], simulation.results["active"]
    assert draft["accounts"] == active["accounts"] == 2007
    assert draft["exposure_after"] == active["exposure_after"] > 0
    assert not LimitDecision.objects.filter(run__isnull=False).exists()

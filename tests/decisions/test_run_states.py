"""Every state of a run that is not final has a way out, and it works: each state is
reached as a fault leaves it (messages lost, a worker dead, a person away) and moved
on by whoever docs/architecture.md ("Runs") says moves it."""

from __future__ import annotations

import importlib
from datetime import timedelta
from unittest import mock

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.utils import timezone

from decisions import runs, tasks
from decisions.models import RescoreRun, RunChunk
from demo.stories import STORY_ACCOUNTS
from tests.base import make_user, open_the_breaker

# Transactional: the next steps are sent once a transaction commits, as in the worker.
pytestmark = pytest.mark.django_db(transaction=True)

State = RescoreRun.State
LONG_AGO = timezone.now() - timedelta(hours=1)


@pytest.fixture
def book(settings):
    settings.RESCORE_CHUNK_SIZE = 300
    call_command(
        "seed_demo", "--accounts", str(900 - len(STORY_ACCOUNTS)), "--seed", "4", verbosity=0
    )
    open_the_breaker()


@pytest.fixture
def alice() -> User:
    return User.objects.get(username="alice")


def watchdog_queues() -> list[tuple]:
    """Run the watchdog; the tasks it sent."""
    with mock.patch("config.queue.send") as sent:
        tasks.resume_stalled_runs()
    return [c.args for c in sent.call_args_list]


def go_quiet(run: RescoreRun) -> None:
    """Nothing has moved for an hour: the messages were lost, the worker died."""
    RescoreRun.objects.filter(pk=run.pk).update(created_at=LONG_AGO, revert_requested_at=LONG_AGO)
    RunChunk.objects.filter(run=run).exclude(computed_at=None).update(computed_at=LONG_AGO)
    RunChunk.objects.filter(run=run).exclude(applied_at=None).update(applied_at=LONG_AGO)


def do(sends: list[tuple]) -> None:
    """What the worker does with the tasks, and with the tasks they send, until none
    is left."""
    while sends:
        with mock.patch("config.queue.send") as sent:
            for name, *args in sends:
                # By registered name: a run that completes a snapshot also sends
                # history.tasks.derive_outcomes.
                module, function = name.rsplit(".", 1)
                getattr(importlib.import_module(module), function)(*args)
        sends = [c.args for c in sent.call_args_list]


def started(alice: User) -> RescoreRun:
    with mock.patch("config.queue.send"):  # its messages are lost
        return runs.run_start(trigger="button", started_by=alice)


def queued(alice: User) -> RescoreRun:
    run = started(alice)
    go_quiet(run)
    sends = watchdog_queues()
    assert sends == [("decisions.tasks.compute_chunk", run.pk, i) for i in range(run.chunks_total)]
    do(sends)
    return run


def computing(alice: User) -> RescoreRun:
    run = started(alice)
    tasks.compute_chunk(run.pk, 0)  # then the worker died
    run.refresh_from_db()
    assert run.state == State.COMPUTING
    go_quiet(run)
    sends = watchdog_queues()
    assert sends == [
        ("decisions.tasks.compute_chunk", run.pk, i) for i in range(1, run.chunks_total)
    ]
    do(sends)
    return run


def applying(alice: User) -> RescoreRun:
    run = started(alice)
    with mock.patch("config.queue.send"):  # the apply messages are lost
        for index in range(run.chunks_total):
            tasks.compute_chunk(run.pk, index)
    run.refresh_from_db()
    assert run.state == State.APPLYING
    go_quiet(run)
    sends = watchdog_queues()
    assert sends == [("decisions.tasks.apply_chunk", run.pk, i) for i in range(run.chunks_total)]
    do(sends)
    return run


def waiting(alice: User) -> RescoreRun:
    run = started(alice)
    RescoreRun.objects.filter(pk=run.pk).update(state=State.COMPUTING)
    with mock.patch("decisions.chunks.breaker_verdict", return_value="it would cut too much"):
        for index in range(run.chunks_total):
            tasks.compute_chunk(run.pk, index)
    run.refresh_from_db()
    assert run.state == State.WAITING
    go_quiet(run)
    assert watchdog_queues() == [], "a person decides a held run, not the watchdog"
    carol = make_user("carol2", "Risk analyst")
    with mock.patch("config.queue.send") as sent:
        runs.run_approve(run_id=run.pk, actor=carol)
    do([c.args for c in sent.call_args_list])
    return run


def failed(alice: User) -> RescoreRun:
    run = started(alice)
    with (
        mock.patch("decisions.chunks.load_chunk", side_effect=ValueError("bad row")),
        pytest.raises(ValueError),
    ):
        tasks.compute_chunk(run.pk, 0)
    run.refresh_from_db()
    assert run.state == State.FAILED
    go_quiet(run)
    assert watchdog_queues() == [], "a person retries a failed run"
    with mock.patch("config.queue.send") as sent:
        runs.run_retry(run_id=run.pk, actor=alice)
    do([c.args for c in sent.call_args_list])
    return run


def reverting(alice: User) -> RescoreRun:
    run = started(alice)
    with mock.patch("config.queue.send") as sent:
        for index in range(run.chunks_total):
            tasks.compute_chunk(run.pk, index)
    do([c.args for c in sent.call_args_list])
    run.refresh_from_db()
    assert run.state == State.DONE and run.decisions_written
    reason = "Feed fault, undo the whole run."
    with mock.patch("config.queue.send"):  # the revert's message is lost
        runs.run_revert_request(run_id=run.pk, actor=alice, justification=reason)
    go_quiet(run)
    assert watchdog_queues() == []
    run.refresh_from_db()
    assert run.state == State.DONE
    assert run.error.startswith("revert stopped: no restoring decision written for 5 min")
    with mock.patch("config.queue.send") as sent:  # the person starts it again
        runs.run_revert_request(run_id=run.pk, actor=alice, justification=reason)
    do([c.args for c in sent.call_args_list])
    return run


SCENARIOS = {
    State.QUEUED: (queued, State.DONE),
    State.COMPUTING: (computing, State.DONE),
    State.WAITING: (waiting, State.DONE),
    State.APPLYING: (applying, State.DONE),
    State.FAILED: (failed, State.DONE),
    State.REVERTING: (reverting, State.REVERTED),
}


def test_every_state_that_is_not_final_has_a_way_out_declared_and_driven_here():
    not_final = set(State) - set(runs.FINAL)
    assert set(runs.WAYS_OUT) == not_final
    assert set(SCENARIOS) == not_final


@pytest.mark.parametrize("state", sorted(SCENARIOS))
def test_a_run_left_in_this_state_is_moved_on(state, book, alice):
    scenario, end = SCENARIOS[state]
    run = scenario(alice)
    run.refresh_from_db()
    assert run.state == end

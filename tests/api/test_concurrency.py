"""Concurrent batches on the same accounts wait for each other: no deadlock, and
every event is taken exactly once."""

import random
import threading
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.utils import timezone

from accounts.models import AccountSignals
from api import services
from api.models import SignalEvent
from tests.base import make_account, make_signals

THREADS = 4
BATCHES = 6


@pytest.mark.django_db(transaction=True)
def test_overlapping_batches_never_deadlock_and_keep_the_newest_values():
    for number in range(20):
        make_signals(make_account(reference=f"LD-CON-{number}"))
    AccountSignals.objects.update(observed_at=timezone.now() - timedelta(days=1))
    admin = User.objects.create_superuser("root", password="x")
    key = services.api_key_create(name="risk-engine", scopes=["signals:write"], actor=admin)[0]
    start = timezone.now() - timedelta(hours=1)
    rng = random.Random(7)
    batches = [
        [
            services.Event(
                f"t{thread}b{batch}e{n}",
                f"LD-CON-{rng.randrange(20)}",
                start + timedelta(seconds=thread * 1000 + batch * 100 + n),
                {"active_days_90d": thread * 10 + batch},
            )
            for n in range(50)
        ]
        for thread in range(THREADS)
        for batch in range(BATCHES)
    ]
    gate = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def send(mine: list[list[services.Event]]) -> None:
        try:
            gate.wait()
            for events in mine:
                services.signal_events_apply(key=key, events=events)
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=send, args=(batches[t * BATCHES : (t + 1) * BATCHES],))
        for t in range(THREADS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert SignalEvent.objects.count() == THREADS * BATCHES * 50
    # Each account holds the values of its newest event, whatever order they arrived in.
    newest: dict[str, tuple] = {}
    for events in batches:
        for event in events:
            if event.account not in newest or event.observed_at > newest[event.account][0]:
                newest[event.account] = (event.observed_at, event.signals["active_days_90d"])
    for reference, (observed_at, value) in newest.items():
        row = AccountSignals.objects.get(account__reference=reference)
        assert (row.observed_at, row.active_days_90d) == (observed_at, value)

"""Concurrent batches on the same accounts wait for each other: no deadlock, and
every event is taken exactly once; nor with the re-scorer writing decisions."""

import random
import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

import scoring
from accounts import roles
from accounts.models import Account, AccountSignals
from api import services
from api.models import ApiKey, SignalEvent
from decisions import rescore_requests
from decisions.audit_trail import audit_chain_report
from decisions.models import LimitDecision, RescoreRequest
from policies.models import Policy
from tests.base import make_account, make_signals, make_user

THREADS = 4
BATCHES = 6


def send(
    key: ApiKey,
    batches: list[list[services.Event]],
    errors: list[BaseException],
    gate: threading.Barrier | None = None,
) -> None:
    """One client's batches, in a thread of its own (and a connection of its own)."""
    try:
        if gate is not None:
            gate.wait()
        for events in batches:
            services.signal_events_apply(key=key, events=events)
    except BaseException as error:
        errors.append(error)
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
def test_overlapping_batches_never_deadlock_and_keep_the_newest_values():
    for number in range(20):
        make_signals(make_account(reference=f"LD-CON-{number}"))
    AccountSignals.objects.update(observed_at=timezone.now() - timedelta(days=1))
    admin = make_user("root", roles.ADMINISTRATOR)
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
    threads = [
        threading.Thread(
            target=send, args=(key, batches[t * BATCHES : (t + 1) * BATCHES], errors, gate)
        )
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


@pytest.mark.django_db(transaction=True)
def test_batches_and_the_re_scorer_writing_decisions_at_once_never_deadlock():
    """Two re-scorers lock accounts to write decisions and scores while batches commit
    events that point at the same accounts (a key-share lock each, at commit)."""
    references = [f"LD-RS-{number}" for number in range(12)]
    for reference in references:
        make_signals(
            make_account(reference=reference, current_limit=Decimal("8000.00"), score=640),
            credit_score=640,
        )
    AccountSignals.objects.update(observed_at=timezone.now() - timedelta(days=1))
    admin = make_user("root", roles.ADMINISTRATOR)
    key = services.api_key_create(name="risk-engine", scopes=["signals:write"], actor=admin)[0]
    start = timezone.now() - timedelta(hours=1)
    rng = random.Random(11)
    senders = 3
    batches = []
    for sender in range(senders):
        mine = []
        for batch in range(20):
            events = []
            for n in range(60):
                applications = rng.choice([0, 2, 12, 14])  # rate shopping comes and goes
                events.append(
                    services.Event(
                        f"r{sender}b{batch}e{n}",
                        rng.choice(references),
                        start + timedelta(seconds=sender * 1000 + batch * 100 + n),
                        {
                            "lender_applications_30d": applications,
                            "lender_applications_90d": applications + 1,
                        },
                    )
                )
            mine.append(events)
        batches.append(mine)
    errors: list[BaseException] = []
    sending = threading.Event()
    sending.set()

    def rescore() -> None:
        try:
            while sending.is_set():
                rescore_requests.rescore_requested(batch=4)
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    rescorers = [threading.Thread(target=rescore) for _ in range(2)]  # two worker processes
    for rescorer in rescorers:
        rescorer.start()
    threads = [threading.Thread(target=send, args=(key, mine, errors)) for mine in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sending.clear()
    for rescorer in rescorers:
        rescorer.join()
    assert errors == []
    rescore_requests.rescore_requested()  # what the beat would do for a last request
    assert not RescoreRequest.objects.exists()
    assert LimitDecision.objects.filter(source="run").exists()
    assert audit_chain_report().broken == []
    # No re-score was lost: every account's score is its newest signals' score.
    compiled = scoring.compile_rules(scoring.parse_policy(Policy.objects.get(state="active").rules))
    for account in Account.objects.filter(reference__in=references).select_related("signals"):
        outcome = scoring.evaluate(
            compiled,
            account.signals.as_dict(),
            limit=scoring.cents(account.current_limit),
            status=account.status,
            in_cooldown=account.in_cooldown(),
            good_cycles=account.good_cycles,
        )
        assert account.score == outcome.score, account.reference

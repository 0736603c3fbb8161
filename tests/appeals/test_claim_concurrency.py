"""Eight handlers claim at once from 1,000 open appeals: none is claimed twice."""

import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from appeals import services
from appeals.models import Appeal, AppealEvent
from tests.base import make_account, make_user

HANDLERS = 8
APPEALS = 1_000


@pytest.mark.django_db(transaction=True)
def test_eight_handlers_never_get_the_same_appeal():
    account = make_account()
    now = timezone.now()
    Appeal.objects.bulk_create(
        Appeal(
            account=account,
            channel="app",
            category="reason",
            statement="Why was I cut?",
            priority=1 + n % 4,
            sla_due=now + timedelta(minutes=n),
        )
        for n in range(APPEALS)
    )
    handlers = [make_user(f"handler{n}", "Appeal handler") for n in range(HANDLERS)]
    claimed: dict[str, list[int]] = {h.username: [] for h in handlers}
    start = threading.Barrier(HANDLERS)
    errors: list[BaseException] = []

    def work(handler) -> None:
        try:
            start.wait()
            while (appeal := services.appeal_claim_next(handler=handler)) is not None:
                claimed[handler.username].append(appeal.pk)
        except BaseException as error:  # reported below, not lost in the thread
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(h,)) for h in handlers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    every = [pk for pks in claimed.values() for pk in pks]
    counts = Counter(every)
    assert max(counts.values()) == 1, "an appeal was claimed twice"
    assert len(every) == APPEALS
    assert sum(1 for pks in claimed.values() if pks) > 1, "the handlers really competed"
    # The database agrees: each appeal has one claim event and its claimer as assignee.
    assert AppealEvent.objects.filter(move="claim").count() == APPEALS
    owner = {pk: name for name, pks in claimed.items() for pk in pks}
    for pk, assignee in Appeal.objects.values_list("pk", "assignee__username"):
        assert owner[pk] == assignee

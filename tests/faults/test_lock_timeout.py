"""A row lock held for long under the real web process: the person's override is
answered "busy, try again" within seconds, changes nothing, and works once the
lock is gone."""

from __future__ import annotations

import psycopg
import pytest
from django.core.management import call_command

from accounts.models import Account
from decisions.models import LimitDecision
from tests.base import make_user
from tests.faults import invariants
from tests.faults.conftest import Person, database_url_for_processes, text_of

pytestmark = [pytest.mark.fault, pytest.mark.django_db(transaction=True)]


def test_an_override_on_a_locked_account_says_busy_and_changes_nothing(own_redis, processes):
    call_command("seed_demo", "--accounts", "50", "--seed", "5", verbosity=0)
    make_user("lin", "Risk analyst")
    account = Account.objects.filter(status="active").order_by("pk").first()
    assert account is not None
    before = invariants.book()
    decided = LimitDecision.objects.filter(account=account).count()
    stack = processes(own_redis.url)
    lin = Person(stack.web(), "lin")
    path = f"/accounts/{account.reference}/override/"
    form = {
        "new_limit": "1234.00",
        "justification": "Customer called; income verified.",
        "version": str(account.version),
    }

    # Another writer (a stuck job, a console session) holds the account's row.
    with psycopg.connect(database_url_for_processes()) as holder:
        holder.execute("SELECT 1 FROM accounts_account WHERE id = %s FOR UPDATE", [account.pk])
        answer = lin.post(path, form)
        assert answer.status_code == 409
        assert (
            "This account is busy: another change to it is still being written. "
            "Nothing was changed; try again in a moment." in text_of(answer)
        )
        seconds = lin.answers[-1][3]
        assert seconds < 10, f"the person waited {seconds:.1f} s"
        holder.rollback()

    account.refresh_from_db()
    assert account.current_limit != 1234
    assert LimitDecision.objects.filter(account=account).count() == decided
    answer = lin.post(path, form)
    assert "The limit was changed; the decision is recorded." in text_of(answer)
    account.refresh_from_db()
    assert str(account.current_limit) == "1234.00"

    assert lin.server_errors() == [] and stack.server_errors() == []
    assert "busy: POST" in stack.log("web")  # one warning line, no traceback
    invariants.check(before)

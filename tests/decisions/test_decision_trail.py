from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from accounts import roles
from decisions import overrides
from decisions.models import LimitDecision
from tests.base import make_account, make_signals, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice():
    return make_user("alice", roles.RISK_ANALYST)


def override(account, limit, actor, text="Customer verified a new salary flow."):
    account.refresh_from_db()
    return overrides.account_override_limit(
        account_id=account.pk,
        expected_version=account.version,
        new_limit=limit,
        actor=actor,
        justification=text,
    ).decision


def test_the_database_refuses_to_update_a_decision(alice):
    decision = override(make_account(), "12000", alice)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        LimitDecision.objects.filter(pk=decision.pk).update(new_limit=Decimal("99999.00"))
    decision.refresh_from_db()
    assert decision.new_limit == Decimal("12000.00")


def test_the_database_refuses_to_delete_a_decision(alice):
    decision = override(make_account(), "12000", alice)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        LimitDecision.objects.filter(pk=decision.pk).delete()
    assert LimitDecision.objects.filter(pk=decision.pk).exists()


def test_saving_a_decision_again_is_refused_in_code_too(alice):
    decision = override(make_account(), "12000", alice)
    decision.justification = "rewritten"
    with pytest.raises(ValueError, match="never changed"):
        decision.save()


def test_decisions_chain_by_hash_and_the_account_points_at_the_head(alice):
    account = make_account(current_limit=Decimal("10000.00"))
    first = override(account, "12000", alice)
    second = override(account, "11000", alice)
    account.refresh_from_db()
    assert (first.sequence, second.sequence) == (1, 2)
    assert first.prev_hash == "" and second.prev_hash == first.hash
    assert account.chain_head == second.hash
    assert (second.old_limit, second.new_limit) == (Decimal("12000.00"), Decimal("11000.00"))


def test_the_chain_verifies_when_nothing_was_touched(alice):
    account = make_account()
    override(account, "12000", alice)
    override(account, "13000", alice)
    out = call_command_output("verify_audit_chain")
    assert "The audit chain is intact: 2 decisions across 1 accounts." in out


def tamper(sql: str, params: list) -> None:
    """Rewrite history behind the trigger's back, as the owner of the tables could
    (this test process migrates, so it is the owner; the running app is not)."""
    with connection.cursor() as cursor:
        # ALTER TABLE waits for no deferred foreign-key check of this transaction.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("ALTER TABLE decisions_limitdecision DISABLE TRIGGER USER")
        cursor.execute(sql, params)
        cursor.execute("ALTER TABLE decisions_limitdecision ENABLE TRIGGER USER")


def test_a_changed_decision_is_caught_and_named(alice):
    account = make_account(reference="LD-TAMPER")
    first = override(account, "12000", alice)
    override(account, "13000", alice)
    tamper("UPDATE decisions_limitdecision SET new_limit = 50000 WHERE id = %s", [first.pk])
    with pytest.raises(CommandError) as caught:
        call_command("verify_audit_chain")
    message = str(caught.value)
    assert "Account LD-TAMPER" in message
    assert f"decision #1 (id {first.pk})" in message
    assert "no longer matches its hash: the row was changed" in message


def test_a_deleted_decision_in_the_middle_is_caught(alice):
    account = make_account(reference="LD-GAP")
    override(account, "12000", alice)
    second = override(account, "13000", alice)
    override(account, "14000", alice)
    tamper("DELETE FROM decisions_limitdecision WHERE id = %s", [second.pk])
    with pytest.raises(CommandError, match=r"LD-GAP.*decision #3.*a decision is missing"):
        call_command("verify_audit_chain")


def test_a_deleted_latest_decision_is_caught(alice):
    account = make_account(reference="LD-TAIL")
    override(account, "12000", alice)
    last = override(account, "13000", alice)
    tamper("DELETE FROM decisions_limitdecision WHERE id = %s", [last.pk])
    with pytest.raises(CommandError, match=r"LD-TAIL.*latest decision is missing"):
        call_command("verify_audit_chain")


def call_command_output(*args: str) -> str:
    from io import StringIO

    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_every_decision_keeps_its_actor_justification_and_key(alice):
    account = make_account()
    make_signals(account)
    decision = override(account, "12000", alice, "Salary flow of 18,000 a month verified.")
    assert decision.actor == alice
    assert decision.source == "override" and decision.action == "set"
    assert decision.justification == "Salary flow of 18,000 a month verified."
    assert decision.reasons == ["MANUAL_OVERRIDE"]
    assert decision.idempotency_key.startswith(f"override:{account.pk}:")

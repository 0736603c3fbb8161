from decimal import Decimal

import pytest

from accounts import roles
from accounts.models import Account
from decisions import errors, overrides
from decisions.models import LimitDecision, OverrideRequest
from tests.base import make_account, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def people():
    return {
        "alice": make_user("alice", roles.RISK_ANALYST),
        "dan": make_user("dan", roles.RISK_ANALYST),
        "bob": make_user("bob", roles.APPEAL_HANDLER),
        "carol": make_user("carol", roles.APPEAL_LEAD),
    }


def propose(account, limit, actor, text="Verified provident fund contributions."):
    return overrides.account_override_limit(
        account_id=account.pk,
        expected_version=account.version,
        new_limit=limit,
        actor=actor,
        justification=text,
    )


def test_a_small_override_applies_at_once_with_its_audit_row(people):
    account = make_account(current_limit=Decimal("10000.00"))
    result = propose(account, "15000", people["alice"])
    assert not result.pending
    account.refresh_from_db()
    assert account.current_limit == Decimal("15000.00")
    assert account.version == 2
    assert account.chain_head == result.decision.hash
    assert LimitDecision.objects.filter(account=account).count() == 1


@pytest.mark.parametrize(
    ("limit", "text", "message"),
    [
        ("15000", "", "Write a justification of at least 10 characters"),
        ("15000", "ok", "Write a justification of at least 10 characters"),
        ("-5", "A long enough reason.", "A limit cannot be negative."),
        ("lots", "A long enough reason.", "Enter the limit as an amount"),
        ("100.005", "A long enough reason.", "at most two decimal places"),
        ("10000", "A long enough reason.", "already has this limit"),
    ],
)
def test_bad_input_gets_a_clear_message_and_changes_nothing(people, limit, text, message):
    account = make_account(current_limit=Decimal("10000.00"))
    with pytest.raises(errors.DecisionError, match=message):
        propose(account, limit, people["alice"], text)
    account.refresh_from_db()
    assert account.current_limit == Decimal("10000.00") and account.version == 1
    assert not LimitDecision.objects.exists()


def test_the_second_of_two_people_editing_one_account_gets_a_conflict(people):
    account = make_account(current_limit=Decimal("10000.00"))
    seen_by_both = Account.objects.get(pk=account.pk)
    propose(seen_by_both, "12000", people["alice"])
    with pytest.raises(errors.StaleAccount, match="Someone else changed this account"):
        propose(seen_by_both, "9000", people["dan"])
    account.refresh_from_db()
    assert account.current_limit == Decimal("12000.00")
    assert LimitDecision.objects.count() == 1


def test_an_override_above_the_amount_waits_for_a_second_person(people, settings):
    settings.OVERRIDE_APPROVAL_ABOVE = Decimal("50000")
    account = make_account(current_limit=Decimal("10000.00"))
    result = propose(account, "80000", people["alice"])
    assert result.pending and result.request.state == OverrideRequest.State.PENDING
    account.refresh_from_db()
    assert account.current_limit == Decimal("10000.00")
    assert not LimitDecision.objects.exists()

    with pytest.raises(errors.DecisionError, match="Your role cannot approve"):
        overrides.override_approve(request_id=result.request.pk, approver=people["bob"])
    decision = overrides.override_approve(request_id=result.request.pk, approver=people["carol"])
    account.refresh_from_db()
    assert account.current_limit == Decimal("80000.00")
    assert decision.actor == people["alice"] and decision.approver == people["carol"]
    with pytest.raises(errors.DecisionError, match="no longer waiting"):
        overrides.override_approve(request_id=result.request.pk, approver=people["carol"])


def test_nobody_approves_their_own_override(people):
    lead = people["carol"]
    lead.groups.add(*people["alice"].groups.all())  # a lead who may also propose
    account = make_account()
    request = propose(account, "90000", lead).request
    with pytest.raises(errors.DecisionError, match="cannot approve your own override"):
        overrides.override_approve(request_id=request.pk, approver=lead)


def test_an_approval_after_the_account_changed_is_refused(people):
    account = make_account(current_limit=Decimal("10000.00"))
    request = propose(account, "90000", people["alice"]).request
    account.refresh_from_db()
    propose(account, "11000", people["dan"])
    with pytest.raises(errors.StaleAccount, match="changed after this override was proposed"):
        overrides.override_approve(request_id=request.pk, approver=people["carol"])


def test_a_handler_cannot_override(people):
    with pytest.raises(errors.DecisionError, match="Your role cannot override"):
        propose(make_account(), "12000", people["bob"])


def test_freeze_and_unfreeze_are_decisions(people):
    account = make_account(current_limit=Decimal("10000.00"))
    frozen = overrides.account_set_frozen(
        account_id=account.pk,
        expected_version=1,
        frozen=True,
        actor=people["alice"],
        justification="Suspected account takeover reported by the customer.",
    )
    account.refresh_from_db()
    assert account.status == "frozen" and frozen.action == "freeze"
    assert frozen.reasons == ["FROZEN"]
    with pytest.raises(errors.DecisionError, match="Only an active account can be frozen"):
        overrides.account_set_frozen(
            account_id=account.pk,
            expected_version=account.version,
            frozen=True,
            actor=people["alice"],
            justification="Second freeze attempt here.",
        )
    overrides.account_set_frozen(
        account_id=account.pk,
        expected_version=account.version,
        frozen=False,
        actor=people["alice"],
        justification="Customer identity confirmed by video call.",
    )
    account.refresh_from_db()
    assert account.status == "active" and account.current_limit == Decimal("10000.00")
    assert list(account.decisions.values_list("action", flat=True)) == ["freeze", "unfreeze"]

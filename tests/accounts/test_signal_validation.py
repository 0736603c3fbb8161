from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.models import Account, AccountSignals
from tests.base import make_account, make_signals

pytestmark = pytest.mark.django_db


def errors_of(signals: AccountSignals) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        signals.full_clean()
    return caught.value.message_dict


def test_a_score_outside_350_to_950_is_refused_with_its_range():
    signals = make_signals(make_account())
    signals.credit_score = 1000
    assert errors_of(signals) == {"credit_score": ["Credit bureau score must be at most 950."]}
    signals.credit_score = 200
    assert errors_of(signals) == {"credit_score": ["Credit bureau score must be at least 350."]}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("days_past_due", -1, "Days past due now must be at least 0."),
        ("on_time_ratio", Decimal("1.5"), "On-time repayment ratio must be at most 1."),
        ("utilization", Decimal("-0.1"), "Utilization (balance / limit) must be at least 0."),
        ("active_days_90d", 91, "Active days in 90 days must be at most 90."),
        (
            "linked_bad_share",
            Decimal("2"),
            "Share of linked accounts in bad standing must be at most 1.",
        ),
        ("verified_monthly_income", Decimal("-5"), "Verified monthly income must be at least 0."),
        ("age", 121, "Age in years must be at most 120."),
    ],
)
def test_each_out_of_range_signal_names_the_signal_and_the_limit(field, value, message):
    signals = make_signals(make_account())
    setattr(signals, field, value)
    assert errors_of(signals)[field] == [message]


def test_worst_dpd_cannot_be_below_todays_dpd():
    signals = make_signals(make_account())
    signals.days_past_due, signals.max_dpd_12m = 40, 10
    assert errors_of(signals) == {
        "max_dpd_12m": [
            "The worst days past due in 12 months (10) cannot be lower "
            "than the days past due now (40)."
        ]
    }


def test_applications_in_90_days_include_those_in_30_days():
    signals = make_signals(make_account())
    signals.lender_applications_30d, signals.lender_applications_90d = 12, 3
    assert "lender_applications_90d" in errors_of(signals)


def test_a_refused_value_changes_nothing_in_the_database():
    signals = make_signals(make_account(), credit_score=700)
    signals.credit_score = 9999
    with pytest.raises(ValidationError):
        signals.full_clean()
    signals.refresh_from_db()
    assert signals.credit_score == 700


def test_the_database_refuses_out_of_range_values_that_skip_validation():
    account = make_account()
    make_signals(account)
    with pytest.raises(IntegrityError, match="signal_utilization_in_range"), transaction.atomic():
        AccountSignals.objects.filter(account=account).update(utilization=Decimal("7"))
    with pytest.raises(IntegrityError, match="account_limit_not_negative"), transaction.atomic():
        Account.objects.filter(pk=account.pk).update(current_limit=Decimal("-1"))


def test_a_negative_limit_is_refused_by_validation():
    account = make_account()
    account.current_limit = Decimal("-100.00")
    with pytest.raises(ValidationError) as caught:
        account.full_clean()
    assert caught.value.message_dict["current_limit"] == ["A limit cannot be negative."]

import hashlib
from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db.models import Q
from django.test import RequestFactory
from django.utils import timezone

from accounts import roles
from accounts.models import Account, AccountSignals
from decisions.audit_trail import audit_chain_report
from demo.services import DEMO_PASSWORD

pytestmark = pytest.mark.django_db


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def story(reference: str) -> tuple[Account, AccountSignals]:
    account = Account.objects.select_related("signals").get(reference=reference)
    return account, account.signals


def book_fingerprint() -> str:
    rows = AccountSignals.objects.order_by("account__reference").values_list(
        "account__reference",
        "account__full_name",
        "account__current_limit",
        "credit_score",
        "days_past_due",
        "utilization",
        "lender_applications_30d",
    )
    return hashlib.sha256(repr(list(rows)).encode()).hexdigest()


def test_it_loads_the_book_and_says_how_long_it_took():
    output = seed("--accounts", "2000", "--seed", "7")
    assert "Loaded 2,007 accounts (seed 7) in" in output
    assert Account.objects.count() == 2007
    assert AccountSignals.objects.count() == 2007


def test_case_a_shows_many_lender_applications_in_30_days():
    seed("--accounts", "100")
    account, signals = story("LD-CASE-A")
    assert signals.lender_applications_30d >= 10
    assert signals.lender_applications_90d >= signals.lender_applications_30d
    assert signals.days_past_due == 0 and signals.on_time_ratio == 1
    assert account.status == Account.Status.ACTIVE
    assert account.band == "E"
    cut = account.decisions.get()
    # Band E's ceiling (3,000) set the limit, below the multi-lending cut's 5,600.
    assert cut.reasons[:2] == ["BAND_CEILING", "MULTI_LENDING"]


def test_case_b_repaid_yet_stays_closed_in_cool_down():
    seed("--accounts", "100")
    account, signals = story("LD-CASE-B")
    assert account.status == Account.Status.CLOSED
    assert account.current_limit == Decimal("0.00")
    assert account.in_cooldown()
    assert account.cooldown_until is not None
    assert account.cooldown_until > timezone.now() + timedelta(days=60)
    assert signals.days_past_due == 0, "the debt is repaid"
    assert signals.max_dpd_12m >= 60 and signals.overdue_count_12m >= 2
    assert signals.repayment_amount_90d > 0


def test_the_gradually_raised_account_reached_100000_over_years():
    seed("--accounts", "100")
    account, signals = story("LD-GRADUAL")
    assert account.current_limit == Decimal("100000.00")
    assert signals.tenure_months >= 96
    assert signals.on_time_ratio == 1 and signals.overdue_count_12m == 0
    assert signals.verified_monthly_income and signals.provident_fund_verified


def test_the_account_closed_after_full_repayment_shows_why():
    seed("--accounts", "100")
    account, signals = story("LD-REPAID-CLOSED")
    assert account.status == Account.Status.CLOSED
    assert signals.days_past_due == 0 and signals.utilization == 0
    assert signals.repayment_amount_90d > 0
    assert signals.bad_public_records >= 1
    assert signals.linked_bad_share >= Decimal("0.3")


def test_the_salaried_thin_file_was_cut_to_its_bands_ceiling_and_has_no_proof_on_file():
    seed("--accounts", "100")
    account, signals = story("LD-SALARY")
    assert (account.band, account.current_limit) == ("D", Decimal("9000.00"))
    cut = account.decisions.get()
    assert (cut.old_limit, cut.triggers) == (Decimal("15000.00"), ["BAND_CEILING"])
    assert signals.verified_monthly_income is None and not signals.provident_fund_verified


def test_the_same_seed_gives_the_same_book():
    seed("--accounts", "3000", "--seed", "11")
    first = book_fingerprint()
    seed("--accounts", "3000", "--seed", "11", "--replace")
    assert book_fingerprint() == first
    seed("--accounts", "3000", "--seed", "12", "--replace")
    assert book_fingerprint() != first


def test_the_book_looks_like_a_real_one():
    seed("--accounts", "20000")
    signals = AccountSignals.objects
    total = signals.count()
    current = signals.filter(days_past_due=0).count() / total
    assert 0.9 < current < 0.99, "most accounts pay on time, with a tail of overdue ones"
    assert signals.filter(days_past_due__gte=30).count() > 0.005 * total
    assert 0.03 < signals.filter(lender_applications_30d__gte=5).count() / total < 0.15
    assert 0.03 < signals.filter(months_high_utilization__gte=2).count() / total < 0.15
    closed = Account.objects.filter(status=Account.Status.CLOSED)
    assert 0.01 < closed.count() / total < 0.1
    assert not closed.exclude(current_limit=0).exists()
    # Every generated row is inside the ranges model validation enforces.
    for sample in signals.order_by("?")[:200]:
        sample.full_clean()
    assert not Account.objects.filter(Q(score__lt=350) | Q(score__gt=950)).exists()


def test_a_second_load_is_refused_and_changes_nothing():
    seed("--accounts", "500")
    before = book_fingerprint()
    # 500 generated and the seven story accounts.
    with pytest.raises(CommandError, match="already holds 507 accounts; pass --replace"):
        seed("--accounts", "900")
    assert Account.objects.count() == 507
    assert book_fingerprint() == before


def test_if_empty_leaves_a_loaded_book_alone():
    seed("--accounts", "300")
    before = book_fingerprint()
    assert "already loaded" in seed("--if-empty", "--accounts", "900")
    assert book_fingerprint() == before


def test_bad_arguments_get_clear_errors():
    with pytest.raises(CommandError, match="--accounts must be zero or more"):
        seed("--accounts", "-5")
    with pytest.raises(CommandError, match="contradict"):
        seed("--if-empty", "--replace")
    assert not Account.objects.exists()


def test_there_is_a_demo_user_for_every_role():
    seed("--accounts", "0")
    for role in roles.ROLE_LABELS:
        user = User.objects.filter(groups__name=role).first()
        assert user is not None, role
        request = RequestFactory().post("/login/")
        assert authenticate(request, username=user.username, password=DEMO_PASSWORD)


def test_the_story_accounts_come_with_the_decisions_that_explain_them():
    seed("--accounts", "0")
    case_b = list(story("LD-CASE-B")[0].decisions.order_by("sequence"))
    assert [d.action for d in case_b] == ["reduce", "close"]
    # 15 days overdue put it in band E: its ceiling (3,000) set the limit, not the 20 % cut.
    assert case_b[0].reasons[:2] == ["BAND_CEILING", "OVERDUE_NOW"]
    assert case_b[1].reasons[0] == "SERIOUS_OVERDUE"
    assert case_b[1].inputs["days_past_due"] == 95
    assert case_b[1].created_at < timezone.now() - timedelta(days=19)

    gradual = story("LD-GRADUAL")[0].decisions.order_by("sequence")
    limits = [d.new_limit for d in gradual]
    assert limits[0] == Decimal("500.00") and limits[-1] == Decimal("100000.00")
    assert limits == sorted(limits), "raised step by step, never cut"
    assert all(d.reasons == ["GOOD_HISTORY"] for d in gradual)

    repaid = story("LD-REPAID-CLOSED")[0].decisions.get()
    assert repaid.action == "close"
    assert repaid.reasons[:2] == ["PUBLIC_RECORD", "LINKED_RISK"]
    assert repaid.inputs["repayment_amount_90d"] == "23500.00"
    assert audit_chain_report().broken == []

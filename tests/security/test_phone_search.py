"""No sequence of searches tells a person more digits of a phone than the mask
shows, unless their role may reveal personal data; then the search is logged."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts import masking, roles
from accounts.models import PersonalDataSearch
from tests.base import make_account, make_user

pytestmark = pytest.mark.django_db
PHONE = "13812345678"  # shown as 138****5678


@pytest.fixture
def accounts():
    first = make_account(reference="LD-P-1", phone=PHONE)
    return first, make_account(reference="LD-P-2", phone="13899995678")


def found(client, query):
    response = client.get(reverse("accounts:list"), {"q": query})
    assert response.status_code == 200
    return [account.reference for account in response.context["page"].accounts], response


def test_what_the_mask_shows_finds_accounts_and_nothing_more(client, accounts, settings):
    client.force_login(make_user("alice", roles.RISK_ANALYST))
    assert found(client, "5678")[0] == ["LD-P-1", "LD-P-2"]
    assert found(client, "138****5678")[0] == ["LD-P-1", "LD-P-2"]
    # A caller's whole number finds the account.
    assert found(client, PHONE)[0] == ["LD-P-1"]
    # Guessing one more digit at a time tells nothing: every guess gets the same refusal.
    for guess in [f"{digit}5678" for digit in "0123456789"] + ["1381***5678", "13812"]:
        rows, response = found(client, guess)
        assert rows == [], guess
        assert "Search a phone by its last four digits" in response.content.decode()
    # Whole numbers are looked up, not matched by part: a wrong one finds nothing.
    assert found(client, "13812345670")[0] == []
    searches = PersonalDataSearch.objects.order_by("searched_at")
    assert [(s.query, s.whole_number) for s in searches] == [(PHONE, True), ("13812345670", True)]


def test_whole_number_lookups_are_limited_per_hour_without_the_reveal_permission(
    client, accounts, settings
):
    settings.PHONE_LOOKUPS_PER_HOUR = 3
    client.force_login(make_user("alice", roles.RISK_ANALYST))
    for number in range(3):
        assert found(client, f"1380000{number:04d}")[1].status_code == 200
    rows, response = found(client, PHONE)
    assert rows == []
    assert "You looked up 3 whole phone numbers in the last hour" in response.content.decode()
    assert PersonalDataSearch.objects.count() == 3
    # A handler may reveal: part of a number works, and every such search is logged.
    client.force_login(make_user("bob", roles.APPEAL_HANDLER))
    assert found(client, "45678")[0] == ["LD-P-1"]
    for _lookup in range(5):
        assert found(client, PHONE)[0] == ["LD-P-1"]
    logged = PersonalDataSearch.objects.filter(user__username="bob")
    assert logged.count() == 6 and logged.filter(whole_number=False).get().query == "45678"
    client.force_login(make_user("frank", roles.AUDITOR))
    page = client.get(reverse("decisions:audit")).content.decode()
    assert "Phone numbers searched" in page and "45678" in page


@pytest.mark.parametrize(
    ("query", "kind"),
    [
        ("5678", masking.PhoneQuery.WITHIN_MASK),
        ("138****5678", masking.PhoneQuery.WITHIN_MASK),
        ("****5678", masking.PhoneQuery.WITHIN_MASK),
        ("13812345678", masking.PhoneQuery.FULL),
        ("45678", masking.PhoneQuery.BEYOND_MASK),
        ("1381***5678", masking.PhoneQuery.BEYOND_MASK),
        ("138****678", masking.PhoneQuery.BEYOND_MASK),
        ("138", None),
        ("LD-CASE-A", None),
    ],
)
def test_how_a_search_asks_for_phones(query, kind):
    search = masking.phone_search(query)
    assert (search.kind if search else None) == kind

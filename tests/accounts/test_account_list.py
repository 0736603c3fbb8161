from datetime import timedelta
from decimal import Decimal
from unittest import mock

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts import selectors
from decisions import overrides
from tests.base import BaseTestCase, make_account, make_user

URL = reverse("accounts:list")


def references(response) -> list[str]:
    return [account.reference for account in response.context["page"].accounts]


class AccountListTests(BaseTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        now = timezone.now()
        make_account(
            reference="LD-BIG", phone="13812345678", current_limit=Decimal("90000"), band="A"
        )
        make_account(
            reference="LD-CUT",
            phone="13987654321",
            current_limit=Decimal("2000"),
            band="D",
            limit_changed_at=now - timedelta(days=2),
            last_reasons=["MULTI_LENDING", "HIGH_UTILIZATION"],
        )
        make_account(
            reference="LD-SHUT",
            phone="13700001111",
            status="closed",
            current_limit=Decimal("0"),
            band="E",
            cooldown_until=now + timedelta(days=60),
            limit_changed_at=now - timedelta(days=40),
            last_reasons=["SERIOUS_OVERDUE"],
        )

    def setUp(self) -> None:
        self.client.force_login(self.alice)

    def test_search_by_reference_prefix_in_any_case(self):
        response = self.client.get(URL, {"q": "ld-"})
        self.assertEqual(references(response), ["LD-BIG", "LD-CUT", "LD-SHUT"])
        self.assertEqual(references(self.client.get(URL, {"q": "LD-C"})), ["LD-CUT"])

    def test_search_by_the_last_digits_of_the_phone_or_the_masked_phone(self):
        self.assertEqual(references(self.client.get(URL, {"q": "5678"})), ["LD-BIG"])
        self.assertEqual(references(self.client.get(URL, {"q": "138****5678"})), ["LD-BIG"])
        # The masked form as shown on the page: prefix and suffix must both match.
        self.assertEqual(references(self.client.get(URL, {"q": "139****5678"})), [])
        response = self.client.get(URL, {"q": "5678"})
        self.assertContains(response, "138****5678")
        self.assertNotContains(response, "13812345678")

    def test_filters_narrow_the_list(self):
        self.assertEqual(references(self.client.get(URL, {"band": "D"})), ["LD-CUT"])
        self.assertEqual(references(self.client.get(URL, {"status": "closed"})), ["LD-SHUT"])
        self.assertEqual(references(self.client.get(URL, {"cooldown": "on"})), ["LD-SHUT"])
        self.assertEqual(references(self.client.get(URL, {"changed_days": "7"})), ["LD-CUT"])
        self.assertEqual(
            references(self.client.get(URL, {"changed_days": "60"})), ["LD-CUT", "LD-SHUT"]
        )
        self.assertEqual(
            references(self.client.get(URL, {"reason": "MULTI_LENDING", "q": "LD"})), ["LD-CUT"]
        )

    def test_sorting_by_limit(self):
        response = self.client.get(URL, {"q": "LD-", "sort": "-limit"})
        self.assertEqual(references(response), ["LD-BIG", "LD-CUT", "LD-SHUT"])
        response = self.client.get(URL, {"q": "LD-", "sort": "limit"})
        self.assertEqual(references(response), ["LD-SHUT", "LD-CUT", "LD-BIG"])

    def test_bad_parameters_get_a_clear_message_and_no_rows(self):
        response = self.client.get(URL, {"changed_days": "soon", "sort": "random"})
        self.assertEqual(response.status_code, 200)
        self.assertContains(response, "Enter a whole number.")
        self.assertContains(response, "Select a valid choice.")
        self.assertEqual(references(response), [])

    def test_pages_without_counting_the_table(self):
        for number in range(selectors.PAGE_SIZE + 5):
            make_account(reference=f"PG{number:04d}")
        # Session, user, one for the roles' permissions, reason codes, one page
        # of accounts, the user's roles for the header, the two counts of the
        # navigation's "My work"; for the result count (a next page exists) the
        # planner's estimate and a count of at most COUNT_EXACT_UP_TO + 1 rows, and
        # the person's saved filters. Never a COUNT of the table.
        with self.assertNumQueries(11), CaptureQueriesContext(connection) as queries:
            first = self.client.get(URL, {"q": "PG"})
        counts = [
            q["sql"] for q in queries if "COUNT(" in q["sql"] and "accounts_account" in q["sql"]
        ]
        assert len(counts) == 1
        assert f"LIMIT {selectors.COUNT_EXACT_UP_TO + 1}" in counts[0]
        assert first.context["count"] == selectors.AccountCount(number=55, estimated=False)
        self.assertEqual(len(references(first)), selectors.PAGE_SIZE)
        self.assertTrue(first.context["page"].has_next)
        self.assertContains(first, "page=2")
        with CaptureQueriesContext(connection) as queries:
            second = self.client.get(URL, {"q": "PG", "page": "2"})
        # The last page tells the count itself.
        assert not [q for q in queries if "accounts_account" in q["sql"] and "COUNT(" in q["sql"]]
        assert second.context["count"] == selectors.AccountCount(number=55, estimated=False)
        self.assertEqual(references(second), [f"PG{n:04d}" for n in range(50, 55)])
        self.assertFalse(second.context["page"].has_next)
        self.assertContains(second, "q=PG&amp;page=1")

    def test_live_search_returns_only_the_results(self):
        response = self.client.get(URL, {"q": "LD-CUT"}, headers={"HX-Request": "true"})
        body = response.content.decode()
        assert body.lstrip().startswith('<section id="results"')
        assert "LD-CUT" in body and "<html" not in body

    def test_a_decision_sets_the_fields_the_list_filters_on(self):
        account = make_account(reference="LD-OVR", current_limit=Decimal("5000"))
        overrides.account_override_limit(
            account_id=account.pk,
            expected_version=account.version,
            new_limit=Decimal("6000"),
            actor=self.alice,
            justification="Salary slip verified by phone.",
        )
        response = self.client.get(URL, {"changed_days": "1", "reason": "MANUAL_OVERRIDE"})
        self.assertEqual(references(response), ["LD-OVR"])

    def test_roles_without_account_access_are_refused(self):
        self.client.force_login(make_user("nobody"))
        self.assertEqual(self.client.get(URL).status_code, 403)

    def test_a_broad_filter_pages_the_same_as_a_narrow_one(self):
        """Few matches are read filter-first and sorted; many are read along the
        sort's index. Both give the same rows."""
        for number in range(7):
            make_account(reference=f"SAME{number}", band="C", current_limit=Decimal(1000 + number))
        params = {"band": "C", "sort": "-limit", "page": "2"}
        with mock.patch.object(selectors, "PAGE_SIZE", 3):
            narrow = references(self.client.get(URL, params))
            with mock.patch.object(selectors, "FILTER_FIRST_UP_TO", 0):  # now "many" match
                broad = references(self.client.get(URL, params))
        assert narrow == broad == ["SAME3", "SAME2", "SAME1"]

    def test_every_sort_gives_the_same_order_both_ways(self):
        for number in range(6):
            make_account(
                reference=f"ORD{number}",
                band="C",
                score=640 + number % 3,
                current_limit=Decimal(1000 * (number % 2)),
            )
        for sort in selectors.SORTS:
            params = {"band": "C", "sort": sort}
            narrow = references(self.client.get(URL, params))
            with mock.patch.object(selectors, "FILTER_FIRST_UP_TO", -1):
                broad = references(self.client.get(URL, params))
            assert narrow == broad and len(narrow) == 6, sort

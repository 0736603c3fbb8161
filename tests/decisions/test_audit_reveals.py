"""The audit page's reveals: the purpose asked on every reveal, filters, saved filters
and the CSV export (docs/architecture.md, "Lists")."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from django.urls import reverse

from accounts import services
from accounts.models import ListExport, PersonalDataReveal, SavedFilter
from tests.base import BaseTestCase, make_account

AUDIT = reverse("decisions:audit")
EXPORT = reverse("decisions:reveals_export")


def reveal(account, user, purpose, at):
    row = services.personal_data_reveal(account=account, user=user, purpose=purpose)
    PersonalDataReveal.objects.filter(pk=row.pk).update(revealed_at=at)


class RevealPurposeTests(BaseTestCase):
    def setUp(self) -> None:
        self.account = make_account(reference="LD-PII", full_name="王小明", phone="13812345678")
        self.client.force_login(self.bob)
        self.url = reverse("accounts:reveal", args=["LD-PII"])

    def test_the_reveal_asks_why(self):
        page = self.client.get(reverse("accounts:detail", args=["LD-PII"]))
        self.assertContains(page, "Why do you need the unmasked data?")
        self.assertContains(page, "Verify a caller&#x27;s identity")

    def test_a_common_purpose_is_stored_with_the_reveal(self):
        page = self.client.post(self.url, {"purpose": "caller", "detail": ""})
        self.assertContains(page, "13812345678")
        assert PersonalDataReveal.objects.get().purpose == "Verify a caller's identity"

    def test_details_are_kept_after_the_purpose(self):
        self.client.post(self.url, {"purpose": "appeal", "detail": "  appeal  42 "})
        assert PersonalDataReveal.objects.get().purpose == "Work an appeal: appeal 42"

    def test_other_needs_words_of_ones_own(self):
        page = self.client.post(self.url, {"purpose": "other", "detail": "why"})
        self.assertContains(page, "at least 5 characters")
        self.assertContains(page, "Nothing was revealed.")
        self.assertNotContains(page, "13812345678")
        assert not PersonalDataReveal.objects.exists()
        self.client.post(self.url, {"purpose": "other", "detail": "Court order 7/2026"})
        assert PersonalDataReveal.objects.get().purpose == "Court order 7/2026"

    def test_no_purpose_reveals_nothing(self):
        page = self.client.post(self.url, {})
        self.assertContains(page, "Choose why you need the unmasked data.")
        self.assertNotContains(page, "13812345678")
        self.assertNotContains(page, "王小明")
        assert not PersonalDataReveal.objects.exists()

    def test_the_service_refuses_a_short_purpose(self):
        with self.assertRaises(services.RevealRefused):
            services.personal_data_reveal(account=self.account, user=self.bob, purpose=" ab ")
        assert not PersonalDataReveal.objects.exists()


class RevealListTests(BaseTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        one = make_account(reference="LD-ONE")
        two = make_account(reference="LD-TWO")
        reveal(one, cls.bob, "Verify a caller's identity", datetime(2026, 3, 1, 9, tzinfo=UTC))
        reveal(two, cls.carol, "=cmd|' /C calc'!A0", datetime(2026, 3, 5, 9, tzinfo=UTC))
        reveal(two, cls.bob, "Work an appeal: 42", datetime(2026, 3, 9, 23, 30, tzinfo=UTC))

    def setUp(self) -> None:
        self.client.force_login(self.frank)

    def shown(self, **params) -> list[tuple[str, str, str]]:
        page = self.client.get(AUDIT, params)
        assert page.status_code == 200
        return [(r.user.username, r.account.reference, r.purpose) for r in page.context["reveals"]]

    def test_the_page_shows_each_reveals_purpose(self):
        page = self.client.get(AUDIT)
        self.assertContains(page, '<th scope="col">Purpose</th>', html=True)
        self.assertContains(page, "<td>Work an appeal: 42</td>", html=True)

    def test_filters_by_person_account_and_days(self):
        assert [r[1] for r in self.shown(person="bob")] == ["LD-TWO", "LD-ONE"]
        assert [r[0] for r in self.shown(account="ld-t")] == ["bob", "carol"]
        # Both days included, whole UTC days.
        assert [r[0] for r in self.shown(revealed_from="2026-03-05", revealed_to="2026-03-09")] == [
            "bob",
            "carol",
        ]
        assert self.shown(revealed_from="2026-03-10") == []
        page = self.client.get(AUDIT, {"revealed_from": "2026-03-10"})
        self.assertContains(page, "No reveal matches these filters.")

    def test_bad_dates_are_said_and_show_nothing(self):
        page = self.client.get(AUDIT, {"revealed_from": "2026-03-09", "revealed_to": "2026-03-01"})
        self.assertContains(page, "The end of the range is before its start.")
        assert page.context["reveals"] == []
        page = self.client.get(AUDIT, {"revealed_from": "09/03/2026"})
        self.assertContains(page, "Enter a valid date.")

    def test_the_export_holds_the_filtered_reveals_and_is_logged(self):
        response = self.client.get(EXPORT, {"person": "carol", "revealed_from": "2026-03-01"})
        assert response.status_code == 200
        assert response["Content-Disposition"].startswith('attachment; filename="reveals-')
        export = ListExport.objects.get()
        assert (export.user, export.page, export.query) == (
            self.frank,
            "reveals",
            "person=carol&revealed_from=2026-03-01",
        )
        body = b"".join(response.streaming_content).decode("utf-8").lstrip("\ufeff")  # type: ignore[attr-defined]
        rows = list(csv.reader(io.StringIO(body)))
        assert rows == [
            ["Revealed at (UTC)", "Who", "Account", "Purpose"],
            # The purpose a spreadsheet would run is written as text.
            ["2026-03-05 09:00:00", "carol", "LD-TWO", "'=cmd|' /C calc'!A0"],
        ]
        export.refresh_from_db()
        assert export.rows == 1

    def test_the_page_offers_the_export_of_its_filter(self):
        page = self.client.get(AUDIT, {"person": "bob"})
        self.assertContains(page, f'href="{EXPORT}?person=bob"')

    def test_only_the_auditors_export(self):
        for user in (self.alice, self.bob, self.carol):
            self.client.force_login(user)
            assert self.client.get(EXPORT).status_code == 403
        assert not ListExport.objects.exists()

    def test_a_saved_filter_of_the_reveals(self):
        response = self.client.post(
            reverse("saved_filter_save"),
            {"page": "reveals", "name": "Bob's", "query": "person=bob&account="},
        )
        assert response["Location"] == f"{AUDIT}?person=bob"
        assert SavedFilter.objects.get().page == "reveals"
        page = self.client.get(AUDIT)
        self.assertContains(page, f'href="{AUDIT}?person=bob"')

"""The account list's count, saved filters and CSV export (docs/architecture.md, "Lists")."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal
from unittest import mock

from django.urls import reverse
from django.utils import timezone

from accounts import selectors, services
from accounts.models import ListExport, PersonalDataSearch, SavedFilter
from config import csv_export
from tests.base import BaseTestCase, make_account, make_user

LIST = reverse("accounts:list")
EXPORT = reverse("accounts:export")
SAVE = reverse("saved_filter_save")


def read_csv(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    return list(csv.reader(io.StringIO(body[1:])))


class SavedFilterTests(BaseTestCase):
    def test_a_filter_is_saved_and_listed_as_a_link_on_the_page(self):
        self.client.force_login(self.alice)
        response = self.client.post(
            SAVE, {"page": "accounts", "name": "Band E cuts", "query": "band=E&page=3&sort=-limit"}
        )
        # Back to the list with the filter on (paging dropped).
        assert response.status_code == 302
        assert response["Location"] == f"{LIST}?band=E&sort=-limit"
        saved = SavedFilter.objects.get()
        assert (saved.user, saved.page, saved.name, saved.query) == (
            self.alice,
            "accounts",
            "Band E cuts",
            "band=E&sort=-limit",
        )
        page = self.client.get(response["Location"])
        self.assertContains(page, "Filter “Band E cuts” saved.")
        self.assertContains(page, f'href="{LIST}?band=E&amp;sort=-limit"')
        self.assertContains(page, "Band E cuts")

    def test_the_same_name_replaces_the_filter(self):
        services.saved_filter_save(user=self.alice, page="accounts", name="Mine", query="band=A")
        services.saved_filter_save(user=self.alice, page="accounts", name="Mine", query="band=B")
        assert list(SavedFilter.objects.values_list("name", "query")) == [("Mine", "band=B")]

    def test_filters_are_each_persons_own(self):
        services.saved_filter_save(user=self.alice, page="accounts", name="Alice's", query="band=A")
        self.client.force_login(self.bob)
        page = self.client.get(LIST)
        self.assertNotContains(page, "Alice&#x27;s")
        assert selectors.saved_filters(self.bob, "accounts") == []
        # Nor can Bob delete it: 404, and it stays.
        saved = SavedFilter.objects.get()
        response = self.client.post(reverse("saved_filter_delete", args=[saved.pk]))
        assert response.status_code == 404
        assert SavedFilter.objects.filter(pk=saved.pk).exists()
        # Alice can.
        self.client.force_login(self.alice)
        response = self.client.post(
            reverse("saved_filter_delete", args=[saved.pk]), {"query": "band=A"}
        )
        assert response["Location"] == f"{LIST}?band=A"
        assert not SavedFilter.objects.exists()

    def test_bad_input_is_refused_with_a_message_and_nothing_saved(self):
        self.client.force_login(self.alice)
        for name, message in [
            ("   ", "Give the filter a name."),
            ("x" * 61, "Keep the name to 60 characters or fewer (it has 61)."),
        ]:
            response = self.client.post(
                SAVE, {"page": "accounts", "name": name, "query": "band=A"}, follow=True
            )
            self.assertContains(response, message)
        assert not SavedFilter.objects.exists()

    def test_an_unknown_page_is_refused_and_redirects_nowhere(self):
        self.client.force_login(self.alice)
        response = self.client.post(
            SAVE, {"page": "https://evil.example", "name": "x", "query": "band=A"}
        )
        assert response.status_code == 400
        assert not SavedFilter.objects.exists()

    def test_the_query_cannot_lead_off_the_site(self):
        self.client.force_login(self.alice)
        response = self.client.post(
            SAVE, {"page": "accounts", "name": "odd", "query": "//evil.example/?band=A"}
        )
        assert response["Location"].startswith(f"{LIST}?")

    def test_a_page_the_role_cannot_open_is_refused(self):
        self.client.force_login(self.alice)  # an analyst: no audit page
        response = self.client.post(SAVE, {"page": "reveals", "name": "x", "query": ""})
        assert response.status_code == 403
        assert not SavedFilter.objects.exists()

    def test_at_most_twenty_per_person_and_page(self):
        for number in range(services.SAVED_FILTERS_PER_PAGE):
            services.saved_filter_save(
                user=self.alice, page="accounts", name=f"f{number}", query=f"changed_days={number}"
            )
        with self.assertRaisesMessage(services.SavedFilterError, "already keep 20 filters"):
            services.saved_filter_save(user=self.alice, page="accounts", name="one more", query="")
        # Replacing one by its name is still possible.
        services.saved_filter_save(user=self.alice, page="accounts", name="f0", query="band=C")
        assert SavedFilter.objects.filter(user=self.alice).count() == 20


class CountTests(BaseTestCase):
    def test_a_small_result_is_counted_exactly(self):
        for _ in range(3):
            make_account(band="C")
        make_account(band="A")
        self.client.force_login(self.alice)
        page = self.client.get(LIST, {"band": "C"})
        assert page.context["count"] == selectors.AccountCount(number=3, estimated=False)
        self.assertContains(page, "3 accounts")
        self.assertNotContains(page, "about")

    def test_a_large_result_is_an_estimate_and_says_so(self):
        for _ in range(selectors.PAGE_SIZE + 1):  # more than a page: the page cannot tell
            make_account(band="C")
        self.client.force_login(self.alice)
        with mock.patch.object(selectors, "_estimated_rows", return_value=1_234_567.0):
            page = self.client.get(LIST)
        assert page.context["count"] == selectors.AccountCount(number=1_230_000, estimated=True)
        self.assertContains(page, "about 1,230,000 accounts")
        self.assertContains(page, "an estimate")

    def test_reasons_are_labels_not_codes(self):
        make_account(reference="LD-R", last_reasons=["MULTI_LENDING", "HIGH_UTILIZATION"])
        self.client.force_login(self.alice)
        page = self.client.get(LIST)
        self.assertContains(page, "<li>Multi-lending</li><li>High utilization</li>", html=True)
        self.assertNotContains(page, "<code>MULTI_LENDING")

    def test_each_row_links_to_its_account(self):
        make_account(reference="LD-ROW")
        self.client.force_login(self.alice)
        page = self.client.get(LIST)
        self.assertContains(
            page, f'<a class="row-link-target" href="{reverse("accounts:detail", args=["LD-ROW"])}"'
        )


class ExportTests(BaseTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        now = timezone.now()
        make_account(
            reference="LD-E1",
            full_name="王小明",
            phone="13812345678",
            band="E",
            score=420,
            current_limit=Decimal("1234.50"),
            limit_changed_at=now - timedelta(days=1),
            last_reasons=["MULTI_LENDING"],
        )
        make_account(
            reference="LD-E2", full_name="=HYPERLINK(1)", phone="13900001111", band="E", score=430
        )
        make_account(reference="LD-A1", full_name="李四", phone="13700002222", band="A")

    def test_the_current_filter_is_exported_masked_and_logged(self):
        self.client.force_login(self.bob)  # a handler may reveal; the export still masks
        response = self.client.get(EXPORT, {"band": "E", "sort": "reference", "page": "2"})
        assert response.status_code == 200
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        assert response["Content-Disposition"].startswith('attachment; filename="accounts-')
        assert response.streaming
        export = ListExport.objects.get()
        assert (export.user, export.page, export.query, export.rows) == (
            self.bob,
            "accounts",
            "band=E&sort=reference",
            None,  # logged before the first row, counted at the end
        )
        rows = read_csv(response)
        assert rows[0][:3] == ["Reference", "Name (masked)", "Phone (masked)"]
        assert [row[0] for row in rows[1:]] == ["LD-E1", "LD-E2"]
        first = rows[1]
        assert first[1:4] == ["王**", "138****5678", "active"]
        assert first[4:7] == ["E", "420", "1234.50"]
        assert first[9:] == ["Multi-lending", "MULTI_LENDING"]
        body = "\n".join(",".join(row) for row in rows)
        assert "13812345678" not in body and "王小明" not in body
        export.refresh_from_db()
        assert export.rows == 2

    def test_cells_that_a_spreadsheet_would_run_are_made_text(self):
        self.client.force_login(self.alice)
        rows = read_csv(self.client.get(EXPORT, {"q": "LD-E2"}))
        # The masked name of "=HYPERLINK(1)" still starts with "=": it gets an apostrophe.
        assert rows[1][1].startswith("'=")
        assert [csv_export.safe_cell(v) for v in ["=1+1", "+1", "-1", "@x", "ok", -5]] == [
            "'=1+1",
            "'+1",
            "'-1",
            "'@x",
            "ok",
            "-5",
        ]

    def test_roles_without_the_list_may_not_export(self):
        admin = make_user("dora", "Administrator")
        self.client.force_login(admin)
        response = self.client.get(EXPORT)
        assert response.status_code == 403
        assert not ListExport.objects.exists()
        self.client.logout()
        assert self.client.get(EXPORT).status_code == 302
        assert not ListExport.objects.exists()

    def test_a_bad_filter_exports_nothing_and_says_why(self):
        self.client.force_login(self.alice)
        response = self.client.get(EXPORT, {"band": "Z"}, follow=True)
        self.assertContains(response, "nothing was exported")
        assert not ListExport.objects.exists()

    def test_a_whole_phone_number_export_is_logged_as_a_search(self):
        self.client.force_login(self.alice)
        rows = read_csv(self.client.get(EXPORT, {"q": "13812345678"}))
        assert [row[0] for row in rows[1:]] == ["LD-E1"]
        assert PersonalDataSearch.objects.filter(user=self.alice, whole_number=True).count() == 1

    def test_the_list_offers_the_export_of_its_filter(self):
        self.client.force_login(self.alice)
        page = self.client.get(LIST, {"band": "E"})
        self.assertContains(page, f'href="{EXPORT}?band=E"')

    def test_many_rows_stream_in_blocks(self):
        self.client.force_login(self.alice)
        with mock.patch.object(csv_export, "ROWS_PER_BLOCK", 1):
            response = self.client.get(EXPORT)
            blocks = list(response.streaming_content)  # type: ignore[attr-defined]
        # A block per row (the first with the header), then the (empty) tail.
        assert len(blocks) == 4
        assert blocks[1].decode().startswith("LD-E1,") and blocks[1].count(b"\r\n") == 1
        assert ListExport.objects.get().rows == 3

    def test_an_export_holds_at_most_the_most_one_download_may(self):
        self.client.force_login(self.alice)
        with mock.patch.object(selectors, "EXPORT_MAX_ROWS", 2):
            page = self.client.get(LIST)
            rows = read_csv(self.client.get(EXPORT))
        self.assertContains(page, "the first 2, the most one download holds")
        assert [row[0] for row in rows[1:]] == ["LD-A1", "LD-E1"]
        assert ListExport.objects.get().rows == 2

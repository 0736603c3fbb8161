"""The queue's saved filters (page "appeals") and its CSV export: the current filter,
streamed, for who may open the queue, what the page shows that person, logged."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

from django.urls import reverse
from django.utils import timezone

from accounts.models import ListExport, SavedFilter
from appeals.models import Appeal
from tests.base import BaseTestCase, make_account

QUEUE = reverse("appeals:queue")
EXPORT = reverse("appeals:export")


def read(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(body)))


class QueueExportTests(BaseTestCase):
    def setUp(self) -> None:
        account = make_account(reference="LD-EXP", full_name="王小明", phone="13800001234")
        now = timezone.now()
        self.mine = Appeal.objects.create(
            account=account,
            channel="hotline",
            category="misjudged",
            statement='=HYPERLINK("http://evil") call me on 13800001234',
            requested_limit=Decimal("9000"),
            assignee=self.bob,
            state="in_review",
            sla_due=now + timedelta(hours=3),
        )
        self.unassigned = Appeal.objects.create(
            account=account,
            channel="app",
            category="reason",
            statement="Why?",
            sla_due=now + timedelta(hours=6),
        )
        self.others = Appeal.objects.create(
            account=account,
            channel="app",
            category="reason",
            statement="Why not?",
            assignee=self.carol,
            state="in_review",
            sla_due=now + timedelta(hours=9),
        )

    def test_a_lead_exports_the_current_filter_logged(self):
        self.client.force_login(self.carol)
        page = self.client.get(QUEUE, {"view": "all", "category": "reason"})
        self.assertContains(page, f"{EXPORT}?view=all&amp;category=reason")
        response = self.client.get(EXPORT, {"view": "all", "category": "reason", "page": "3"})
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        assert response["Content-Disposition"].startswith('attachment; filename="appeals-')
        rows = read(response)
        assert rows[0][:5] == ["Appeal", "Account", "Received (UTC)", "SLA due (UTC)", "Due"]
        assert [r[0] for r in rows[1:]] == [str(self.unassigned.pk), str(self.others.pk)]
        assert rows[1][4] == "due in 5 h" and rows[1][13] == "new"
        export = ListExport.objects.get()
        assert (export.user, export.page, export.query, export.rows) == (
            self.carol,
            "appeals",
            "view=all&category=reason",
            2,
        )

    def test_a_handler_exports_what_the_page_shows_them_and_no_personal_data(self):
        self.client.force_login(self.bob)
        rows = read(self.client.get(EXPORT, {"view": "all"}))  # "all" is "mine" for a handler
        assert [r[0] for r in rows[1:]] == [str(self.mine.pk)]
        body = ",".join(",".join(r) for r in rows)
        for private in ("王小明", "13800001234", "HYPERLINK", "evil"):
            assert private not in body
        assert rows[1][1] == "LD-EXP" and rows[1][8] == "9000.00"
        rows = read(self.client.get(EXPORT, {"view": "unassigned"}))
        assert [r[0] for r in rows[1:]] == [str(self.unassigned.pk)]

    def test_a_bad_filter_exports_nothing_and_roles_are_checked(self):
        self.client.force_login(self.carol)
        response = self.client.get(EXPORT, {"priority": "9"}, follow=True)
        self.assertContains(response, "The filter is not valid, so nothing was exported")
        assert not ListExport.objects.exists()
        self.client.force_login(self.alice)  # analysts do not open the queue
        assert self.client.get(EXPORT).status_code == 403
        assert not ListExport.objects.exists()

    def test_saved_filters_of_the_queue(self):
        self.client.force_login(self.bob)
        response = self.client.post(
            reverse("saved_filter_save"),
            {
                "page": "appeals",
                "name": "Unassigned reasons",
                "query": "view=unassigned&category=reason",
            },
            follow=True,
        )
        assert response.redirect_chain[-1][0].startswith(QUEUE)
        saved = SavedFilter.objects.get(user=self.bob, page="appeals")
        assert saved.query == "view=unassigned&category=reason"
        page = self.client.get(QUEUE)
        self.assertContains(page, "Unassigned reasons")
        self.assertContains(page, f"{QUEUE}?view=unassigned&amp;category=reason")
        # The saved filter's link gives the filtered queue.
        filtered = self.client.get(QUEUE, {"view": "unassigned", "category": "reason"})
        assert [a.pk for a in filtered.context["page"].appeals] == [self.unassigned.pk]

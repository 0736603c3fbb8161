from django.contrib.auth.models import User
from django.core.management import call_command
from django.urls import reverse

from tests.base import BaseTestCase


class AccountPageTests(BaseTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        # The demo's own users (alice the analyst among them) and story accounts.
        call_command("seed_demo", "--accounts", "0", verbosity=0)
        cls.alice = User.objects.get(username="alice")

    def test_the_page_says_why_the_limit_changed_with_what_the_customer_can_do(self):
        self.client.force_login(self.alice)
        # Constant, whatever the history: no query per decision or per reason. (17: the
        # contact log and the band's score counts, read cold here, are two of them; the
        # explained decision's customer notice one.)
        with self.assertNumQueries(18):
            response = self.client.get(reverse("accounts:detail", args=["LD-CASE-B"]))
        self.assertContains(response, "Why did the limit change?")
        self.assertContains(response, "closed from ¥3,000.00 to ¥0.00")
        self.assertContains(
            response, "Serious overdue: days past due reached the closing threshold."
        )
        self.assertContains(
            response, "Repay in full. The line can be reviewed again after the cool-down period."
        )
        self.assertContains(response, "Policy v1, scorecard sc-1.")
        # Inputs then (95 days past due) against today (repaid): marked as changed.
        body = response.content.decode()
        assert "(changed)" in body
        self.assertContains(response, "Decision timeline")
        self.assertContains(response, "<title>LD-CASE-B · Limit Desk</title>", html=False)

    def test_the_why_panel_speaks_chinese_when_the_user_does(self):
        self.client.force_login(self.alice)
        response = self.client.get(
            reverse("accounts:detail", args=["LD-CASE-B"]), headers={"Accept-Language": "zh-hans"}
        )
        self.assertContains(response, "严重逾期：逾期天数达到关闭额度的阈值。")
        self.assertContains(response, "请全额还款。冷静期结束后可重新评估额度。")

    def test_an_account_without_decisions_says_so(self):
        from tests.base import make_account

        account = make_account()
        self.client.force_login(self.alice)
        response = self.client.get(reverse("accounts:detail", args=[account.reference]))
        self.assertNotContains(response, "Why did the limit change?")
        self.assertContains(response, "No limit decision has been recorded for this account yet.")


class AccountPagePartsTests(BaseTestCase):
    def test_the_why_panel_names_the_thresholds_crossed_with_their_values(self):
        call_command("seed_demo", "--accounts", "0", verbosity=0)
        self.client.force_login(User.objects.get(username="alice"))  # reset by the seed
        response = self.client.get(reverse("accounts:detail", args=["LD-CASE-B"]))
        rows = {
            (row.code, str(row.label), row.value, row.comparison, row.effect)
            for row in response.context["why"].thresholds
        }
        assert ("SERIOUS_OVERDUE", "days past due now", "95", "≥ 90", "closes the line") in rows
        self.assertContains(response, "Thresholds crossed")
        self.assertContains(response, 'href="/policy/#policy-v1"')
        # Charts come with their tables: the history table and the points table.
        self.assertContains(response, 'id="history-data"')
        self.assertContains(response, "Limit history as a table")
        self.assertContains(response, 'id="contributions-data"')

    def test_the_timeline_loads_older_decisions_page_by_page(self):
        from decimal import Decimal

        from decisions import overrides
        from tests.base import make_account

        account = make_account(current_limit=Decimal("5000.00"))
        for step in range(25):
            account.refresh_from_db()
            overrides.account_override_limit(
                account_id=account.pk,
                expected_version=account.version,
                new_limit=Decimal(5100 + step * 100),
                actor=self.alice,
                justification="Step by step for the test.",
            )
        self.client.force_login(self.alice)
        page = self.client.get(reverse("accounts:detail", args=[account.reference]))
        shown = [d.sequence for d in page.context["timeline"].decisions]
        assert shown == list(range(25, 5, -1))
        self.assertContains(page, "Load older decisions")
        self.assertContains(page, f"?before={shown[-1]}")
        older = self.client.get(
            reverse("accounts:timeline", args=[account.reference]),
            {"before": shown[-1]},
            headers={"HX-Request": "true"},
        )
        assert [d.sequence for d in older.context["timeline"].decisions] == [5, 4, 3, 2, 1]
        self.assertNotContains(older, "Load older decisions")
        self.assertNotContains(older, "<html")
        # Without JavaScript the link opens the page at the older decisions.
        plain = self.client.get(
            reverse("accounts:detail", args=[account.reference]), {"before": shown[-1]}
        )
        assert plain.context["why"].decision.sequence == 25  # the latest, still explained
        assert [d.sequence for d in plain.context["timeline"].decisions] == [5, 4, 3, 2, 1]

    def test_notes_are_added_and_kept_and_an_empty_one_is_refused(self):
        from accounts.models import AccountNote
        from tests.base import make_account

        account = make_account()
        self.client.force_login(self.bob)
        url = reverse("accounts:note", args=[account.reference])
        response = self.client.post(url, {"text": "  "}, headers={"HX-Request": "true"})
        self.assertContains(response, "This field is required.")
        assert not AccountNote.objects.exists()
        response = self.client.post(
            url,
            {"text": "Customer called: salary moved to another bank."},
            headers={"HX-Request": "true"},
        )
        self.assertContains(response, "Customer called: salary moved to another bank.")
        self.assertContains(response, "bob")
        assert response.content.decode().lstrip().startswith('<section class="card" id="notes"')
        page = self.client.get(reverse("accounts:detail", args=[account.reference]))
        self.assertContains(page, "Customer called: salary moved to another bank.")

    def test_appeals_on_the_account_are_listed_with_their_sla(self):
        from datetime import timedelta

        from django.utils import timezone

        from appeals.models import Appeal
        from tests.base import make_account

        account = make_account()
        Appeal.objects.create(
            account=account,
            channel="hotline",
            category="closure",
            statement="I repaid everything.",
            sla_due=timezone.now() - timedelta(hours=1),
        )
        self.client.force_login(self.alice)
        page = self.client.get(reverse("accounts:detail", args=[account.reference]))
        self.assertContains(page, "Appeals on this account")
        self.assertContains(page, "complaint about a closure")
        self.assertContains(page, "breached")

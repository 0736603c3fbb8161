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
        with self.assertNumQueries(9):  # constant: no query per decision or per reason
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

from django.contrib.auth.models import User
from django.core.management import call_command
from django.urls import reverse

from accounts.models import Account
from tests.base import BaseTestCase


class DecisionPageTests(BaseTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        call_command("seed_demo", "--accounts", "0", verbosity=0)
        cls.alice = User.objects.get(username="alice")
        cls.bob = User.objects.get(username="bob")

    def closure(self):
        return Account.objects.get(reference="LD-CASE-B").decisions.get(sequence=2)

    def test_it_shows_the_explanation_the_chain_and_both_customer_notices(self):
        decision = self.closure()
        self.client.force_login(self.alice)
        # One catalogue query for all three languages; 2 are the navigation's My work count;
        # 1 the decision's customer notice.
        with self.assertNumQueries(11):
            response = self.client.get(reverse("decisions:decision", args=[decision.pk]))
        self.assertContains(response, "Decision LD-CASE-B #2")
        self.assertContains(response, decision.hash)
        self.assertContains(response, decision.prev_hash)
        self.assertContains(response, "Previous link #1")
        # The customer notice, in both languages whatever the page's language.
        self.assertContains(response, "your credit limit changed from ¥3,000.00 to ¥0.00")
        self.assertContains(response, "您的还款逾期时间较长，因此额度已关闭。")
        self.assertContains(response, "Your repayment has been overdue for a long time")
        self.assertContains(response, "you can appeal through the in-app help centre")

    def test_the_account_timeline_links_to_each_decision(self):
        decision = self.closure()
        self.client.force_login(self.alice)
        page = self.client.get(reverse("accounts:detail", args=["LD-CASE-B"]))
        self.assertContains(page, reverse("decisions:decision", args=[decision.pk]))

    def test_an_unknown_decision_is_a_404(self):
        self.client.force_login(self.alice)
        assert self.client.get(reverse("decisions:decision", args=[999999])).status_code == 404

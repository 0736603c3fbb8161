import time
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import Account
from decisions.models import LimitDecision, OverrideRequest
from tests.base import BaseTestCase, make_account, make_signals
from tests.conftest import PROFILES


class AccountActionTests(BaseTestCase):
    def setUp(self) -> None:
        self.account = make_account(reference="LD-ACT", current_limit=Decimal("10000.00"))
        make_signals(self.account)

    def post(self, name: str, data: dict, user=None, follow=True):
        self.client.force_login(user or self.alice)
        return self.client.post(reverse(name, args=["LD-ACT"]), data, follow=follow)

    def test_an_analyst_overrides_with_a_justification(self):
        response = self.post(
            "accounts:override",
            {
                "new_limit": "12000",
                "justification": "Salary flow verified by phone.",
                "version": 1,
            },
        )
        self.assertContains(response, "The limit was changed; the decision is recorded.")
        self.assertContains(response, "¥12,000.00")
        assert LimitDecision.objects.get().justification == "Salary flow verified by phone."

    def test_a_missing_justification_is_explained_and_changes_nothing(self):
        response = self.post(
            "accounts:override", {"new_limit": "12000", "justification": "x", "version": 1}
        )
        self.assertEqual(response.status_code, 200)
        self.assertContains(response, "Write a justification of at least 10 characters")
        self.account.refresh_from_db()
        assert self.account.current_limit == Decimal("10000.00")

    def test_the_second_person_on_a_stale_page_gets_a_conflict(self):
        self.post(
            "accounts:override",
            {"new_limit": "12000", "justification": "First change, by alice.", "version": 1},
        )
        response = self.post(
            "accounts:override",
            {
                "new_limit": "9000",
                "justification": "Second change from an old page.",
                "version": 1,
            },
            user=self.frank,
        )
        self.assertEqual(response.status_code, 403, "an auditor may not override at all")
        self.client.force_login(self.alice)
        response = self.client.post(
            reverse("accounts:override", args=["LD-ACT"]),
            {
                "new_limit": "9000",
                "justification": "Second change from an old page.",
                "version": 1,
            },
        )
        self.assertContains(response, "Someone else changed this account")
        self.account.refresh_from_db()
        assert self.account.current_limit == Decimal("12000.00")

    def test_a_large_override_shows_pending_approval_and_who_can_approve(self):
        response = self.post(
            "accounts:override",
            {
                "new_limit": "80000",
                "justification": "Verified assets of 2 million.",
                "version": 1,
            },
        )
        self.assertContains(response, "The override waits for a second person&#x27;s approval.")
        self.assertContains(response, "Pending approval")
        self.assertContains(response, "Can approve: carol (appeal leads), never the proposer.")
        self.assertNotContains(response, ">Approve</button>")

        request = OverrideRequest.objects.get()
        self.client.force_login(self.carol)
        page = self.client.get(reverse("accounts:detail", args=["LD-ACT"]))
        self.assertContains(page, ">Approve</button>")
        response = self.client.post(
            reverse("accounts:override_decide", args=["LD-ACT", request.pk]),
            {"decision": "approve"},
            follow=True,
        )
        self.assertContains(response, "Override approved and applied.")
        self.account.refresh_from_db()
        assert self.account.current_limit == Decimal("80000.00")

    def test_freeze_and_unfreeze_from_the_page(self):
        response = self.post(
            "accounts:freeze", {"justification": "Possible account takeover.", "version": 1}
        )
        self.assertContains(response, "Unfreeze the line")
        assert Account.objects.get(pk=self.account.pk).status == "frozen"

    def test_a_handler_sees_no_actions_and_cannot_post_them(self):
        self.client.force_login(self.bob)
        page = self.client.get(reverse("accounts:detail", args=["LD-ACT"]))
        self.assertNotContains(page, "Override the limit")
        response = self.client.post(
            reverse("accounts:override", args=["LD-ACT"]),
            {
                "new_limit": "12000",
                "justification": "Trying without the role.",
                "version": 1,
            },
        )
        self.assertContains(response, "Your role cannot open this page", status_code=403)
        assert not LimitDecision.objects.exists()

    def test_re_score_now_queues_a_single_account_run(self):
        response = self.post("accounts:rescore", {})
        self.assertContains(response, "Re-score queued as run #")
        self.assertContains(response, 'id="rescore-status"')
        self.assertContains(response, 'hx-trigger="every 2s"')


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("profile", PROFILES)
def test_the_page_shows_when_the_worker_has_re_scored_the_account(client, worker_factory, profile):
    from tests.base import make_user

    alice = make_user("alice-rescore", "Risk analyst")
    shopper = make_account(reference="LD-RS", current_limit=Decimal("8000.00"), score=612)
    make_signals(shopper, credit_score=612, lender_applications_30d=14, lender_applications_90d=15)
    worker_factory()
    client.force_login(alice)
    response = client.post(reverse("accounts:rescore", args=["LD-RS"]), follow=True)
    assert "On the worker" in response.content.decode()
    status_url = reverse("accounts:rescore_status", args=["LD-RS"])
    deadline = time.monotonic() + 60
    while "Finished at" not in (panel := client.get(status_url).content.decode()):
        assert time.monotonic() < deadline, "the worker did not re-score the account"
        time.sleep(0.3)
    assert "The limit changed: a new decision is recorded." in panel
    assert "hx-trigger" not in panel  # polling stops
    assert LimitDecision.objects.filter(account__reference="LD-RS").count() == 1

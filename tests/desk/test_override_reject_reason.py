"""Rejecting an override says why: at least 10 characters, kept on the request, shown to
the person who proposed it (account page and My work), never to anyone else."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts import roles
from decisions import errors, overrides
from decisions.models import OverrideRequest
from tests.base import BaseTestCase, make_user
from tests.desk import factories


class RejectReasonTests(BaseTestCase):
    def setUp(self) -> None:
        self.request = factories.pending_override(self.alice, reference="LD-REJ")
        self.url = reverse("accounts:override_decide", args=["LD-REJ", self.request.pk])

    def assert_still_pending(self) -> None:
        self.request.refresh_from_db()
        assert (self.request.state, self.request.review_note, self.request.decided_by) == (
            "pending",
            "",
            None,
        )

    def test_the_service_refuses_a_missing_or_short_reason_and_changes_nothing(self):
        for reason in ("", "   ", "too short", "  nine chr  "):
            with pytest.raises(errors.DecisionError, match="at least 10 characters"):
                overrides.override_reject(
                    request_id=self.request.pk, approver=self.carol, reason=reason
                )
            self.assert_still_pending()

    def test_the_service_refuses_a_reason_beyond_the_limit(self):
        with pytest.raises(
            errors.DecisionError, match=r"Write at most 2,000 characters \(this text has 2,001\)"
        ):
            overrides.override_reject(
                request_id=self.request.pk, approver=self.carol, reason="x" * 2001
            )
        self.assert_still_pending()

    def test_the_reason_is_kept_on_the_request(self):
        rejected = overrides.override_reject(
            request_id=self.request.pk, approver=self.carol, reason="  Assets not verified.  "
        )
        rejected.refresh_from_db()
        assert (rejected.state, rejected.review_note, rejected.decided_by) == (
            "rejected",
            "Assets not verified.",
            self.carol,
        )

    def test_the_account_page_asks_the_approver_for_a_reason(self):
        self.client.force_login(self.carol)
        page = self.client.get(reverse("accounts:detail", args=["LD-REJ"]))
        self.assertContains(
            page, "Reason, if you reject (at least 10 characters; the proposer reads it)"
        )
        self.assertContains(page, 'name="reason"')
        self.assertContains(page, ">Approve</button>")
        self.assertContains(page, ">Reject</button>")

    def test_rejecting_from_the_page_without_a_reason_says_so_and_changes_nothing(self):
        self.client.force_login(self.carol)
        response = self.client.post(self.url, {"decision": "reject", "reason": "no"}, follow=True)
        self.assertContains(response, "Write why the override is rejected (at least 10 characters)")
        self.assert_still_pending()

    def test_the_reason_shows_to_the_proposer_only(self):
        self.client.force_login(self.carol)
        response = self.client.post(
            self.url,
            {"decision": "reject", "reason": "The assets are not verified yet."},
            follow=True,
        )
        self.assertContains(response, "Override rejected.")
        self.request.refresh_from_db()
        assert self.request.review_note == "The assets are not verified yet."
        # carol (who rejected it) and greg (another analyst) do not get the notice.
        assert "Your override was rejected" not in response.content.decode()
        greg = make_user("greg", roles.RISK_ANALYST)
        self.client.force_login(greg)
        others = self.client.get(reverse("accounts:detail", args=["LD-REJ"])).content.decode()
        assert "The assets are not verified yet." not in others
        assert (
            "The assets are not verified yet."
            not in self.client.get(reverse("my_work")).content.decode()
        )
        # alice reads it on the account page and on My work.
        self.client.force_login(self.alice)
        page = self.client.get(reverse("accounts:detail", args=["LD-REJ"]))
        self.assertContains(page, "Your override was rejected")
        self.assertContains(page, "carol rejected your override to ¥90,000.00")
        self.assertContains(page, "The assets are not verified yet.")
        mine = self.client.get(reverse("my_work"))
        self.assertContains(mine, "Your override of LD-REJ to ¥90,000.00 was rejected")
        self.assertContains(mine, "The assets are not verified yet.")

    def test_approving_needs_no_reason(self):
        self.client.force_login(self.carol)
        response = self.client.post(self.url, {"decision": "approve"}, follow=True)
        self.assertContains(response, "Override approved and applied.")
        assert OverrideRequest.objects.get(pk=self.request.pk).state == "approved"

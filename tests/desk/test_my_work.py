"""My work: what waits for each person, never their own four-eyes items, the reasons of
what was sent back to the right person only, the page per role and the nav's count."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts import roles
from appeals.models import Appeal, AppealEvent
from decisions.models import OverrideRequest
from desk import my_work
from tests.base import BaseTestCase, make_user
from tests.desk import factories


def titles(user, key: str) -> list[str]:
    """The rows of one group of the person's My work."""
    groups = {group.key: group for group in my_work.my_work(user)}
    return [item.title for item in groups[key].items] if key in groups else []


def reasons(user) -> list[str]:
    groups = {group.key: group for group in my_work.my_work(user)}
    return [item.reason for item in groups["sent_back"].items] if "sent_back" in groups else []


class ApprovalsTests(BaseTestCase):
    def test_an_analyst_who_may_approve_sees_someone_elses_override_but_never_their_own(self):
        # max is an analyst who also holds the appeal lead's role (the one that approves).
        max_ = make_user("max", roles.RISK_ANALYST)
        max_.groups.add(Group.objects.get(name=roles.APPEAL_LEAD))
        theirs = factories.pending_override(self.alice, reference="LD-OTHERS")
        factories.pending_override(max_, reference="LD-OWN")
        rows = titles(max_, "approvals")
        assert any("LD-OTHERS" in row and "proposed by alice" in row for row in rows)
        assert not any("LD-OWN" in row for row in rows)
        # The lead sees both; alice (no approval right) sees no override to approve.
        assert len([row for row in titles(self.carol, "approvals") if "Override" in row]) == 2
        assert not any("Override" in row for row in titles(self.alice, "approvals"))
        item = next(
            item
            for group in my_work.my_work(max_)
            for item in group.items
            if "LD-OTHERS" in item.title
        )
        assert item.url == reverse("accounts:detail", args=["LD-OTHERS"]) + "#pending-heading"
        assert theirs.justification in item.detail

    def test_a_lead_sees_a_handlers_pending_outcome_but_not_their_own(self):
        bobs = factories.proposed_outcome(self.bob)
        carols = factories.proposed_outcome(self.carol)
        rows = titles(self.carol, "approvals")
        assert any(f"Appeal #{bobs.pk} " in row and "proposed by bob" in row for row in rows)
        assert not any(f"Appeal #{carols.pk} " in row for row in rows)
        hana = make_user("hana", roles.APPEAL_LEAD)
        assert len([row for row in titles(hana, "approvals") if "Appeal #" in row]) == 2
        # A handler approves nothing.
        assert "approvals" not in {group.key for group in my_work.my_work(self.bob)}

    def test_a_policy_admin_sees_another_admins_submitted_version_not_their_own(self):
        daves = factories.submitted_version(self.dave)
        assert any(f"Policy v{daves.version} " in row for row in titles(self.erin, "approvals"))
        assert titles(self.dave, "approvals") == []

    def test_an_analyst_sees_a_run_held_by_the_breaker_that_someone_else_started(self):
        greg = make_user("greg", roles.RISK_ANALYST)
        run = factories.held_run(greg)
        [row] = titles(self.alice, "approvals")
        assert f"Run #{run.pk} held by the circuit breaker, started by greg" == row
        assert titles(greg, "approvals") == []

    def test_a_decided_item_no_longer_waits(self):
        request = factories.pending_override(self.alice)
        assert my_work.waiting_count(self.carol) == 1
        OverrideRequest.objects.filter(pk=request.pk).update(state="approved")
        assert my_work.waiting_count(self.carol) == 0


class AssignedAppealsTests(BaseTestCase):
    def test_open_appeals_assigned_to_them_except_snoozed_ones_and_others(self):
        now = timezone.now()
        mine = factories.open_appeal(self.bob)
        waiting = factories.open_appeal(self.bob, state="waiting")
        woke = factories.open_appeal(self.bob, snoozed_until=now - timedelta(minutes=5))
        snoozed = factories.open_appeal(self.bob, snoozed_until=now + timedelta(days=2))
        decided = factories.open_appeal(self.bob, state="decided")
        someone_elses = factories.open_appeal(self.carol)
        rows = titles(self.bob, "appeals")
        shown = {appeal.pk for appeal in (mine, waiting, woke)}
        assert {int(row.split("#")[1].split(" ")[0]) for row in rows} == shown
        for hidden in (snoozed, decided, someone_elses):
            assert not any(f"#{hidden.pk} " in row for row in rows)

    def test_an_appeal_waiting_for_a_lead_is_not_the_handlers_to_do(self):
        factories.proposed_outcome(self.bob)
        assert titles(self.bob, "appeals") == []


class SentBackTests(BaseTestCase):
    def test_a_rejected_override_shows_its_reason_to_the_proposer_only(self):
        greg = make_user("greg", roles.RISK_ANALYST)
        factories.rejected_override(self.alice, self.carol, "The assets are not verified yet.")
        assert reasons(self.alice) == ["The assets are not verified yet."]
        assert reasons(greg) == []
        [group] = [group for group in my_work.my_work(self.alice) if group.key == "sent_back"]
        assert group.items[0].reason_by == "carol"

    def test_a_policy_sent_back_shows_its_comment_to_its_author_only(self):
        version = factories.version_sent_back(self.dave, self.erin, "Simulate the overlay too.")
        assert reasons(self.dave) == ["Simulate the overlay too."]
        assert reasons(self.erin) == []
        # It is listed once: sent back, not also among the drafts.
        assert titles(self.dave, "drafts") == []
        assert my_work.waiting_count(self.dave) == 1
        assert f"v{version.version}" in titles(self.dave, "sent_back")[0]

    def test_an_outcome_sent_back_shows_the_leads_note_to_the_handler_only(self):
        other = make_user("henry", roles.APPEAL_HANDLER)
        appeal = factories.outcome_sent_back(self.bob, self.carol, "Ask for six months of flow.")
        assert reasons(self.bob) == ["Ask for six months of flow."]
        assert reasons(other) == [] and reasons(self.carol) == []
        # Listed once: as sent back, not again among the assigned appeals.
        assert titles(self.bob, "appeals") == []
        assert my_work.waiting_count(self.bob) == 1
        # Proposing again takes it off the list.
        appeal.outcome_pending = True
        appeal.save()
        assert reasons(self.bob) == []

    def test_what_was_sent_back_leaves_after_fourteen_days(self):
        request = factories.rejected_override(self.alice, self.carol, "Not verified yet, sorry.")
        appeal = factories.outcome_sent_back(self.bob, self.carol, "Ask for six months of flow.")
        version = factories.version_sent_back(self.dave, self.erin, "Simulate the overlay too.")
        old = timezone.now() - timedelta(days=15)
        OverrideRequest.objects.filter(pk=request.pk).update(decided_at=old)
        AppealEvent.objects.filter(appeal=appeal, move="outcome_rejected").update(at=old)
        type(version).objects.filter(pk=version.pk).update(reviewed_at=old)
        assert reasons(self.alice) == reasons(self.bob) == reasons(self.dave) == []
        # What still needs doing stays: the appeal and the draft.
        assert len(titles(self.bob, "appeals")) == 1
        assert len(titles(self.dave, "drafts")) == 1

    def test_a_rejected_override_leaves_once_they_propose_again_on_that_account(self):
        request = factories.rejected_override(self.alice, self.carol, "Wait for the bureau file.")
        account = request.account
        account.refresh_from_db()
        from decisions import overrides

        overrides.account_override_limit(
            account_id=account.pk,
            expected_version=account.version,
            new_limit="80000",
            actor=self.alice,
            justification="The bureau file arrived and is clean.",
        )
        assert reasons(self.alice) == []


class DraftsTests(BaseTestCase):
    def test_their_drafts_to_finish(self):
        mine = factories.draft(self.dave)
        factories.draft(self.erin)
        [row] = titles(self.dave, "drafts")
        assert row == f"Draft policy v{mine.version}"
        factories.submitted_version(self.dave)
        assert len(titles(self.dave, "drafts")) == 1  # the submitted one waits for erin


class AgeTests(BaseTestCase):
    def test_ages_read_in_minutes_hours_and_days(self):
        now = timezone.now()
        assert my_work.age_label(now - timedelta(minutes=7), now) == "7 min"
        assert my_work.age_label(now - timedelta(hours=3, minutes=59), now) == "3 h"
        assert my_work.age_label(now - timedelta(days=2, hours=5), now) == "2 d"
        assert my_work.age_label(now + timedelta(minutes=1), now) == "0 min"


class PageTests(BaseTestCase):
    def page(self, user):
        self.client.force_login(user)
        return self.client.get(reverse("my_work"))

    def test_each_role_sees_its_groups_with_counts_and_empty_texts(self):
        expected = {
            self.alice: ["Waiting for your approval", "Sent back to you"],
            self.bob: ["Sent back to you", "Appeals assigned to you"],
            self.carol: [
                "Waiting for your approval",
                "Sent back to you",
                "Appeals assigned to you",
            ],
            self.dave: ["Waiting for your approval", "Sent back to you", "Your drafts"],
        }
        for user, headings in expected.items():
            response = self.page(user)
            assert response.status_code == 200
            shown = [group.heading for group in response.context["groups"]]
            assert shown == headings, user.username
            self.assertContains(response, "Nothing waits for you.")
        self.assertContains(self.page(self.bob), "No open appeal is assigned to you.")
        self.assertContains(
            self.page(self.alice), "Nothing was sent back to you in the last 14 days."
        )

    def test_the_auditor_and_the_administrator_have_no_my_work(self):
        ada = make_user("ada", roles.ADMINISTRATOR)
        for user in (self.frank, ada):
            assert self.page(user).status_code == 403
            self.client.force_login(user)
            overview = self.client.get(reverse("overview")).content.decode()
            assert "My work" not in overview
            assert self.client.get(reverse("my_work_count")).status_code == 403

    def test_rows_link_to_where_the_work_is_done_with_their_age(self):
        appeal = factories.proposed_outcome(self.bob)
        AppealEvent.objects.filter(appeal=appeal, move="outcome_proposed").update(
            at=timezone.now() - timedelta(hours=3, minutes=10)
        )
        factories.rejected_override(self.alice, self.carol, "The assets are not verified yet.")
        response = self.page(self.carol)
        self.assertContains(response, f'href="{reverse("appeals:detail", args=[appeal.pk])}"')
        self.assertContains(response, ">waiting 3 h</time>")
        self.assertContains(response, "1 item waits for you.")
        assert "The assets are not verified yet." not in response.content.decode()
        mine = self.page(self.alice)
        self.assertContains(mine, "Reason from carol:</strong> The assets are not verified yet.")
        self.assertContains(mine, ">sent back 0 min ago</time>")

    def test_anonymous_people_are_sent_to_log_in(self):
        response = self.client.get(reverse("my_work"))
        assert response.status_code == 302 and response["Location"].startswith("/login/")


class CountTests(BaseTestCase):
    def test_the_nav_shows_the_count_and_polls_for_it(self):
        factories.pending_override(self.alice)
        factories.proposed_outcome(self.bob)
        factories.open_appeal(self.carol)
        self.client.force_login(self.carol)
        page = self.client.get(reverse("overview")).content.decode()
        assert f'href="{reverse("my_work")}"' in page
        assert f'hx-get="{reverse("my_work_count")}"' in page
        assert 'hx-trigger="every 30s"' in page
        assert "(3 items wait for you)" in page
        fragment = self.client.get(reverse("my_work_count"))
        assert fragment.status_code == 200
        text = fragment.content.decode()
        assert '<span class="nav-count-figure" aria-hidden="true">3</span>' in text
        assert "(3 items wait for you)" in text and "<html" not in text
        Appeal.objects.update(outcome_pending=False)
        text = self.client.get(reverse("my_work_count")).content.decode()
        assert "(2 items wait for you)" in text

    def test_the_count_is_the_pages_total(self):
        factories.submitted_version(self.erin)
        factories.version_sent_back(self.dave, self.erin, "Simulate the overlay too.")
        factories.draft(self.dave)
        self.client.force_login(self.dave)
        page = self.client.get(reverse("my_work"))
        assert page.context["total"] == 3 == my_work.waiting_count(self.dave)
        self.assertContains(self.client.get(reverse("my_work_count")), "(3 items wait for you)")

    def test_nothing_waiting_reads_as_such(self):
        self.client.force_login(self.bob)
        text = self.client.get(reverse("my_work_count")).content.decode()
        assert "(nothing waits for you)" in text and "nav-count-figure" not in text

    def test_the_count_is_a_few_queries(self):
        factories.pending_override(self.alice)
        factories.proposed_outcome(self.bob)
        self.client.force_login(self.carol)
        self.client.get(reverse("my_work_count"))  # warm the content types
        # The session, the user, the roles' permissions, the role names, and one COUNT
        # per source a lead can have (overrides, outcomes, sent back, assigned).
        with self.assertNumQueries(8):
            self.client.get(reverse("my_work_count"))

    def test_an_ended_session_gets_401_not_the_login_page(self):
        response = self.client.get(reverse("my_work_count"), headers={"HX-Request": "true"})
        assert response.status_code == 401 and response.content == b""

    def test_partials_do_not_count(self):
        """An HTMX partial rendered with the same context reads no count."""
        factories.pending_override(self.alice)
        self.client.force_login(self.carol)
        self.client.get(reverse("worker_status"))
        with CaptureQueriesContext(connection) as queries:
            self.client.get(reverse("worker_status"))
        assert queries.captured_queries
        assert not any("decisions_overriderequest" in q["sql"] for q in queries.captured_queries)

import time
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts import roles
from accounts.models import Account
from decisions import chunks, runs
from decisions.models import LimitDecision, RescoreRun
from policies.models import Policy
from tests.base import BaseTestCase, make_account, make_signals, make_user
from tests.conftest import PROFILES


class RunsPageTests(BaseTestCase):
    def test_it_lists_runs_with_their_state_and_counts(self):
        active = Policy.objects.get(state="active")
        active.rules = {**active.rules, "breaker_max_accounts_cut_pct": "1"}
        active.save()
        for _ in range(3):
            account = make_account(score=612)
            make_signals(
                account, credit_score=612, lender_applications_30d=14, lender_applications_90d=14
            )
        run = runs.run_start(trigger="button", started_by=self.alice)
        for index in run.chunks.values_list("index", flat=True):
            chunks.run_compute_chunk(run_id=run.pk, index=index)
        self.client.force_login(self.alice)
        with self.assertNumQueries(7):  # 2 of them the navigation's My work count
            response = self.client.get(reverse("decisions:runs"))
        self.assertContains(response, f"#{run.pk}")
        self.assertContains(response, "waiting for approval")
        self.assertContains(response, "Held: it would cut 100.0% of accounts")
        self.assertContains(response, "alice")


class RunStartTests(BaseTestCase):
    def setUp(self) -> None:
        for limit in ("8000.00", "12000.00"):
            make_signals(make_account(current_limit=limit))
        make_signals(make_account(status="closed", current_limit="0.00"))

    def test_a_portfolio_run_starts_only_after_the_confirmation_says_what_it_does(self):
        self.client.force_login(self.alice)
        runs_page = self.client.get(reverse("decisions:runs"))
        self.assertContains(runs_page, f'href="{reverse("decisions:run_start")}"')
        page = self.client.get(reverse("decisions:run_start"))
        self.assertContains(page, "Re-score the whole portfolio?")
        self.assertContains(
            page, "Score all 3 accounts again, of which 2 with an open line (¥20,000.00 of limits)."
        )
        self.assertContains(page, "With policy v1, the active version.")
        self.assertContains(page, "more than 10% of accounts")
        self.assertContains(page, "Start the run: re-score 3 accounts")
        self.assertNotContains(page, "kill switch is on")

        # A POST without the confirmation (a replayed form, a script) starts nothing.
        refused = self.client.post(reverse("decisions:run_start"), follow=True)
        self.assertContains(refused, "Confirm the run on this page to start it.")
        assert not RescoreRun.objects.exists()

        started = self.client.post(reverse("decisions:run_start"), {"confirm": "1"}, follow=True)
        run = RescoreRun.objects.get()
        self.assertRedirects(started, reverse("decisions:run", args=[run.pk]))
        assert (run.trigger, run.started_by, run.accounts_total) == ("button", self.alice, 3)

        # While it goes, the confirmation points at it instead of starting a second one.
        busy = self.client.get(reverse("decisions:run_start"))
        self.assertContains(busy, f"Run #{run.pk} is still going")
        self.assertNotContains(busy, "Start the run")

    def test_the_confirmation_says_when_the_kill_switch_holds_every_cut(self):
        from policies.services import kill_switch_set

        kill_switch_set(actor=self.dave, paused=True, reason="Bureau feed outage tonight.")
        self.client.force_login(self.alice)
        page = self.client.get(reverse("decisions:run_start"))
        self.assertContains(page, "The kill switch is on: every reduction and closure is held")

    def test_only_those_who_start_runs_see_the_confirmation(self):
        for user in (self.bob, self.frank, self.dave):
            self.client.force_login(user)
            assert self.client.get(reverse("decisions:run_start")).status_code == 403
            response = self.client.post(reverse("decisions:run_start"), {"confirm": "1"})
            assert response.status_code == 403
        assert not RescoreRun.objects.exists()


def held_run(client_user) -> "runs.Run":
    """A portfolio run of three shoppers, held by a 1% breaker."""
    active = Policy.objects.get(state="active")
    active.rules = {**active.rules, "breaker_max_accounts_cut_pct": "1"}
    active.save()
    for number, limit in enumerate(("8000.00", "20000.00", "5000.00")):
        account = make_account(reference=f"SHOP-{number}", score=612, current_limit=limit)
        make_signals(
            account, credit_score=612, lender_applications_30d=14, lender_applications_90d=14
        )
    run = runs.run_start(trigger="button", started_by=client_user)
    for index in run.chunks.values_list("index", flat=True):
        chunks.run_compute_chunk(run_id=run.pk, index=index)
    run.refresh_from_db()
    return run


class RunPageTests(BaseTestCase):
    def test_a_held_run_shows_what_it_would_do_and_can_be_approved(self):
        run = held_run(self.alice)
        self.client.force_login(self.alice)
        # The chunks' results in one streamed query, one for the workers that did the
        # chunks; 2 are the navigation's My work count.
        with self.assertNumQueries(10):
            response = self.client.get(reverse("decisions:run", args=[run.pk]))
        self.assertContains(response, "Circuit breaker: this run waits for a person")
        self.assertContains(response, "Held: it would cut 100.0% of accounts")
        body = response.content.decode()
        # Reduced: 3 accounts; the largest cut first (20,000 -> 14,000 at -30%).
        assert '<th scope="row">Reduced</th><td class="num">3</td>' in body.replace("\n", "")
        cuts = response.context["preview"].largest_cuts
        self.assertEqual([cut.reference for cut in cuts], ["SHOP-1", "SHOP-0", "SHOP-2"])
        # Four eyes: the person who started it may discard it, never approve it.
        self.assertContains(response, "You started this run: a second person approves it.")
        self.assertNotContains(response, "Approve and apply")
        response = self.client.post(
            reverse("decisions:run_decide", args=[run.pk]), {"decision": "approve"}, follow=True
        )
        self.assertContains(response, "You started this run: a second person must approve it")
        run.refresh_from_db()
        self.assertEqual(run.state, "waiting")
        second = make_user("amir", roles.RISK_ANALYST)
        self.client.force_login(second)
        self.assertContains(
            self.client.get(reverse("decisions:run", args=[run.pk])), "Approve and apply"
        )
        response = self.client.post(
            reverse("decisions:run_decide", args=[run.pk]), {"decision": "approve"}, follow=True
        )
        self.assertContains(response, "Approved: the run applies its decisions now.")
        run.refresh_from_db()
        self.assertEqual((run.state, run.decided_by), ("applying", second))

    def test_a_held_run_can_be_discarded_and_nothing_changes(self):
        run = held_run(self.alice)
        self.client.force_login(self.alice)
        response = self.client.post(
            reverse("decisions:run_decide", args=[run.pk]), {"decision": "discard"}, follow=True
        )
        self.assertContains(response, "Discarded: nothing was applied.")
        run.refresh_from_db()
        self.assertEqual(run.state, "discarded")
        self.assertEqual(
            sorted(
                Account.objects.filter(reference__startswith="SHOP-").values_list(
                    "current_limit", flat=True
                )
            ),
            [Decimal("5000.00"), Decimal("8000.00"), Decimal("20000.00")],
        )
        # A second click (stale page) gets a message, not a 500.
        response = self.client.post(
            reverse("decisions:run_decide", args=[run.pk]), {"decision": "approve"}, follow=True
        )
        self.assertContains(response, "This run is not waiting for approval.")

    def test_the_progress_panel_polls_only_while_the_run_moves(self):
        make_signals(make_account())
        run = runs.run_start(trigger="button", started_by=self.alice)
        self.client.force_login(self.alice)
        url = reverse("decisions:run_progress", args=[run.pk])
        response = self.client.get(url, headers={"HX-Request": "true"})
        self.assertContains(response, 'hx-trigger="every 2s"')
        self.assertContains(response, "<progress")
        self.assertNotContains(response, "<html")
        RescoreRun.objects.filter(pk=run.pk).update(state="done")
        response = self.client.get(url, headers={"HX-Request": "true"})
        self.assertNotContains(response, "hx-trigger")

    def test_a_revert_asks_for_a_reason_and_a_confirmation(self):
        run = held_run(self.alice)
        runs.run_approve(run_id=run.pk, actor=make_user("amir", roles.RISK_ANALYST))
        for index in run.chunks.values_list("index", flat=True):
            chunks.run_apply_chunk(run_id=run.pk, index=index)
        self.client.force_login(self.alice)
        url = reverse("decisions:run_revert", args=[run.pk])
        response = self.client.post(url, {"justification": "Bureau feed was wrong."})
        self.assertContains(response, "This field is required.")
        response = self.client.post(url, {"justification": "oops", "confirm": "on"})
        self.assertContains(response, "Write why the run is reverted (at least 10 characters).")
        run.refresh_from_db()
        self.assertEqual(run.state, "done")
        self.assertFalse(LimitDecision.objects.filter(source="revert").exists())

    def test_roles(self):
        run = held_run(self.alice)
        self.client.force_login(self.bob)  # appeal handler: no runs at all
        self.assertEqual(self.client.get(reverse("decisions:run", args=[run.pk])).status_code, 403)
        self.client.force_login(self.frank)  # auditor: reads, changes nothing
        response = self.client.get(reverse("decisions:run", args=[run.pk]))
        self.assertNotContains(response, "Approve and apply")
        response = self.client.post(
            reverse("decisions:run_decide", args=[run.pk]), {"decision": "approve"}
        )
        self.assertEqual(response.status_code, 403)
        self.assertEqual(self.client.get(reverse("decisions:run", args=[9999])).status_code, 404)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("profile", PROFILES)
def test_a_revert_started_on_the_page_runs_on_the_worker(client, worker_factory, profile):
    from django.contrib.auth.models import User

    from tests.base import ensure_roles, make_user

    ensure_roles()
    alice = make_user("alice-revert", "Risk analyst")
    run = held_run(alice)
    runs.run_approve(run_id=run.pk, actor=make_user("amir-revert", "Risk analyst"))
    for index in run.chunks.values_list("index", flat=True):
        chunks.run_apply_chunk(run_id=run.pk, index=index)
    assert Account.objects.get(reference="SHOP-1").current_limit < Decimal("20000.00")
    worker_factory()  # only now: the run above was worked through by hand
    client.force_login(User.objects.get(pk=alice.pk))
    response = client.post(
        reverse("decisions:run_revert", args=[run.pk]),
        {"justification": "Bureau feed was wrong.", "confirm": "on"},
        follow=True,
    )
    assert "The revert is running" in response.content.decode()
    deadline = time.monotonic() + 60
    while RescoreRun.objects.get(pk=run.pk).state != "reverted":
        assert time.monotonic() < deadline, "the worker did not revert the run"
        time.sleep(0.2)
    assert Account.objects.get(reference="SHOP-1").current_limit == Decimal("20000.00")
    assert LimitDecision.objects.filter(source="revert").count() == 3
    page = client.get(reverse("decisions:run", args=[run.pk])).content.decode()
    assert "reverted" in page and "Revert this run" not in page


class PolicyPageTests(BaseTestCase):
    def test_it_shows_each_version_with_its_thresholds(self):
        self.client.force_login(self.alice)
        # Versions, the rollout, the change log, however many; 2 for My work's count.
        with self.assertNumQueries(9):
            response = self.client.get(reverse("policies:index"))
        self.assertContains(response, 'id="policy-v1"')
        self.assertContains(response, "Close the line at days past due of at least")
        self.assertContains(response, '<td class="num">90</td>', html=False)
        self.assertContains(response, "¥120,000.00")

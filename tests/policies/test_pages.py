"""The policy pages: the draft editor, simulation results, review, rollout and
the kill switch, through the views (no browser)."""

from django.urls import reverse

from decisions import chunks, runs
from policies import services, simulations
from policies.models import Policy, Simulation
from tests.base import BaseTestCase, make_account, make_signals

POLICY = reverse("policies:index")


def version_url(number: int) -> str:
    return reverse("policies:version", args=[number])


class PolicyPagesTests(BaseTestCase):
    def setUp(self) -> None:
        for number in range(30):
            make_signals(
                make_account(), lender_applications_30d=number % 12, lender_applications_90d=20
            )

    def draft_fields(self, draft: Policy, **changes: str) -> dict[str, str]:
        data: dict[str, str] = {
            name: str(value)
            for name, value in draft.rules.items()
            if name not in {"bands", "close_on_public_record"}
        }
        data["close_on_public_record"] = "on"
        for index, band in enumerate(draft.rules["bands"]):
            for part in ("name", "min_score", "ceiling"):
                data[f"band_{index}_{part}"] = str(band[part])
        data["rationale"] = "Seed 004: multi-lending doubled; one small step."
        data.update(changes)
        return data

    def test_an_admin_drafts_with_clear_errors_then_simulates_and_submits(self):
        self.client.force_login(self.dave)
        response = self.client.post(reverse("policies:new"), follow=True)
        self.assertContains(response, "Draft v2 started from the active thresholds.")
        draft = Policy.objects.get(version=2)
        bad = self.draft_fields(
            draft,
            band_1_min_score="760",
            overdue_reduce_pct="140",
            band_3_ceiling="-1",
            rationale="",
        )
        page = self.client.post(reverse("policies:save", args=[2]), bad)
        assert page.status_code == 200
        self.assertContains(page, "cut-offs must be strictly decreasing, best band first")
        self.assertContains(page, "must be between 0 and 100, not 140")
        self.assertContains(page, "must not be negative")
        self.assertContains(page, "write why the thresholds change (at least 10 characters)")
        draft.refresh_from_db()
        assert draft.rationale == ""

        good = self.draft_fields(draft, multi_lending_applications_30d="5")
        page = self.client.post(reverse("policies:save", args=[2]), good, follow=True)
        self.assertContains(page, "Draft saved.")
        self.assertContains(page, "Multi-lending: applications in 30 days of at least")
        self.assertContains(page, '<td class="num diff-after">5</td>', html=False)

        page = self.client.post(reverse("policies:submit", args=[2]), follow=True)
        self.assertContains(page, "Simulate the draft as it is now before submitting it")
        self.client.post(reverse("policies:simulate", args=[2]))
        simulation = Simulation.objects.get(policy=draft)
        for index in simulation.chunks.values_list("index", flat=True):
            simulations.simulation_compute_chunk(simulation_id=simulation.pk, index=index)
        page = self.client.get(version_url(2))
        self.assertContains(page, "Impact: this version beside the active one")
        self.assertContains(page, "The accounts that move most under this version")
        self.assertContains(page, "MULTI_LENDING")
        page = self.client.post(reverse("policies:submit", args=[2]), follow=True)
        self.assertContains(page, "Submitted; a second policy admin reviews it.")
        self.assertContains(page, "You wrote this version: another policy admin reviews it.")
        self.assertNotContains(page, "Send back")

    def test_a_second_admin_approves_a_staged_rollout_and_the_runs_page_shows_both(self):
        draft = services.policy_draft_create(author=self.dave)
        services.policy_draft_update(
            version=draft.version,
            author=self.dave,
            rules={**draft.rules, "multi_lending_applications_30d": 5},
            rationale="Seed 004: multi-lending doubled; one small step.",
        )
        simulation = simulations.simulation_start(version=draft.version, actor=self.dave)
        for index in simulation.chunks.values_list("index", flat=True):
            simulations.simulation_compute_chunk(simulation_id=simulation.pk, index=index)
        services.policy_submit(version=draft.version, author=self.dave)

        self.client.force_login(self.erin)
        review = reverse("policies:review", args=[draft.version])
        page = self.client.post(
            review,
            {"decision": "approve", "comment": "Impact checked.", "share": "10"},
            follow=True,
        )
        self.assertContains(page, "Approved; the next runs score 10% of accounts with it.")
        run = runs.run_start(trigger="button")
        for index in run.chunks.values_list("index", flat=True):
            chunks.run_compute_chunk(run_id=run.pk, index=index)
        page = self.client.get(reverse("decisions:runs"))
        self.assertContains(page, "v1 + v2 (10%)")
        page = self.client.get(reverse("decisions:run", args=[run.pk]))
        self.assertContains(page, "Both versions side by side")
        self.assertContains(page, "v2 (rollout, 10%)")

        page = self.client.post(
            reverse("policies:rollout"),
            {"action": "rollback", "reason": "Appeals doubled overnight."},
            follow=True,
        )
        self.assertContains(page, "Rolled back: the next run scores every account with v1.")
        self.assertContains(page, "rolled back: Appeals doubled overnight.")

    def test_the_kill_switch_shows_a_banner_on_every_page_while_it_is_on(self):
        self.client.force_login(self.dave)
        page = self.client.post(
            reverse("policies:kill_switch"),
            {"paused": "1", "confirm": "1", "reason": "short"},
            follow=True,
        )
        self.assertContains(page, "Write why (at least 10 characters).")
        self.assertNotContains(page, "Automatic limit reductions are paused portfolio-wide.")
        self.client.post(
            reverse("policies:kill_switch"),
            {"paused": "1", "confirm": "1", "reason": "Seed 004: sudden mass cut."},
        )
        self.client.force_login(self.bob)
        for url in (reverse("overview"), reverse("appeals:queue")):
            self.assertContains(
                self.client.get(url), "Automatic limit reductions are paused portfolio-wide."
            )
        self.client.force_login(self.dave)
        self.client.post(
            reverse("policies:kill_switch"), {"paused": "0", "reason": "Cause found and fixed."}
        )
        self.assertNotContains(
            self.client.get(POLICY), "Automatic limit reductions are paused portfolio-wide."
        )

    def test_roles_that_may_not_change_policy_get_no_controls_and_a_403(self):
        self.client.force_login(self.alice)
        page = self.client.get(POLICY)
        self.assertNotContains(page, "Start a new draft")
        self.assertNotContains(page, "Kill switch")
        assert self.client.post(reverse("policies:new")).status_code == 403
        assert self.client.post(reverse("policies:kill_switch"), {"paused": "1"}).status_code == 403
        self.client.force_login(self.frank)
        assert self.client.get(version_url(1)).status_code == 200
        assert self.client.post(reverse("policies:rollout"), {}).status_code == 403

from django.urls import reverse

from decisions import runs
from decisions.models import Policy
from tests.base import BaseTestCase, make_account, make_signals


class RunsPageTests(BaseTestCase):
    def test_it_lists_runs_with_their_state_and_counts(self):
        active = Policy.objects.get(state="active")
        active.rules = {**active.rules, "breaker_max_accounts_cut_pct": "1"}
        active.save()
        for _ in range(3):
            account = make_account(score=612)
            make_signals(account, credit_score=612, lender_applications_30d=14,
                         lender_applications_90d=14)  # fmt: skip
        run = runs.run_start(trigger="button", started_by=self.alice)
        for index in run.chunks.values_list("index", flat=True):
            runs.run_compute_chunk(run_id=run.pk, index=index)
        self.client.force_login(self.alice)
        with self.assertNumQueries(6):
            response = self.client.get(reverse("decisions:runs"))
        self.assertContains(response, f"#{run.pk}")
        self.assertContains(response, "waiting for approval")
        self.assertContains(response, "Held: it would cut 100.0% of accounts")
        self.assertContains(response, "alice")

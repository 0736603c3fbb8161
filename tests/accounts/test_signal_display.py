"""Signals and reasons as people read them: ratios as percentages, amounts and counts
grouped, reason codes as words (docs/architecture.md, "Signals")."""

from decimal import Decimal

from django.contrib.auth.models import User
from django.core.management import call_command
from django.urls import reverse
from django.utils import translation

from accounts.templatetags.desk import signal_value
from tests.base import BaseTestCase


def test_ratios_read_as_percentages():
    assert signal_value(Decimal("0.3500"), "utilization") == "35 %"
    assert signal_value("0.7100", "on_time_ratio") == "71 %"
    assert signal_value(Decimal("0.3333"), "linked_bad_share") == "33.3 %"
    assert signal_value(Decimal("1.0000"), "utilization") == "100 %"
    assert signal_value(Decimal("0"), "utilization") == "0 %"


def test_money_counts_and_flags_read_as_people_write_them():
    assert signal_value(Decimal("18600.00"), "repayment_amount_90d") == "¥18,600.00"
    assert signal_value(1234, "active_days_90d") == "1,234"
    assert signal_value(True, "real_name_verified") == "yes"
    assert signal_value("False", "bank_card_bound") == "no"
    assert signal_value(None, "utilization") == "—"
    with translation.override("zh-hans"):
        assert signal_value(True, "real_name_verified") == "是"
        assert signal_value(Decimal("0.3500"), "utilization") == "35 %"


class AccountPageWordsTests(BaseTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        call_command("seed_demo", "--accounts", "0", verbosity=0)
        cls.alice = User.objects.get(username="alice")

    def test_the_account_page_shows_percentages_and_reason_words_not_codes(self):
        self.client.force_login(self.alice)
        page = self.client.get(reverse("accounts:detail", args=["LD-CASE-B"])).content.decode()
        # Case B's on-time ratio 0.71, at the decision and today.
        assert "71 %" in page
        assert "0.7100" not in page
        # The timeline names reasons in words; the codes stay only as hints.
        timeline = page[page.index('id="timeline"') :]
        timeline = timeline[: timeline.index("</section>")]
        assert "Serious overdue" in timeline
        assert "SERIOUS_OVERDUE" not in timeline

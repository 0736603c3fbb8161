"""Numbers, dates and labels as a reader of each language sees them: amounts and counts
grouped by thousands in English and Chinese alike, ISO values in date inputs whatever
the language, and no raw code names on the pages (config/formats, docs/architecture.md
"Languages and formats")."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django import forms
from django.conf import settings
from django.contrib.humanize.templatetags.humanize import intcomma
from django.template import Context, Template
from django.urls import reverse
from django.utils import timezone, translation

from accounts.templatetags.desk import cents_money, money
from appeals import services as appeal_services
from decisions.explanations import SPECIAL_LABELS
from decisions.views import ExportForm
from policies.labels import RULE_LABELS
from tests.base import BaseTestCase, make_account

LANGUAGES = ("en", "zh-hans")


@pytest.mark.parametrize("language", LANGUAGES)
def test_amounts_and_counts_are_grouped_by_thousands(language):
    with translation.override(language):
        assert money(Decimal("1882265300")) == "¥1,882,265,300.00"
        assert money(Decimal("-1234.5")) == "−¥1,234.50"
        assert money(Decimal("999")) == "¥999.00"
        assert cents_money(188226530000) == "¥1,882,265,300.00"
        assert intcomma(1234567) == "1,234,567"
        page = Template(
            "{% load humanize desk %}{{ n|intcomma }} accounts, {{ amount|money }}"
        ).render(Context({"n": 1234567, "amount": Decimal("1882265300.00")}))
        assert page == "1,234,567 accounts, ¥1,882,265,300.00"


class DateForm(forms.Form):
    day = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_date_input_holds_an_iso_value_in_every_language(language):
    with translation.override(language):
        shown = str(DateForm(initial={"day": datetime.date(2026, 11, 2)})["day"])
        assert 'value="2026-11-02"' in shown and 'type="date"' in shown
        export = ExportForm(
            initial={"since": datetime.date(2026, 11, 2), "until": datetime.date(2026, 12, 3)}
        )
        assert 'value="2026-11-02"' in str(export["since"])
        assert 'value="2026-12-03"' in str(export["until"])
        # What the browser sends back is read, and a redisplayed bad form keeps it.
        sent = DateForm({"day": "2026-11-02"})
        assert sent.is_valid() and sent.cleaned_data["day"] == datetime.date(2026, 11, 2)
        refused = ExportForm({"since": "2026-11-02", "until": "2026-11-01"})
        assert not refused.is_valid()
        assert 'value="2026-11-02"' in str(refused["since"])


def test_threshold_and_explanation_labels_are_translated():
    with translation.override("zh-hans"):
        assert str(RULE_LABELS["close_dpd"]) == "逾期天数达到以下值时关闭额度"
        assert str(SPECIAL_LABELS["limit"]) == "决策前的额度"


class ChinesePagesTests(BaseTestCase):
    def in_chinese(self) -> None:
        self.client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"

    def test_the_audit_date_filter_is_filled_with_iso_dates(self):
        self.client.force_login(self.frank)
        self.in_chinese()
        page = self.client.get(reverse("decisions:audit")).content.decode()
        today = timezone.now().date()
        assert "审计" in page
        assert f'name="since" value="{(today - datetime.timedelta(days=30)).isoformat()}"' in page
        assert f'name="until" value="{today.isoformat()}"' in page

    def test_the_policy_page_names_each_threshold_in_chinese(self):
        self.client.force_login(self.dave)
        self.in_chinese()
        page = self.client.get(reverse("policies:index")).content.decode()
        assert "逾期天数达到以下值时关闭额度" in page
        assert "Close the line at days past due of at least" not in page
        assert "¥120,000.00" in page

    def test_an_appeal_timeline_shows_steps_and_states_as_words(self):
        account = make_account(current_limit=Decimal("1882265300.00"))
        appeal = appeal_services.appeal_intake(
            account=account,
            actor=self.alice,
            channel="hotline",
            category="evidence",
            statement="I repaid everything; the statement is attached.",
        ).appeal
        appeal_services.appeal_assign(appeal_id=appeal.pk, assignee=self.bob, lead=self.carol)
        self.client.force_login(self.carol)
        self.in_chinese()
        page = self.client.get(reverse("appeals:detail", args=[appeal.pk])).content.decode()
        timeline = page[page.index('id="timeline-heading"') :]
        timeline = timeline[: timeline.index("</ol>")]
        assert "已受理" in timeline  # received
        assert "已分配" in timeline and "新建 → 审核中" in timeline  # assign: new → in review
        for raw in ("received", "assign", "in_review", "<code>"):
            assert raw not in timeline
        assert "¥1,882,265,300.00" in page

    def test_an_appeal_timeline_in_english_reads_as_words_too(self):
        account = make_account()
        appeal = appeal_services.appeal_intake(
            account=account,
            actor=self.alice,
            channel="app",
            category="reason",
            statement="Why was my limit cut?",
        ).appeal
        appeal_services.appeal_assign(appeal_id=appeal.pk, assignee=self.bob, lead=self.carol)
        self.client.force_login(self.carol)
        page = self.client.get(reverse("appeals:detail", args=[appeal.pk])).content.decode()
        timeline = page[page.index('id="timeline-heading"') :]
        timeline = timeline[: timeline.index("</ol>")]
        assert "<strong>received</strong>" in timeline
        assert "<strong>assigned</strong> (new → in review)" in timeline
        assert "in_review" not in timeline

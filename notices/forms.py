"""The timeliness page's period."""

from __future__ import annotations

from datetime import date, timedelta

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

DEFAULT_DAYS = 30
MAX_DAYS = 366


class PeriodForm(forms.Form):
    start = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput({"type": "date"})
    )
    end = forms.DateField(label=_("To"), required=False, widget=forms.DateInput({"type": "date"}))

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        today = timezone.now().date()
        end = data.get("end") or today
        start = data.get("start") or end - timedelta(days=DEFAULT_DAYS - 1)
        if start > end:
            raise forms.ValidationError(_("The period must start on or before its last day."))
        if (end - start).days + 1 > MAX_DAYS:
            raise forms.ValidationError(
                _("Pick a period of at most %(days)s days.") % {"days": MAX_DAYS}
            )
        data["start"], data["end"] = start, end
        return data


def default_period() -> tuple[date, date]:
    end = timezone.now().date()
    return end - timedelta(days=DEFAULT_DAYS - 1), end

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from appeals.models import Appeal
from config.text import JUSTIFICATION_MAX, STATEMENT_MAX


class QueueFilterForm(forms.Form):
    view = forms.ChoiceField(
        required=False,
        choices=[("mine", _("my appeals")), ("unassigned", _("unassigned")), ("all", _("all"))],
    )
    category = forms.ChoiceField(
        label=_("Category"), required=False, choices=[("", _("any")), *Appeal.Category.choices]
    )
    priority = forms.TypedChoiceField(
        label=_("Priority"),
        required=False,
        coerce=int,
        empty_value=None,
        choices=[("", _("any")), *Appeal.Priority.choices],
    )
    channel = forms.ChoiceField(
        label=_("Channel"), required=False, choices=[("", _("any")), *Appeal.Channel.choices]
    )
    sla = forms.ChoiceField(
        label=_("SLA"),
        required=False,
        choices=[
            ("", _("any")),
            ("due_soon", _("due within 4 hours")),
            ("breached", _("breached")),
        ],
    )
    page = forms.IntegerField(required=False, min_value=1, max_value=100_000)


class IntakeForm(forms.Form):
    channel = forms.ChoiceField(
        label=_("Came in by"), choices=Appeal.Channel.choices, initial=Appeal.Channel.HOTLINE
    )
    category = forms.ChoiceField(label=_("The customer asks"), choices=Appeal.Category.choices)
    decision = forms.IntegerField(widget=forms.HiddenInput, required=False)
    statement = forms.CharField(
        label=_("What the customer says"),
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=STATEMENT_MAX,
    )
    requested_limit = forms.CharField(
        label=_("Requested limit (optional)"), required=False, max_length=20
    )
    priority = forms.TypedChoiceField(
        label=_("Priority"),
        coerce=int,
        choices=Appeal.Priority.choices,
        initial=Appeal.Priority.NORMAL,
    )


class NoteForm(forms.Form):
    note = forms.CharField(
        label=_("Note"),
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=JUSTIFICATION_MAX,
        required=False,
    )


class DecideForm(forms.Form):
    outcome = forms.ChoiceField(
        label=_("Outcome"), choices=Appeal.Outcome.choices, widget=forms.RadioSelect
    )
    limit = forms.CharField(
        label=_("Restore to (partial restoration)"), required=False, max_length=20
    )
    justification = forms.CharField(
        label=_("Reason for the outcome"),
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=JUSTIFICATION_MAX,
    )
    # Re-evaluation: what the evidence verifies (checked by the service).
    verified_monthly_income = forms.CharField(
        label=_("Verified monthly income (yuan)"), required=False, max_length=20
    )
    provident_fund_verified = forms.BooleanField(
        label=_("Provident-fund contributions verified"), required=False
    )
    verified_assets = forms.CharField(
        label=_("Verified assets (yuan)"), required=False, max_length=20
    )


class SlaTargetsForm(forms.Form):
    """One field per category: hours to decide."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for value, label in Appeal.Category.choices:
            self.fields[value] = forms.IntegerField(
                label=label,
                min_value=1,
                max_value=720,
                widget=forms.NumberInput(attrs={"class": "short"}),
            )

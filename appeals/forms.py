from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from appeals.models import Appeal
from config.text import JUSTIFICATION_MAX, STATEMENT_MAX
from decisions.reason_labels import REASON_LABELS


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
    snoozed = forms.ChoiceField(
        label=_("Snoozed"),
        required=False,
        choices=[("", _("hidden until their time")), ("only", _("snoozed only"))],
    )
    # The contested decision's principal reason (docs/architecture.md, "Appeals as
    # feedback"): the overview's overturn card links here.
    # Hidden: set by the link, shown as a removable filter above the list.
    reason = forms.ChoiceField(
        label=_("Contested for"),
        required=False,
        choices=[("", _("any reason")), *REASON_LABELS.items()],
        widget=forms.HiddenInput,
    )
    page = forms.IntegerField(required=False, min_value=1, max_value=100_000)


class IntakeForm(forms.Form):
    channel = forms.ChoiceField(
        label=_("Came in by"), choices=Appeal.Channel.choices, initial=Appeal.Channel.HOTLINE
    )
    # A review request has its own form (ReviewRequestForm).
    category = forms.ChoiceField(
        label=_("The customer asks"),
        choices=[c for c in Appeal.Category.choices if c[0] != Appeal.Category.REVIEW],
    )
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


class ReviewRequestForm(forms.Form):
    """The account page's "Customer asks for an explanation / a human review"
    (docs/architecture.md, "Human review on request")."""

    kind = forms.ChoiceField(
        label=_("The customer asks for"),
        choices=Appeal.ReviewKind.choices,
        widget=forms.RadioSelect,
        error_messages={
            "required": _("Choose whether the customer asks for an explanation or a review."),
            "invalid_choice": _("Choose whether the customer asks for an explanation or a review."),
        },
    )
    channel = forms.ChoiceField(
        label=_("Came in by"), choices=Appeal.Channel.choices, initial=Appeal.Channel.HOTLINE
    )
    decision = forms.IntegerField(widget=forms.HiddenInput, required=False)
    view = forms.CharField(
        label=_("The customer's view of the decision"),
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=STATEMENT_MAX,
        error_messages={
            "required": _("Write down the customer's view of the decision (at least 5 characters).")
        },
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
    # Asked here, required when the appeal is closed (appeals.outcomes.appeal_close).
    close_label = forms.ChoiceField(
        label=_("What the appeal showed"),
        required=False,
        choices=[("", _("— choose now or when closing —")), *Appeal.CloseLabel.choices],
    )


class CloseForm(forms.Form):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "close_%s")
        super().__init__(*args, **kwargs)

    close_label = forms.ChoiceField(
        label=_("What the appeal showed"),
        choices=[("", _("— choose —")), *Appeal.CloseLabel.choices],
        error_messages={"required": _("Choose what the appeal showed.")},
    )
    note = forms.CharField(
        label=_("Note (optional)"),
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=JUSTIFICATION_MAX,
        required=False,
    )


class SnoozeForm(forms.Form):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "snooze_%s")
        super().__init__(*args, **kwargs)

    until = forms.DateField(
        label=_("Snooze until"),
        input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={
            "required": _("Enter the date the appeal comes back, as yyyy-mm-dd."),
            "invalid": _("Enter the date the appeal comes back, as yyyy-mm-dd."),
        },
    )


class BulkForm(forms.Form):
    """A lead's action on the appeals ticked in the queue."""

    action = forms.ChoiceField(
        label=_("With the selected"),
        choices=[
            ("assign", _("assign or reassign to")),
            ("snooze", _("snooze until")),
            ("unsnooze", _("unsnooze")),
        ],
        error_messages={"required": _("Choose what to do with the selected appeals.")},
    )
    assignee = forms.TypedChoiceField(
        label=_("Handler"),
        coerce=int,
        required=False,
        empty_value=None,
        error_messages={"invalid_choice": _("Choose a person who can work appeals.")},
    )
    until = forms.DateField(
        label=_("Until"),
        required=False,
        input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"invalid": _("Enter the date the appeals come back, as yyyy-mm-dd.")},
    )

    def __init__(self, *args: Any, workers: list[Any], **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "bulk_%s")
        super().__init__(*args, **kwargs)
        assignee = self.fields["assignee"]
        assert isinstance(assignee, forms.TypedChoiceField)
        assignee.choices = [("", _("— choose —"))] + [(w.pk, w.username) for w in workers]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        chosen = self.data.getlist("appeals") if hasattr(self.data, "getlist") else []
        if not chosen:
            raise forms.ValidationError(_("Select at least one appeal."))
        if not all(str(pk).isdigit() for pk in chosen):
            raise forms.ValidationError(_("The selection holds something that is not an appeal."))
        data["appeals"] = sorted({int(pk) for pk in chosen})
        if (
            data.get("action") == "assign"
            and not data.get("assignee")
            and "assignee" not in self.errors
        ):
            self.add_error("assignee", _("Choose who takes the selected appeals."))
        if data.get("action") == "snooze" and not data.get("until") and "until" not in self.errors:
            self.add_error("until", _("Enter the date the appeals come back, as yyyy-mm-dd."))
        return data


class HandlerProfileForm(forms.Form):
    auto_assign = forms.BooleanField(label=_("Gets new appeals automatically"), required=False)
    cap = forms.IntegerField(
        label=_("Open appeals at most"),
        min_value=1,
        max_value=500,
        widget=forms.NumberInput(attrs={"class": "short"}),
        error_messages={
            "required": _("Enter the cap: how many open appeals at most (1 or more)."),
            "min_value": _("The cap is at least 1 open appeal."),
            "max_value": _("The cap is at most 500 open appeals."),
            "invalid": _("The cap is a whole number of open appeals."),
        },
    )
    away_from = forms.DateField(
        label=_("Away from"),
        required=False,
        input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"invalid": _("Enter a date as yyyy-mm-dd.")},
    )
    away_until = forms.DateField(
        label=_("Away until (included)"),
        required=False,
        input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"invalid": _("Enter a date as yyyy-mm-dd.")},
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("away_from"), data.get("away_until")
        if start and end and end < start:
            self.add_error("away_until", _("The last day away cannot be before the first."))
        return data


class RejectForm(forms.Form):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "reject_%s")
        super().__init__(*args, **kwargs)

    note = forms.CharField(
        label=_("Why it goes back (the handler reads this)"),
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=JUSTIFICATION_MAX,
        required=False,
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

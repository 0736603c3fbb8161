"""The account page's contact-log form: it reads the input; the service
(accounts.services.contact_log_add) says what is allowed."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.models import ContactLogEntry
from accounts.services import CONTACT_SUMMARY_MAX


class ContactForm(forms.Form):
    channel = forms.ChoiceField(
        label=_("Channel"),
        choices=ContactLogEntry.Channel.choices,
        initial=ContactLogEntry.Channel.CALL,
    )
    direction = forms.ChoiceField(
        label=_("Direction"),
        choices=ContactLogEntry.Direction.choices,
        initial=ContactLogEntry.Direction.INBOUND,
    )
    # Not required here: the service words the error ("Write what was said").
    summary = forms.CharField(
        label=_("What was said"),
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": CONTACT_SUMMARY_MAX}),
    )
    at = forms.DateTimeField(
        label=_("When (UTC; leave empty for now)"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        error_messages={"invalid": _("Give the date and time as YYYY-MM-DD HH:MM.")},
    )

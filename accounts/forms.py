from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from accounts import masking
from config.text import JUSTIFICATION_MAX


class OverrideForm(forms.Form):
    new_limit = forms.CharField(label=_("New limit"), max_length=20)
    justification = forms.CharField(
        label=_("Justification"),
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=JUSTIFICATION_MAX,
    )
    # The account version the person saw: a newer one means someone else acted.
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)


class FreezeForm(forms.Form):
    justification = forms.CharField(
        label=_("Justification"),
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=JUSTIFICATION_MAX,
    )
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)


class AccountFilterForm(forms.Form):
    """The account list's search, filters and sort, read from the query string."""

    q = forms.CharField(
        label=_("Reference, or the phone (last four digits, 138****5678, or the whole number)"),
        required=False,
        max_length=32,
    )
    band = forms.ChoiceField(
        label=_("Band"),
        required=False,
        choices=[("", _("any band"))] + [(b, b) for b in "ABCDE"],
    )
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[
            ("", _("any status")),
            ("active", _("active")),
            ("frozen", _("frozen")),
            ("closed", _("closed")),
        ],
    )
    changed_days = forms.IntegerField(
        label=_("Limit changed in the last … days"),
        required=False,
        min_value=1,
        max_value=3650,
    )
    reason = forms.ChoiceField(label=_("Reason of the latest decision"), required=False)
    cooldown = forms.BooleanField(label=_("Only accounts in cool-down"), required=False)
    sort = forms.ChoiceField(
        label=_("Sort by"),
        required=False,
        choices=[
            ("reference", _("reference")),
            ("-limit", _("limit, largest first")),
            ("limit", _("limit, smallest first")),
            ("-score", _("score, highest first")),
            ("score", _("score, lowest first")),
            ("-changed", _("latest limit change first")),
        ],
    )
    page = forms.IntegerField(required=False, min_value=1, max_value=100_000)

    def __init__(
        self, *args: Any, reasons: list[tuple[str, str]], may_reveal: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.may_reveal = may_reveal
        reason_field = self.fields["reason"]
        assert isinstance(reason_field, forms.ChoiceField)
        reason_field.choices = [("", _("any reason")), *reasons]

    def clean_q(self) -> str:
        """No search may tell more digits of a phone than the mask shows, unless the
        role may reveal personal data (docs/architecture.md, "Personal data")."""
        query: str = self.cleaned_data["q"]
        phone = masking.phone_search(query)
        if phone and phone.kind == masking.PhoneQuery.BEYOND_MASK and not self.may_reveal:
            raise forms.ValidationError(
                _(
                    "Search a phone by its last four digits, as 138****5678, or by the whole "
                    "number: other parts of a number are for roles that may reveal personal data."
                )
            )
        return query

    def phone_lookup(self) -> masking.PhoneSearch | None:
        """The valid search when it reads more of a phone than the mask shows (a whole
        number, or more digits): such searches are logged."""
        phone = masking.phone_search(self.cleaned_data.get("q") or "")
        if phone is None or phone.kind == masking.PhoneQuery.WITHIN_MASK:
            return None
        return phone


class NoteForm(forms.Form):
    text = forms.CharField(
        label=_("New note"), widget=forms.Textarea(attrs={"rows": 2}), max_length=JUSTIFICATION_MAX
    )


# Why personal data is revealed (docs/architecture.md, "Lists"): the common purposes,
# stored in these English words (translated when shown), or the person's own words.
REVEAL_PURPOSES = {
    "caller": gettext_noop("Verify a caller's identity"),
    "appeal": gettext_noop("Work an appeal"),
    "contact": gettext_noop("Contact the customer"),
    "audit": gettext_noop("Audit check"),
}
REVEAL_PURPOSE_OTHER = "other"
REVEAL_PURPOSE_MIN = 5
REVEAL_PURPOSE_MAX = 200


class RevealForm(forms.Form):
    purpose = forms.ChoiceField(
        label=_("Purpose"),
        choices=[
            ("", _("choose why…")),
            *((key, _(text)) for key, text in REVEAL_PURPOSES.items()),
            (REVEAL_PURPOSE_OTHER, _("Other: say why below")),
        ],
        error_messages={"required": _("Choose why you need the unmasked data.")},
    )
    detail = forms.CharField(
        label=_("Details"),
        required=False,
        max_length=REVEAL_PURPOSE_MAX - 40,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        detail = " ".join((data.get("detail") or "").split())
        if data.get("purpose") == REVEAL_PURPOSE_OTHER and len(detail) < REVEAL_PURPOSE_MIN:
            self.add_error(
                "detail",
                _("Say why you need the unmasked data (at least %(min)s characters).")
                % {"min": REVEAL_PURPOSE_MIN},
            )
        data["detail"] = detail
        return data

    def purpose_text(self) -> str:
        """The purpose as stored: the common purpose's English words, with the details
        after a colon; or the details alone for "other"."""
        choice, detail = self.cleaned_data["purpose"], self.cleaned_data["detail"]
        if choice == REVEAL_PURPOSE_OTHER:
            return str(detail)
        base = REVEAL_PURPOSES[choice]
        return f"{base}: {detail}" if detail else base

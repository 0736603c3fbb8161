from django import forms
from django.utils.translation import gettext_lazy as _


class OverrideForm(forms.Form):
    new_limit = forms.CharField(label=_("New limit"), max_length=20)
    justification = forms.CharField(
        label=_("Justification"), widget=forms.Textarea(attrs={"rows": 3}), max_length=2000
    )
    # The account version the person saw: a newer one means someone else acted.
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)


class FreezeForm(forms.Form):
    justification = forms.CharField(
        label=_("Justification"), widget=forms.Textarea(attrs={"rows": 2}), max_length=2000
    )
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)

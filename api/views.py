"""The Integrations page: the administrator creates and revokes the integrations'
API keys; auditors read the keys and the call log."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from accounts import permissions as perms
from accounts.access import requires
from api import selectors, services
from api.models import ApiKey


class KeyForm(forms.Form):
    name = forms.CharField(
        label=gettext_lazy("Integration"),
        max_length=100,
        help_text=gettext_lazy("The system that will use the key, e.g. “help centre”."),
    )
    scopes = forms.MultipleChoiceField(
        label=gettext_lazy("It may"),
        choices=ApiKey.Scope.choices,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": gettext_lazy("Choose at least one thing the key may do.")},
    )


def _page(request: HttpRequest, form: KeyForm, **extra: Any) -> HttpResponse:
    response = render(
        request,
        "api/keys.html",
        {
            "keys": selectors.api_keys_overview(),
            "calls": selectors.api_calls_recent(),
            "form": form,
            **extra,
        },
    )
    response["Cache-Control"] = "no-store"  # a new key is on it, once
    return response


@require_GET
@requires(perms.OPEN_INTEGRATIONS)
def keys(request: HttpRequest) -> HttpResponse:
    return _page(request, KeyForm())


@require_POST
@requires(perms.MANAGE_INTEGRATIONS)
def key_create(request: HttpRequest) -> HttpResponse:
    form = KeyForm(request.POST)
    if not form.is_valid():
        return _page(request, form)
    try:
        key, secret = services.api_key_create(
            name=form.cleaned_data["name"], scopes=form.cleaned_data["scopes"], actor=request.user
        )
    except services.ApiKeyError as error:
        form.add_error("name", str(error))
        return _page(request, form)
    # Shown in this response only: the page is not cached and the key is not stored.
    return _page(request, KeyForm(), created=key, secret=secret)


@require_POST
@requires(perms.MANAGE_INTEGRATIONS)
def key_revoke(request: HttpRequest) -> HttpResponse:
    key_id = request.POST.get("key", "")
    try:
        if not key_id.isdigit():
            raise services.ApiKeyError(_("Choose the key to revoke."))
        key = services.api_key_revoke(key_id=int(key_id), actor=request.user)
    except services.ApiKeyError as error:
        messages.error(request, str(error))
    else:
        messages.success(
            request,
            _("The key of %(name)s is revoked: its calls now get 401.") % {"name": key.name},
        )
    return redirect("integrations:keys")

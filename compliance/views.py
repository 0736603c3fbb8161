"""The evidence packs' pages (docs/architecture.md, "Evidence pack"): the auditor
chooses a period and starts a pack, follows the worker, downloads the zip.

Object rule: anyone who may export the audit trail (EXPORT_AUDIT) may open and
download every pack, whoever started it; nobody else any.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from accounts import permissions as perms
from accounts.access import requires
from compliance import pack, selectors, services
from compliance.models import EvidencePack


class PackForm(forms.Form):
    first = forms.DateField(
        label=gettext_lazy("From (UTC day)"), widget=forms.DateInput(attrs={"type": "date"})
    )
    last = forms.DateField(
        label=gettext_lazy("To (UTC day, included)"), widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        first, last = data.get("first"), data.get("last")
        if isinstance(first, date) and isinstance(last, date):
            try:
                pack.period_checked(first, last, today=timezone.now().date())
            except pack.PeriodError as error:
                raise forms.ValidationError(str(error)) from None
        return data


def _page(request: HttpRequest, form: PackForm, status: int = 200) -> HttpResponse:
    return render(
        request, "compliance/packs.html", {"form": form, "packs": selectors.packs()}, status=status
    )


@require_http_methods(["GET", "POST"])
@requires(perms.EXPORT_AUDIT)
def packs(request: HttpRequest) -> HttpResponse:
    """GET: the packs and the form (the last calendar month by default); POST: start one."""
    if request.method == "GET":
        default = pack.last_calendar_month(timezone.now().date())
        return _page(request, PackForm(initial={"first": default.first, "last": default.last}))
    form = PackForm(request.POST)
    if not form.is_valid():
        return _page(request, form, status=400)
    try:
        started = services.pack_start(
            actor=request.user, first=form.cleaned_data["first"], last=form.cleaned_data["last"]
        )
    except services.PackError as error:
        messages.error(request, str(error))
        return _page(request, form, status=400)
    messages.success(request, _("Evidence pack started: the worker builds it."))
    return redirect("compliance:pack", pack_id=started.pk)


def _pack_or_404(pack_id: int) -> EvidencePack:
    found = selectors.pack(pack_id)
    if found is None:
        raise Http404("No such evidence pack.")
    return found


def _context(found: EvidencePack) -> dict[str, Any]:
    files = found.manifest.get("files", []) if found.state == EvidencePack.State.DONE else []
    return {"pack": found, "files": files, "generated": found.manifest.get("generated", {})}


@require_GET
@requires(perms.EXPORT_AUDIT)
def pack_detail(request: HttpRequest, pack_id: int) -> HttpResponse:
    return render(request, "compliance/pack.html", _context(_pack_or_404(pack_id)))


@require_GET
@requires(perms.EXPORT_AUDIT)
def pack_progress(request: HttpRequest, pack_id: int) -> HttpResponse:
    """The live part of the pack's page, polled by HTMX while the worker builds it."""
    return render(request, "compliance/pack.html#progress", _context(_pack_or_404(pack_id)))


@require_GET
@requires(perms.EXPORT_AUDIT)
def pack_download(request: HttpRequest, pack_id: int) -> StreamingHttpResponse:
    found = _pack_or_404(pack_id)
    blocks = services.pack_file_blocks(found) if found.state == EvidencePack.State.DONE else None
    if blocks is None:
        raise Http404("This evidence pack has no file.")
    response = StreamingHttpResponse(blocks, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{found.file_name}"'
    if found.size:
        response["Content-Length"] = str(found.size)
    response["Cache-Control"] = "no-store"
    return response

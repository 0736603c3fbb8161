"""Pages of the customer notices: thin, a selector or a service each."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accounts import permissions as perms
from accounts.access import may, requires
from config import charts
from config.requests import HtmxHttpRequest
from decisions.models import Notice
from notices import forms, selectors, services


@require_GET
@requires(perms.OPEN_NOTICES)
def timeliness(request: HttpRequest) -> HttpResponse:
    """Were the customers told in time: per day of decision and per reason."""
    form = forms.PeriodForm(request.GET or None)
    if form.is_bound and form.is_valid():
        start, end = form.cleaned_data["start"], form.cleaned_data["end"]
    else:
        start, end = forms.default_period()
        if not form.is_bound:
            form = forms.PeriodForm(initial={"start": start, "end": end})
    figures = selectors.timeliness(start=start, end=end)
    return render(
        request,
        "notices/timeliness.html",
        {
            "form": form,
            "figures": figures,
            "chart": charts.notice_timeliness_chart(figures.days),
            "dead_count": selectors.dead_letter_count(),
        },
    )


@require_GET
@requires(perms.OPEN_NOTICES)
def dead_letters(request: HttpRequest) -> HttpResponse:
    """Notices the messaging service refused or never took, to send again."""
    return render(
        request,
        "notices/dead_letters.html",
        {
            "notices": selectors.dead_letters(),
            "count": selectors.dead_letter_count(),
            "may_retry": may(request.user, perms.RETRY_NOTICES),
        },
    )


@require_POST
@requires(perms.RETRY_NOTICES)
def retry(request: HtmxHttpRequest, notice_id: int) -> HttpResponse:
    """Send a dead letter again (HTMX: the row says so in place)."""
    error = ""
    notice: Notice | None
    try:
        notice = services.notice_retry(notice_id=notice_id, actor=request.user)
    except services.NoticeError as refusal:
        error = str(refusal)
        notice = Notice.objects.filter(pk=notice_id).select_related("account").first()
    if request.htmx and notice is not None:
        return render(
            request,
            "notices/dead_letters.html#row",
            {"notice": notice, "error": error, "may_retry": True, "retried": not error},
        )
    if error or notice is None:
        messages.error(request, error)
    else:
        messages.success(
            request,
            _("The notice to %(account)s is queued to be sent again.")
            % {"account": notice.account.reference},
        )
    return redirect(reverse("notices:dead_letters"))

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import permissions as perms
from accounts import selectors as account_selectors
from accounts import services as account_services
from accounts.access import requires
from accounts.models import SavedFilter
from config import charts, csv_export, failures
from config.text import JUSTIFICATION_MAX
from decisions import audit_trail, explanations, selectors
from decisions import runs as run_services
from decisions.errors import DecisionError
from decisions.models import RescoreRun


class ExportForm(forms.Form):
    since = forms.DateField(
        label=gettext_lazy("From (UTC day)"), widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label=gettext_lazy("To (UTC day, included)"), widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("since") and data.get("until") and data["until"] < data["since"]:
            raise forms.ValidationError(_("The end of the range is before its start."))
        return data


class RevertForm(forms.Form):
    justification = forms.CharField(
        label=gettext_lazy("Why is this run reverted?"),
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=JUSTIFICATION_MAX,
    )
    confirm = forms.BooleanField(
        label=gettext_lazy(
            "I understand: every account this run changed gets a new decision restoring "
            "its previous limit, unless it changed again since."
        )
    )


@require_GET
@requires(perms.OPEN_RUNS)
def runs(request: HttpRequest) -> HttpResponse:
    signals = request.GET.get("show") == "signals"
    context: dict[str, Any] = {"runs": selectors.recent_runs(signals=signals), "signals": signals}
    if signals:
        context["summary"] = selectors.signal_rescores(since=timezone.now() - timedelta(hours=24))
    return render(request, "decisions/runs.html", context)


def _run_or_404(run_id: int) -> RescoreRun:
    run = selectors.run_detail(run_id)
    if run is None:
        raise Http404("No such run.")
    return run


@require_GET
@requires(perms.OPEN_RUNS)
def run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    return _render_run(request, _run_or_404(run_id))


def _progress_context(run: RescoreRun) -> dict[str, Any]:
    failed = run.state == RescoreRun.State.FAILED
    return {
        "run": run,
        "failures": failures.failures_of(run.failures),
        "stop": selectors.run_stop(run) if failed else None,
        "workers": selectors.run_workers(run),
    }


def _render_run(
    request: HttpRequest, run: RescoreRun, revert_form: RevertForm | None = None
) -> HttpResponse:
    preview = selectors.run_preview(run) if run.state == RescoreRun.State.WAITING else None
    return render(
        request,
        "decisions/run.html",
        {**_progress_context(run), "preview": preview, "revert_form": revert_form or RevertForm()},
    )


@require_GET
@requires(perms.OPEN_RUNS)
def run_progress(request: HttpRequest, run_id: int) -> HttpResponse:
    """The live part of the run page, polled by HTMX while the run moves."""
    return render(request, "decisions/run.html#progress", _progress_context(_run_or_404(run_id)))


@require_POST
@requires(perms.START_RESCORE)
def run_retry(request: HttpRequest, run_id: int) -> HttpResponse:
    """Take up a failed run where it stopped; what it applied stays."""
    run = _run_or_404(run_id)
    try:
        run_services.run_retry(run_id=run.pk, actor=request.user)
    except DecisionError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("Retrying: the run goes on from where it stopped."))
    return redirect("decisions:run", run_id=run.pk)


@require_http_methods(["GET", "POST"])
@requires(perms.START_RESCORE)
def run_start(request: HttpRequest) -> HttpResponse:
    """A whole-portfolio run, once the person has read what it will do and confirmed."""
    if request.method == "POST":
        if request.POST.get("confirm") != "1":
            messages.error(request, _("Confirm the run on this page to start it."))
        else:
            try:
                run = run_services.run_start(trigger="button", started_by=request.user)
            except DecisionError as error:
                messages.error(request, str(error))
            else:
                messages.success(request, _("Run #%(run)s started.") % {"run": run.pk})
                return redirect("decisions:run", run_id=run.pk)
    return render(request, "decisions/run_start.html", {"plan": selectors.portfolio_run_plan()})


@require_POST
@requires(perms.START_RESCORE)
def run_decide(request: HttpRequest, run_id: int) -> HttpResponse:
    """Approve or discard a run held by the circuit breaker."""
    run = _run_or_404(run_id)
    choice = request.POST.get("decision")
    if choice not in ("approve", "discard"):
        messages.error(request, _("Choose to approve the run or to discard it."))
        return redirect("decisions:run", run_id=run.pk)
    approve = choice == "approve"
    try:
        if approve:
            run_services.run_approve(run_id=run.pk, actor=request.user)
        else:
            run_services.run_discard(run_id=run.pk, actor=request.user)
    except DecisionError as error:
        messages.error(request, str(error))
    else:
        messages.success(
            request,
            _("Approved: the run applies its decisions now.")
            if approve
            else _("Discarded: nothing was applied."),
        )
    return redirect("decisions:run", run_id=run.pk)


@require_POST
@requires(perms.START_RESCORE)
def run_revert(request: HttpRequest, run_id: int) -> HttpResponse:
    run = _run_or_404(run_id)
    form = RevertForm(request.POST)
    if form.is_valid():
        try:
            run_services.run_revert_request(
                run_id=run.pk, actor=request.user, justification=form.cleaned_data["justification"]
            )
        except DecisionError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, _("The revert is running; this page shows when it is done."))
            return redirect("decisions:run", run_id=run.pk)
    return _render_run(request, run, revert_form=form)


class RevealFilterForm(forms.Form):
    """The audit page's filters of the reveals (docs/architecture.md, "Lists")."""

    person = forms.ChoiceField(label=gettext_lazy("Person"), required=False)
    account = forms.CharField(
        label=gettext_lazy("Account reference (or its start)"), required=False, max_length=32
    )
    revealed_from = forms.DateField(
        label=gettext_lazy("Revealed from (UTC day)"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    revealed_to = forms.DateField(
        label=gettext_lazy("Revealed until (UTC day, included)"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    FIELDS = ("person", "account", "revealed_from", "revealed_to")

    def __init__(self, *args: Any, people: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        person = self.fields["person"]
        assert isinstance(person, forms.ChoiceField)
        person.choices = [("", _("anyone")), *((name, name) for name in people)]
        for name in ("revealed_from", "revealed_to"):
            self.fields[name].input_formats = ["%Y-%m-%d"]  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        since, until = data.get("revealed_from"), data.get("revealed_to")
        if since and until and until < since:
            raise forms.ValidationError(_("The end of the range is before its start."))
        return data

    def filters(self) -> account_selectors.RevealFilters:
        data = self.cleaned_data
        return account_selectors.RevealFilters(
            username=data["person"],
            reference=data["account"].strip(),
            since=data["revealed_from"],
            until=data["revealed_to"],
        )


def _reveal_filter_form(request: HttpRequest) -> RevealFilterForm:
    return RevealFilterForm(
        request.GET, people=account_selectors.reveal_people(), auto_id="reveals_%s"
    )


def _render_audit(request: HttpRequest, form: ExportForm) -> HttpResponse:
    reveal_form = _reveal_filter_form(request)
    reveals = (
        account_selectors.personal_data_reveals(reveal_form.filters())
        if reveal_form.is_valid()
        else []
    )
    return render(
        request,
        "decisions/audit.html",
        {
            "reveals": reveals,
            "reveal_form": reveal_form,
            "reveal_query": _reveal_query(request),
            "reveals_filtered": any(request.GET.get(name) for name in RevealFilterForm.FIELDS),
            "searches": account_selectors.personal_data_searches(),
            "user_changes": account_selectors.user_changes(),
            "export_form": form,
        },
    )


def _reveal_query(request: HttpRequest) -> str:
    """The query string of the reveals' filters alone, encoded."""
    params = QueryDict(mutable=True)
    for name in RevealFilterForm.FIELDS:
        if value := request.GET.get(name, "").strip():
            params[name] = value
    return params.urlencode()


@require_GET
@requires(perms.EXPORT_AUDIT)
def reveals_export(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    """The reveals of the current filters as CSV, streamed, the export logged."""
    form = _reveal_filter_form(request)
    if not form.is_valid():
        today = timezone.localdate()
        return _render_audit(
            request, ExportForm(initial={"since": today - timedelta(days=30), "until": today})
        )
    query = _reveal_query(request)
    export = account_services.list_export_record(
        user=request.user, page=SavedFilter.Page.REVEALS, query=query
    )
    rows = (
        (at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"), username, reference, purpose)
        for at, username, reference, purpose in account_selectors.personal_data_reveal_rows(
            form.filters()
        )
    )
    return csv_export.csv_response(
        filename=f"reveals-{timezone.now():%Y%m%d-%H%M%S}.csv",
        header=[_("Revealed at (UTC)"), _("Who"), _("Account"), _("Purpose")],
        rows=rows,
        on_done=lambda count: account_services.list_export_finish(export_id=export.pk, rows=count),
    )


@require_GET
@requires(perms.OPEN_AUDIT)
def audit(request: HttpRequest) -> HttpResponse:
    today = timezone.localdate()
    form = ExportForm(initial={"since": today - timedelta(days=30), "until": today})
    return _render_audit(request, form)


@require_GET
@requires(perms.EXPORT_AUDIT)
def audit_export(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    """The decisions of a date range as CSV, streamed (auditors)."""
    form = ExportForm(request.GET)
    if not form.is_valid():
        return _render_audit(request, form)
    since, until = form.cleaned_data["since"], form.cleaned_data["until"]
    response = StreamingHttpResponse(
        audit_trail.decisions_csv(since, until), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="decisions-{since}-{until}.csv"'
    return response


@require_GET
@requires(perms.OPEN_ACCOUNTS)
def decision_detail(request: HttpRequest, decision_id: int) -> HttpResponse:
    decision = selectors.decision_with_links(decision_id)
    if decision is None:
        raise Http404("No such decision.")
    signals = getattr(decision.account, "signals", None)
    current = signals.as_dict() if signals else None
    catalogue = explanations.reason_catalogue(decision.reasons)

    def explain(language: str, with_current: bool) -> explanations.Explanation:
        return explanations.decision_explanation(
            decision,
            language=language,
            catalogue=catalogue,
            current_signals=current if with_current else None,
        )

    why = explain(get_language() or "en", True)
    return render(
        request,
        "decisions/decision.html",
        {
            "decision": decision,
            "why": why,
            "contributions_chart": charts.contributions_chart(why.contributions),
            # docs/architecture.md, "Notices: the register"
            "notice_status": selectors.decision_notice(decision),
            "notices": [
                (code, label, explain(code, False))
                for code, label in (("zh-hans", "简体中文"), ("en", "English"))
            ],
            "previous": selectors.decision_neighbour(decision, before=True),
            "next": selectors.decision_neighbour(decision, before=False),
        },
    )

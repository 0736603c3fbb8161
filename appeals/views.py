from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    QueryDict,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language, gettext_lazy, ngettext
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accounts import permissions as perms
from accounts import selectors as account_selectors
from accounts import services as account_services
from accounts.access import may, requires
from accounts.models import SavedFilter
from accounts.templatetags.desk import money
from appeals import (
    evidence_files,
    feedback,
    forms,
    outcomes,
    responses,
    review_requests,
    selectors,
    services,
    steering,
    workflow,
)
from appeals.models import Appeal
from config import charts, csv_export
from config.requests import HtmxHttpRequest
from decisions import explanations
from decisions import selectors as decision_selectors

# Decisions of the account shown on the workbench; older ones load on demand.
HISTORY_ROWS = 10


def _queue_filters(data: dict[str, Any]) -> selectors.QueueFilters:
    return selectors.QueueFilters(
        view=data["view"],
        category=data["category"],
        priority=data["priority"],
        channel=data["channel"],
        sla=data["sla"],
        snoozed=data["snoozed"],
        reason=data["reason"],
    )


@require_GET
@requires(perms.OPEN_APPEALS)
def queue(request: HtmxHttpRequest) -> HttpResponse:
    form = forms.QueueFilterForm(request.GET)
    page = selectors.QueuePage([], False, 1, selectors.queue_view(request.user, ""))
    if form.is_valid():
        data = form.cleaned_data
        page = selectors.appeal_queue(
            _queue_filters(data), user=request.user, page=data["page"] or 1
        )
    params = request.GET.copy()
    params.pop("page", None)
    is_lead = may(request.user, perms.LEAD_APPEALS)
    template = "appeals/queue.html#results" if request.htmx else "appeals/queue.html"
    return render(
        request,
        template,
        {
            "form": form,
            "page": page,
            "view": page.view,
            "params": params.urlencode(),
            "bulk_form": forms.BulkForm(workers=selectors.appeal_workers()) if is_lead else None,
            "labels": selectors.close_label_counts() if not request.htmx else [],
            "label_days": selectors.LABEL_DAYS,
        },
    )


EXPORT_HEADER = (
    gettext_lazy("Appeal"),
    gettext_lazy("Account"),
    gettext_lazy("Received (UTC)"),
    gettext_lazy("SLA due (UTC)"),
    gettext_lazy("Due"),
    gettext_lazy("Limit before (CNY)"),
    gettext_lazy("Limit after (CNY)"),
    gettext_lazy("Change"),
    gettext_lazy("Requested limit (CNY)"),
    gettext_lazy("Contested for"),
    gettext_lazy("Category"),
    gettext_lazy("Channel"),
    gettext_lazy("Priority"),
    gettext_lazy("State"),
    gettext_lazy("Assignee"),
    gettext_lazy("Snoozed until (UTC)"),
)


def _utc(moment: Any) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if moment else ""


@require_GET
@requires(perms.OPEN_APPEALS)
def queue_export(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    """The queue of the current filter as CSV, streamed: what the page shows the same
    person (a handler's export holds their own and the unassigned), no statement or
    other personal data; logged as a ListExport (docs/architecture.md, "Lists")."""
    form = forms.QueueFilterForm(request.GET)
    if not form.is_valid():
        messages.error(
            request,
            _("The filter is not valid, so nothing was exported: %(problems)s")
            % {"problems": " ".join(str(e) for errors in form.errors.values() for e in errors)},
        )
        return redirect("appeals:queue")
    params = request.GET.copy()
    params.pop("page", None)
    export = account_services.list_export_record(
        user=request.user, page=SavedFilter.Page.APPEALS, query=params.urlencode()
    )
    filters = _queue_filters(form.cleaned_data)
    # Worded now: the rows are written after the view returns.
    words: dict[str, dict[Any, str]] = {
        kind: {value: str(label) for value, label in choices}
        for kind, choices in (
            ("category", Appeal.Category.choices),
            ("channel", Appeal.Channel.choices),
            ("priority", Appeal.Priority.choices),
            ("state", Appeal.State.choices),
        )
    }

    def rows() -> Iterator[tuple[Any, ...]]:
        for row in selectors.queue_export_rows(filters, user=request.user):
            appeal = row.appeal
            yield (
                appeal.pk,
                appeal.account.reference,
                _utc(appeal.created_at),
                _utc(appeal.sla_due),
                str(row.due),
                row.limit_before,
                row.limit_after,
                row.change,
                appeal.requested_limit,
                "; ".join(str(r) for r in row.reasons),
                words["category"].get(appeal.category, appeal.category),
                words["channel"].get(appeal.channel, appeal.channel),
                words["priority"].get(appeal.priority, appeal.priority),
                words["state"].get(appeal.state, appeal.state),
                appeal.assignee.username if appeal.assignee else "",
                _utc(row.snoozed_until),
            )

    return csv_export.csv_response(
        filename=f"appeals-{timezone.now():%Y%m%d-%H%M%S}.csv",
        header=[str(title) for title in EXPORT_HEADER],
        rows=rows(),
        on_done=lambda count: account_services.list_export_finish(export_id=export.pk, rows=count),
    )


def _back_to_queue(query: str) -> HttpResponse:
    """The queue with the filters the person had (only the queue's own parameters)."""
    params = QueryDict(query or "", mutable=True)
    kept = QueryDict(mutable=True)
    for name in forms.QueueFilterForm.base_fields:
        value = params.get(name)
        if isinstance(value, str) and value:
            kept[name] = value
    url = reverse("appeals:queue")
    return redirect(f"{url}?{kept.urlencode()}" if kept else url)


@require_POST
@requires(perms.LEAD_APPEALS)
def bulk(request: HttpRequest) -> HttpResponse:
    """A lead's action on the appeals ticked in the queue: all of them or none."""
    form = forms.BulkForm(request.POST, workers=selectors.appeal_workers())
    back = request.POST.get("query", "")
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
        return _back_to_queue(back)
    data = form.cleaned_data
    assignee = selectors.appeal_worker(data["assignee"]) if data.get("assignee") else None
    try:
        result = steering.appeals_bulk(
            lead=request.user,
            appeal_ids=data["appeals"],
            action=data["action"],
            assignee=assignee,
            until=data.get("until"),
        )
    except workflow.AppealError as error:
        messages.error(request, str(error))
        return _back_to_queue(back)
    count = len(result.appeals)
    if result.action == "assign":
        assert assignee is not None
        text = ngettext(
            "%(count)d appeal assigned to %(name)s.",
            "%(count)d appeals assigned to %(name)s.",
            count,
        ) % {"count": count, "name": assignee.username}
    elif result.action == "snooze":
        text = ngettext(
            "%(count)d appeal snoozed until %(day)s.",
            "%(count)d appeals snoozed until %(day)s.",
            count,
        ) % {"count": count, "day": data["until"].isoformat()}
    else:
        text = ngettext(
            "%(count)d appeal back in the queue.", "%(count)d appeals back in the queue.", count
        ) % {"count": count}
    messages.success(request, text)
    return _back_to_queue(back)


@require_POST
@requires(perms.WORK_APPEALS)
def claim_next(request: HttpRequest) -> HttpResponse:
    try:
        appeal = services.appeal_claim_next(handler=request.user)
    except workflow.AppealError as error:
        messages.error(request, str(error))
        return redirect("appeals:queue")
    if appeal is None:
        messages.info(request, _("No unassigned appeal is waiting. Well done."))
        return redirect("appeals:queue")
    messages.success(request, _("Appeal #%(number)s is yours.") % {"number": appeal.pk})
    return redirect("appeals:detail", appeal_id=appeal.pk)


@require_GET
@requires(perms.OPEN_APPEALS)
def detail(request: HttpRequest, appeal_id: int) -> HttpResponse:
    return _render_detail(request, _appeal_or_404(appeal_id))


def _appeal_or_404(appeal_id: int) -> Appeal:
    appeal = selectors.appeal_detail(appeal_id)
    if appeal is None:
        raise Http404("No such appeal.")
    return appeal


def _render_detail(
    request: HttpRequest,
    appeal: Appeal,
    *,
    decide_form: forms.DecideForm | None = None,
    preview: responses.ResponsePreview | None = None,
    reject_form: forms.RejectForm | None = None,
) -> HttpResponse:
    """The workbench: the statement and evidence beside the contested decision's
    explanation and the account's recent history."""
    why = (
        explanations.decision_explanation(
            appeal.decision,
            language=get_language() or "en",
            current_signals=selectors.account_signals(appeal.account_id),
        )
        if appeal.decision
        else None
    )
    pending_warning = (
        responses.recut_warning(appeal.account, appeal.outcome_limit)
        if appeal.outcome_pending
        and appeal.outcome in (Appeal.Outcome.PARTIAL, Appeal.Outcome.FULL)
        and appeal.outcome_limit
        else None
    )
    return render(
        request,
        "appeals/detail.html",
        {
            "appeal": appeal,
            "account": appeal.account,
            "why": why,
            "contributions_chart": charts.contributions_chart(why.contributions) if why else None,
            "timeline": decision_selectors.account_timeline(appeal.account_id, limit=HISTORY_ROWS),
            "note_form": forms.NoteForm(),
            "decide_form": decide_form or forms.DecideForm(),
            "preview": preview,
            "workers": selectors.appeal_workers() if may(request.user, perms.LEAD_APPEALS) else [],
            "sent_back": selectors.sent_back(appeal),
            "snooze_form": forms.SnoozeForm(),
            "close_form": forms.CloseForm(initial={"close_label": appeal.close_label}),
            "reject_form": reject_form or forms.RejectForm(),
            "pending_warning": pending_warning,
            "snoozed": appeal.snoozed_until is not None and appeal.snoozed_until > timezone.now(),
        },
    )


@require_POST
@requires(perms.WORK_APPEALS)
def decide(request: HttpRequest, appeal_id: int) -> HttpResponse:
    """First the customer response preview (zh-Hans and en), then the decision."""
    appeal = _appeal_or_404(appeal_id)
    form = forms.DecideForm(request.POST)
    if not form.is_valid():
        return _render_detail(request, appeal, decide_form=form)
    data = form.cleaned_data
    verified = {
        "monthly_income": data["verified_monthly_income"],
        "provident_fund": data["provident_fund_verified"],
        "assets": data["verified_assets"],
    }
    if request.POST.get("confirm") != "1":
        try:
            preview = responses.response_preview(
                appeal, outcome=data["outcome"], limit=data["limit"], verified=verified
            )
        except ValueError as error:
            form.add_error(None, str(error))
            return _render_detail(request, appeal, decide_form=form)
        return _render_detail(request, appeal, decide_form=form, preview=preview)
    try:
        result = outcomes.appeal_decide(
            appeal_id=appeal.pk,
            actor=request.user,
            outcome=data["outcome"],
            justification=data["justification"],
            limit=data["limit"],
            verified=verified if data["outcome"] == Appeal.Outcome.REEVALUATED else None,
            close_label=data["close_label"],
        )
    except workflow.AppealError as error:
        form.add_error(None, str(error))
        return _render_detail(request, appeal, decide_form=form)
    decided = result.appeal
    if decided.outcome in (Appeal.Outcome.PARTIAL, Appeal.Outcome.FULL) and decided.outcome_limit:
        warning = responses.recut_warning(decided.account, decided.outcome_limit)
        if warning is not None:
            messages.warning(request, recut_message(warning))
    if result.pending:
        messages.info(
            request, _("The restoration waits for the approval of an appeal lead other than you.")
        )
    else:
        messages.success(request, _("Decided; the outcome is on the account's history."))
    return redirect("appeals:detail", appeal_id=appeal.pk)


@require_POST
@requires(perms.LEAD_APPEALS)
def approve_outcome(request: HttpRequest, appeal_id: int) -> HttpResponse:
    choice = request.POST.get("decision")
    if choice not in ("approve", "reject"):
        messages.error(request, _("Choose to approve the outcome or to send it back."))
        return redirect("appeals:detail", appeal_id=appeal_id)
    approve = choice == "approve"
    try:
        if approve:
            outcomes.appeal_outcome_approve(appeal_id=appeal_id, lead=request.user)
        else:
            outcomes.appeal_outcome_reject(
                appeal_id=appeal_id, lead=request.user, note=request.POST.get("note", "")
            )
    except workflow.AppealError as error:
        if approve:
            messages.error(request, str(error))
        else:
            # Refused: the lead's text stays in the form, the reason beside it.
            reject_form = forms.RejectForm({"note": request.POST.get("note", "")})
            reject_form.is_valid()
            reject_form.add_error("note", str(error))
            return _render_detail(request, _appeal_or_404(appeal_id), reject_form=reject_form)
    else:
        messages.success(
            request, _("Approved and applied.") if approve else _("Sent back to the handler.")
        )
    return redirect("appeals:detail", appeal_id=appeal_id)


MOVES: dict[str, Callable[..., Appeal]] = {
    "request_info": services.appeal_request_info,
    "customer_replied": services.appeal_customer_replied,
    "escalate": services.appeal_escalate,
    "withdraw": services.appeal_withdraw,
}


@require_POST
@requires(perms.WORK_APPEALS)
def move(request: HttpRequest, appeal_id: int) -> HttpResponse:
    """One of the workbench's steps; a refused step says why and changes nothing."""
    step = MOVES.get(request.POST.get("move", ""))
    form = forms.NoteForm(request.POST)
    if step is None or not form.is_valid():
        messages.error(request, _("Choose a step and keep the note under 2,000 characters."))
        return redirect("appeals:detail", appeal_id=appeal_id)
    try:
        step(appeal_id=appeal_id, actor=request.user, note=form.cleaned_data["note"])
    except workflow.AppealError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("Done; the step is on the appeal's timeline."))
    return redirect("appeals:detail", appeal_id=appeal_id)


@require_POST
@requires(perms.LEAD_APPEALS)
def assign(request: HttpRequest, appeal_id: int) -> HttpResponse:
    chosen = request.POST.get("assignee", "")
    assignee = selectors.appeal_worker(int(chosen)) if chosen.isdigit() else None
    if assignee is None:
        messages.error(request, _("Choose who takes the appeal."))
        return redirect("appeals:detail", appeal_id=appeal_id)
    try:
        services.appeal_assign(appeal_id=appeal_id, assignee=assignee, lead=request.user)
    except workflow.AppealError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("Reassigned to %(name)s.") % {"name": assignee.username})
    return redirect("appeals:detail", appeal_id=appeal_id)


@require_POST
@requires(perms.OPEN_ACCOUNTS, perms.RECORD_APPEALS)
def intake(request: HttpRequest, reference: str) -> HttpResponse:
    """Staff record an appeal for a caller, from the account page."""
    account = account_selectors.account_with_signals(reference)
    if account is None:
        raise Http404("No account with this reference.")
    form = forms.IntakeForm(request.POST)
    if not form.is_valid():
        errors = "; ".join(
            f"{form.fields[name].label}: {' '.join(str(p) for p in problems)}"
            for name, problems in form.errors.items()
            if name in form.fields
        )
        messages.error(request, errors)
        return redirect("accounts:detail", reference=reference)
    data = form.cleaned_data
    try:
        result = services.appeal_intake(
            account=account,
            actor=request.user,
            channel=data["channel"],
            category=data["category"],
            statement=data["statement"],
            decision_id=data["decision"],
            requested_limit=data["requested_limit"],
            priority=data["priority"],
        )
    except workflow.AppealError as error:
        messages.error(request, str(error))
        return redirect("accounts:detail", reference=reference)
    if result.duplicate:
        messages.info(
            request,
            _("This decision already has open appeal #%(number)s; the call was added to it.")
            % {"number": result.appeal.pk},
        )
    elif (assignee := result.appeal.assignee) is not None:
        messages.success(
            request,
            _("Appeal #%(number)s recorded and given to %(who)s.")
            % {"number": result.appeal.pk, "who": assignee.get_username()},
        )
    else:
        messages.success(request, _("Appeal #%(number)s recorded.") % {"number": result.appeal.pk})
    return redirect("appeals:detail", appeal_id=result.appeal.pk)


@require_POST
@requires(perms.OPEN_ACCOUNTS, perms.RECORD_APPEALS)
def review_request(request: HttpRequest, reference: str) -> HttpResponse:
    """Staff record a customer's request for an explanation or a human review of an
    automated decision, from the account page (docs/architecture.md, "Human review on
    request"). Refused input comes back as a message on the account page."""
    account = account_selectors.account_with_signals(reference)
    if account is None:
        raise Http404("No account with this reference.")
    form = forms.ReviewRequestForm(request.POST)
    if not form.is_valid():
        messages.error(
            request, " ".join(str(p) for problems in form.errors.values() for p in problems)
        )
        return redirect(f"{reverse('accounts:detail', args=[reference])}#review-request")
    data = form.cleaned_data
    try:
        result = review_requests.review_request_record(
            account=account,
            actor=request.user,
            kind=data["kind"],
            view=data["view"],
            channel=data["channel"],
            decision_id=data["decision"],
        )
    except workflow.AppealError as error:
        messages.error(request, str(error))
        return redirect(f"{reverse('accounts:detail', args=[reference])}#review-request")
    appeal = result.appeal
    if result.duplicate:
        messages.info(
            request,
            _(
                "This decision already has open review request #%(number)s; "
                "the call was added to it."
            )
            % {"number": appeal.pk},
        )
    else:
        messages.success(
            request,
            _("Review request #%(number)s recorded; due %(due)s UTC.")
            % {
                "number": appeal.pk,
                "due": appeal.sla_due.astimezone(UTC).strftime("%Y-%m-%d %H:%M"),
            },
        )
    return redirect("appeals:detail", appeal_id=appeal.pk)


@require_POST
@requires(perms.WORK_APPEALS)
def evidence_upload(request: HttpRequest, appeal_id: int) -> HttpResponse:
    try:
        item = evidence_files.evidence_add(
            appeal_id=appeal_id, actor=request.user, upload=request.FILES.get("file")
        )
    except workflow.AppealError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("%(name)s added.") % {"name": item.name})
    return redirect("appeals:detail", appeal_id=appeal_id)


@require_GET
@requires(perms.OPEN_APPEALS)
def evidence_file(request: HttpRequest, evidence_id: int) -> FileResponse:
    """The file, to staff who may open appeals only; its type is the one checked on
    upload, never guessed, and the browser is told not to sniff or cache it."""
    item = selectors.evidence_item(evidence_id)
    if item is None:
        raise Http404("No such evidence.")
    path = evidence_files.evidence_path(item.stored_as)
    if not path.is_file():
        raise Http404("The stored file is missing.")
    response = FileResponse(
        path.open("rb"), content_type=item.content_type, as_attachment=False, filename=item.name
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    response["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; sandbox"
    return response


@requires(perms.LEAD_APPEALS)
def sla_targets(request: HttpRequest) -> HttpResponse:
    """A lead sets how many hours each category of appeal may take."""
    if request.method == "POST":
        form = forms.SlaTargetsForm(request.POST)
        if form.is_valid():
            try:
                services.sla_targets_set(lead=request.user, hours=form.cleaned_data)
            except workflow.AppealError as error:
                form.add_error(None, str(error))
            else:
                messages.success(request, _("SLA targets saved; new appeals use them."))
                return redirect("appeals:sla")
    else:
        form = forms.SlaTargetsForm(initial=selectors.sla_targets())
    return render(
        request,
        "appeals/sla.html",
        {
            "form": form,
            "labels": selectors.close_label_counts(),
            "label_days": selectors.LABEL_DAYS,
        },
    )


def recut_message(warning: responses.RecutWarning) -> str:
    """The guardrail's warning, in words (the same on the preview and after confirming)."""
    when = (
        warning.next_run.strftime("%Y-%m-%d %H:%M UTC")
        if warning.next_run
        else _("its next scheduled time")
    )
    if warning.closes:
        return _(
            "The active policy (version %(version)s) would close this line: the nightly "
            "re-score on %(when)s would undo this restoration, unless the line is frozen."
        ) % {"version": warning.policy_version, "when": when}
    return _(
        "The active policy (version %(version)s) keeps at most %(kept)s for this account "
        "(band %(band)s, ceiling %(ceiling)s): the nightly re-score on %(when)s would cut "
        "the restored %(restored)s again, unless the line is frozen."
    ) % {
        "version": warning.policy_version,
        "kept": money(warning.kept),
        "band": warning.band,
        "ceiling": money(warning.ceiling),
        "when": when,
        "restored": money(warning.restored),
    }


@require_POST
@requires(perms.WORK_APPEALS)
def snooze(request: HttpRequest, appeal_id: int) -> HttpResponse:
    """The assignee (or a lead) sets the appeal aside until a date, or brings it back."""
    try:
        if request.POST.get("action") == "unsnooze":
            steering.appeal_unsnooze(appeal_id=appeal_id, actor=request.user)
            messages.success(request, _("The appeal is back in the queue."))
        else:
            form = forms.SnoozeForm(request.POST)
            if not form.is_valid():
                raise workflow.AppealError(" ".join(str(e) for e in form.errors.get("until", [])))
            until = form.cleaned_data["until"]
            steering.appeal_snooze(appeal_id=appeal_id, actor=request.user, until=until)
            messages.success(
                request,
                _("Snoozed until %(day)s; it leaves the queue until then.")
                % {"day": until.isoformat()},
            )
    except workflow.AppealError as error:
        messages.error(request, str(error))
    return redirect("appeals:detail", appeal_id=appeal_id)


@require_POST
@requires(perms.WORK_APPEALS)
def close(request: HttpRequest, appeal_id: int) -> HttpResponse:
    """Close a decided appeal, saying what it showed."""
    form = forms.CloseForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose what the appeal showed."))
        return redirect("appeals:detail", appeal_id=appeal_id)
    try:
        outcomes.appeal_close(
            appeal_id=appeal_id,
            actor=request.user,
            close_label=form.cleaned_data["close_label"],
            note=form.cleaned_data["note"],
        )
    except workflow.AppealError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("Closed."))
    return redirect("appeals:detail", appeal_id=appeal_id)


@requires(perms.LEAD_APPEALS)
def handlers(request: HttpRequest) -> HttpResponse:
    """A lead sees each handler's open appeals, cap, auto-assignment and time away,
    and edits one (`?edit=<user id>`)."""
    form: forms.HandlerProfileForm | None = None
    editing = None
    if request.method == "POST":
        chosen = request.POST.get("user", "")
        editing = selectors.appeal_worker(int(chosen)) if chosen.isdigit() else None
        form = forms.HandlerProfileForm(request.POST)
        if editing is None:
            messages.error(request, _("Choose a person who can work appeals."))
            return redirect("appeals:handlers")
        if form.is_valid():
            data = form.cleaned_data
            try:
                steering.handler_profile_save(lead=request.user, user=editing, **data)
            except workflow.AppealError as error:
                form.add_error(None, str(error))
            else:
                messages.success(request, _("Saved for %(name)s.") % {"name": editing.username})
                return redirect("appeals:handlers")
    elif request.GET.get("edit", "").isdigit():
        editing = selectors.appeal_worker(int(request.GET["edit"]))
        if editing is not None:
            profile = selectors.handler_profile(editing.pk)
            form = forms.HandlerProfileForm(
                initial={
                    "auto_assign": profile.auto_assign if profile else True,
                    "cap": profile.cap if profile else 15,
                    "away_from": profile.away_from if profile else None,
                    "away_until": profile.away_until if profile else None,
                }
            )
    return render(
        request,
        "appeals/handlers.html",
        {
            "rows": selectors.handler_rows(),
            "form": form,
            "editing": editing,
            "changes": selectors.handler_changes(),
            "auto_assign_on": settings.APPEAL_AUTO_ASSIGN,
        },
    )


@require_GET
@requires(perms.OPEN_POLICY)
def overturns(request: HttpRequest) -> HttpResponse:
    """Appeals as feedback, for the policy pages (which load it with HTMX: policies sit
    below appeals): with ?version=N that version's overturn rate by reason, without it
    the rate of each version (docs/architecture.md, "Appeals as feedback")."""
    raw = request.GET.get("version", "")
    if raw and not raw.isdigit():
        return HttpResponseBadRequest(_("A policy version is a whole number."))
    version = int(raw) if raw else None
    return render(
        request,
        "appeals/_overturns.html",
        {
            "version": version,
            "overturns": feedback.overturns_by_reason(policy_version=version)
            if version is not None
            else feedback.overturns_by_version(),
        },
    )

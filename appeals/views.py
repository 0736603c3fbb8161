from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accounts import permissions as perms
from accounts import selectors as account_selectors
from accounts.access import may, requires
from appeals import evidence_files, forms, outcomes, responses, selectors, services, workflow
from appeals.models import Appeal
from config import charts
from config.requests import HtmxHttpRequest
from decisions import explanations
from decisions import selectors as decision_selectors

# Decisions of the account shown on the workbench; older ones load on demand.
HISTORY_ROWS = 10


@require_GET
@requires(perms.OPEN_APPEALS)
def queue(request: HtmxHttpRequest) -> HttpResponse:
    form = forms.QueueFilterForm(request.GET)
    page = selectors.QueuePage([], False, 1, selectors.queue_view(request.user, ""))
    if form.is_valid():
        data = form.cleaned_data
        page = selectors.appeal_queue(
            selectors.QueueFilters(
                view=data["view"],
                category=data["category"],
                priority=data["priority"],
                channel=data["channel"],
                sla=data["sla"],
            ),
            user=request.user,
            page=data["page"] or 1,
        )
    params = request.GET.copy()
    params.pop("page", None)
    template = "appeals/queue.html#results" if request.htmx else "appeals/queue.html"
    return render(
        request,
        template,
        {"form": form, "page": page, "view": page.view, "params": params.urlencode()},
    )


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
        )
    except workflow.AppealError as error:
        form.add_error(None, str(error))
        return _render_detail(request, appeal, decide_form=form)
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
        messages.error(request, str(error))
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
    else:
        messages.success(request, _("Appeal #%(number)s recorded.") % {"number": result.appeal.pk})
    return redirect("appeals:detail", appeal_id=result.appeal.pk)


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
    return render(request, "appeals/sla.html", {"form": form})

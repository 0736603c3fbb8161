"""The pages that span apps: the overview, the worker's status, the account list and
the account page with its actions, each of which calls the app that owns it
(docs/architecture.md, "Apps")."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST
from kombu.exceptions import OperationalError as KombuOperationalError
from redis.exceptions import RedisError

from accounts import forms, masking, selectors
from accounts import permissions as perms
from accounts import services as account_services
from accounts.access import LOG_CONTACTS, may, requires, staff_only
from accounts.models import Account, SavedFilter
from accounts.signal_spec import SIGNALS
from appeals import feedback as appeal_feedback
from appeals import forms as appeal_forms
from appeals import selectors as appeal_selectors
from config import charts, csv_export
from config.requests import HtmxHttpRequest
from decisions import errors, explanations, overrides, runs
from decisions import selectors as decision_selectors
from decisions.reason_labels import REASON_LABELS, reason_label
from decisions.tasks import record_heartbeat
from desk import my_work
from desk.contact_form import ContactForm

logger = logging.getLogger(__name__)


def _account_or_404(reference: str) -> Account:
    account = selectors.account_with_signals(reference)
    if account is None:
        raise Http404("No account with this reference.")
    return account


@require_GET
@requires(perms.OPEN_OVERVIEW)
def overview(request: HttpRequest) -> HttpResponse:
    language = get_language() or "en"
    changes = decision_selectors.changes_per_day(days=30)
    return render(
        request,
        "accounts/overview.html",
        {
            "figures": selectors.portfolio_figures(),
            "changes": changes,
            "changes_chart": charts.changes_per_day_chart(changes.days, changes.by_action),
            "top_reasons": decision_selectors.top_reasons(days=7, language=language),
            "appeals": appeal_selectors.open_appeal_figures(),
            # docs/architecture.md, "Appeals as feedback": one query on an index
            "overturns": appeal_feedback.recent_overturns(),
            "runs": decision_selectors.runs_in_progress(),
            "watch": decision_selectors.watch_list(),
            "worker": decision_selectors.worker_status(),
            "now": timezone.now(),
        },
    )


@require_GET
@requires(perms.OPEN_OVERVIEW)
def worker_status(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "accounts/overview.html#worker-status",
        {"worker": decision_selectors.worker_status(), "now": timezone.now()},
    )


@require_POST
@requires(perms.CHECK_WORKER)
def worker_check(request: HttpRequest) -> HttpResponse:
    """Ask a worker for a heartbeat; the status panel shows when it arrives."""
    queue_down = False
    try:
        # celery-types does not know delay_on_commit (Celery 5.4+) yet.
        record_heartbeat.delay_on_commit(  # type: ignore[attr-defined]
            source="button", requested_at=timezone.now().isoformat()
        )
    except (KombuOperationalError, RedisError) as error:
        # Redis away: say so on the panel instead of failing the page (one line, no
        # traceback: nothing is wrong with the program).
        logger.warning("heartbeat not queued: the broker cannot be reached: %s", error)
        queue_down = True
    return render(
        request,
        "accounts/overview.html#worker-status",
        {
            "worker": decision_selectors.worker_status(),
            "now": timezone.now(),
            "checking": not queue_down,
            "queue_down": queue_down,
        },
    )


def _account_filters(
    request: HttpRequest,
) -> tuple[forms.AccountFilterForm, selectors.AccountFilters | None]:
    """The list's search and filters from the query string; None when they are bad
    (the form says which). A phone search beyond the mask is logged here (and may be
    refused), for the list and its export alike."""
    form = forms.AccountFilterForm(
        request.GET,
        reasons=explanations.reason_choices(get_language() or "en"),
        may_reveal=may(request.user, perms.REVEAL_PERSONAL_DATA),
    )
    if form.is_valid() and (lookup := form.phone_lookup()):
        try:
            account_services.personal_data_search_record(
                user=request.user,
                query=form.cleaned_data["q"],
                whole_number=lookup.kind == masking.PhoneQuery.FULL,
            )
        except account_services.SearchRefused as error:
            form.add_error("q", str(error))
    if not form.is_valid():
        return form, None
    data = form.cleaned_data
    return form, selectors.AccountFilters(
        query=data["q"],
        band=data["band"],
        status=data["status"],
        changed_days=data["changed_days"],
        reason=data["reason"],
        in_cooldown=data["cooldown"],
        sort=data["sort"] or "reference",
    )


@require_GET
@requires(perms.OPEN_ACCOUNTS)
def account_list(request: HtmxHttpRequest) -> HttpResponse:
    form, filters = _account_filters(request)
    if filters is not None:
        page = selectors.account_search(filters, page=form.cleaned_data["page"] or 1)
        count = selectors.account_count(filters, page)
    else:
        # Bad parameters: say which, and show no rows rather than guess.
        page = selectors.AccountPage(accounts=[], has_next=False, page=1)
        count = None
    for account in page.accounts:
        account.reason_labels = [reason_label(code) for code in account.last_reasons]  # type: ignore[attr-defined]
    params = request.GET.copy()
    params.pop("page", None)
    template = "accounts/list.html#results" if request.htmx else "accounts/list.html"
    try:
        filter_query = account_services.list_query(params.urlencode())
    except account_services.SavedFilterError:
        filter_query = ""  # too long to keep; the save says so
    return render(
        request,
        template,
        {
            "page": page,
            "form": form,
            "params": params.urlencode(),
            "filter_query": filter_query or params.urlencode(),
            "count": count,
            "export_max": selectors.EXPORT_MAX_ROWS,
        },
    )


EXPORT_HEADER = (
    gettext_lazy("Reference"),
    gettext_lazy("Name (masked)"),
    gettext_lazy("Phone (masked)"),
    gettext_lazy("Status"),
    gettext_lazy("Band"),
    gettext_lazy("Score"),
    gettext_lazy("Limit (CNY)"),
    gettext_lazy("Limit last changed (UTC)"),
    gettext_lazy("In cool-down"),
    gettext_lazy("Latest reasons"),
    gettext_lazy("Latest reason codes"),
)


@require_GET
@requires(perms.OPEN_ACCOUNTS)
def account_export(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    """The accounts of the current search and filters as CSV, streamed; names and
    phones masked for every role, the export logged (docs/architecture.md, "Lists")."""
    form, filters = _account_filters(request)
    if filters is None:
        messages.error(
            request,
            _("The filter is not valid, so nothing was exported: %(problems)s")
            % {"problems": " ".join(str(e) for errors in form.errors.values() for e in errors)},
        )
        return redirect("accounts:list")
    params = request.GET.copy()
    params.pop("page", None)
    export = account_services.list_export_record(
        user=request.user, page=SavedFilter.Page.ACCOUNTS, query=params.urlencode()
    )
    statuses = dict(Account.Status.choices)
    now = timezone.now()
    yes, no = _("yes"), _("no")
    # Worded now: the rows are written after the view returns.
    labels = {code: str(label) for code, label in REASON_LABELS.items()}

    def rows() -> Iterator[tuple[Any, ...]]:
        for (
            reference,
            name,
            phone,
            status,
            band,
            score,
            limit,
            changed_at,
            cooldown_until,
            reasons,
        ) in selectors.account_export_rows(filters):
            yield (
                reference,
                masking.mask_name(name),
                masking.mask_phone(phone),
                statuses.get(status, status),
                band,
                score,
                limit,
                changed_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if changed_at else "",
                yes if cooldown_until is not None and cooldown_until > now else no,
                "; ".join(labels.get(code, code) for code in reasons),
                " ".join(reasons),
            )

    return csv_export.csv_response(
        filename=f"accounts-{now:%Y%m%d-%H%M%S}.csv",
        header=[str(title) for title in EXPORT_HEADER],
        rows=rows(),
        on_done=lambda count: account_services.list_export_finish(export_id=export.pk, rows=count),
    )


# Saved filters (docs/architecture.md, "Lists"): where each list page lives. The
# page comes from this table, never from the request, so no redirect leaves the site.
LIST_PAGE_URLS = {
    SavedFilter.Page.ACCOUNTS: "accounts:list",
    SavedFilter.Page.APPEALS: "appeals:queue",
    SavedFilter.Page.REVEALS: "decisions:audit",
}


def _may_keep_filters(request: HttpRequest) -> None:
    """Saved filters are for people who may open one of the list pages."""
    if not any(may(request.user, p) for p in account_services.LIST_PAGE_PERMISSIONS.values()):
        raise PermissionDenied


def _back_to_list(page: str, query: str) -> HttpResponse:
    url = reverse(LIST_PAGE_URLS[SavedFilter.Page(page)])
    try:
        query = account_services.list_query(query)
    except account_services.SavedFilterError:
        query = ""
    return HttpResponseRedirect(f"{url}?{query}" if query else url)


@require_POST
@staff_only
def saved_filter_save(request: HttpRequest) -> HttpResponse:
    """Keep the list page's current filter under a name, and go back to it."""
    _may_keep_filters(request)
    page = request.POST.get("page", "")
    if page not in SavedFilter.Page.values:
        return HttpResponseBadRequest(_("There is no such list to save a filter of."))
    if not may(request.user, account_services.LIST_PAGE_PERMISSIONS[SavedFilter.Page(page)]):
        raise PermissionDenied
    query = request.POST.get("query", "")
    name = request.POST.get("name", "")
    try:
        saved = account_services.saved_filter_save(
            user=request.user, page=page, name=name, query=query
        )
    except account_services.SavedFilterError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("Filter “%(name)s” saved.") % {"name": saved.name})
    return _back_to_list(page, query)


@require_POST
@staff_only
def saved_filter_delete(request: HttpRequest, filter_id: int) -> HttpResponse:
    """Delete one of one's own saved filters (another's is 404), and go back."""
    _may_keep_filters(request)
    try:
        saved = account_services.saved_filter_delete(user=request.user, filter_id=filter_id)
    except SavedFilter.DoesNotExist:
        raise Http404("No such saved filter of yours.") from None
    messages.success(request, _("Filter “%(name)s” deleted.") % {"name": saved.name})
    return _back_to_list(saved.page, request.POST.get("query", ""))


@require_GET
@requires(perms.OPEN_ACCOUNTS)
def account_detail(request: HttpRequest, reference: str) -> HttpResponse:
    return _render_account(request, _account_or_404(reference))


def _timeline_before(request: HttpRequest) -> int | None:
    try:
        before = int(request.GET.get("before", ""))
    except ValueError:
        return None
    return before if before > 0 else None


def _render_account(
    request: HttpRequest,
    account: Account,
    *,
    override_form: forms.OverrideForm | None = None,
    freeze_form: forms.FreezeForm | None = None,
    note_form: forms.NoteForm | None = None,
    contact_form: ContactForm | None = None,
    reveal_form: forms.RevealForm | None = None,
    revealed: bool = False,
) -> HttpResponse:
    """The account page; forms with errors come back in place (status 200)."""
    signals = getattr(account, "signals", None)
    rows = (
        [{"spec": spec, "value": getattr(signals, spec.name)} for spec in SIGNALS]
        if signals
        else []
    )
    before = _timeline_before(request)
    timeline = decision_selectors.account_timeline(account.pk, before=before)
    appeals = appeal_selectors.account_appeals(account.pk)
    newest = (
        timeline.decisions[0]
        if before is None and timeline.decisions
        else decision_selectors.latest_decision(account.pk)
    )
    explained, contested_in = _explained_decision(request, account, appeals, newest)
    why = (
        explanations.decision_explanation(
            explained,
            language=get_language() or "en",
            current_signals=signals.as_dict() if signals else None,
        )
        if explained
        else None
    )
    trend = decision_selectors.score_limit_trend(account.pk)
    pending = decision_selectors.pending_overrides(account.pk)
    return render(
        request,
        "accounts/detail.html",
        {
            "account": account,
            "revealed": revealed,
            "signal_rows": rows,
            "timeline": timeline,
            "why": why,
            "contested_in": contested_in,
            "latest_id": newest.pk if newest else None,
            "limit_set": None if why else explanations.limit_as_set(account),
            "contributions_chart": charts.contributions_chart(why.contributions) if why else None,
            # docs/architecture.md, "The account page on a call"
            "trend": trend,
            "trend_chart": charts.score_limit_trend_chart(
                trend, now=timezone.now(), score_now=account.score, limit_now=account.current_limit
            )
            if trend
            else None,
            "band_rank": selectors.band_rank(account),
            # docs/architecture.md, "Decrease protection"
            "protection": appeal_feedback.decrease_protection(account),
            **_contacts(request, account),
            "contact_form": contact_form or ContactForm(auto_id="contact_%s"),
            # The appeal intake contests the decision the page explains.
            "intake_decision": why.decision if why else None,
            # docs/architecture.md, "Notices: the register"
            "notice_status": decision_selectors.decision_notice(explained) if explained else None,
            "pending": pending,
            "approvers": decision_selectors.override_approvers() if pending else [],
            "overrides_sent_back": my_work.override_rejections_on_account(account.pk, request.user),
            "appeals": appeals,
            "rescore": decision_selectors.latest_account_run(account.pk),
            "notes": selectors.account_notes(account.pk),
            "override_form": override_form
            or forms.OverrideForm(initial={"version": account.version}),
            "freeze_form": freeze_form or forms.FreezeForm(initial={"version": account.version}),
            "note_form": note_form or forms.NoteForm(),
            "reveal_form": reveal_form or forms.RevealForm(auto_id="reveal_%s"),
            "intake_form": appeal_forms.IntakeForm(auto_id="intake_%s"),
            # docs/architecture.md, "Human review on request"
            "review_form": appeal_forms.ReviewRequestForm(auto_id="review_%s"),
        },
    )


def _contacts(request: HttpRequest, account: Account) -> dict[str, Any]:
    """The contact log: the latest CONTACTS_SHOWN, or every entry with ?contacts=all."""
    if request.GET.get("contacts") == "all":
        return {"contacts": selectors.account_contacts(account.pk, limit=None)}
    shown = selectors.CONTACTS_SHOWN
    contacts = selectors.account_contacts(account.pk, limit=shown + 1)
    return {"contacts": contacts[:shown], "contacts_more": len(contacts) > shown}


def _explained_decision(
    request: HttpRequest, account: Account, appeals: list[Any], newest: Any
) -> tuple[Any, Any]:
    """The decision the page explains, and the open appeal contesting it if any: the one
    picked from the timeline (?decision=), else the one an open appeal contests, else
    the newest. A decision of another account is 404."""
    raw = request.GET.get("decision", "")
    contesting = {a.decision_id: a for a in appeals if a.is_open and a.decision_id}
    if raw:
        picked = (
            decision_selectors.account_decision(account.pk, int(raw)) if raw.isdigit() else None
        )
        if picked is None:
            raise Http404("No such decision on this account.")
        return picked, contesting.get(picked.pk)
    for appeal in appeals:  # newest first
        if appeal.is_open and appeal.decision is not None:
            return appeal.decision, appeal
    return newest, None


@require_GET
@requires(perms.OPEN_ACCOUNTS)
def account_timeline(request: HttpRequest, reference: str) -> HttpResponse:
    """Older decisions for the timeline, appended by HTMX ("Load older decisions")."""
    account = _account_or_404(reference)
    timeline = decision_selectors.account_timeline(account.pk, before=_timeline_before(request))
    return render(
        request,
        "decisions/_timeline.html#timeline-rows",
        {"account": account, "timeline": timeline},
    )


@require_GET
@requires(perms.OPEN_ACCOUNTS)
def account_rescore_status(request: HttpRequest, reference: str) -> HttpResponse:
    """The re-score panel, polled by HTMX until the worker has finished."""
    account = _account_or_404(reference)
    return render(
        request,
        "accounts/detail.html#rescore-status",
        {"account": account, "rescore": decision_selectors.latest_account_run(account.pk)},
    )


@require_POST
@requires(perms.OPEN_ACCOUNTS, LOG_CONTACTS)
def account_contact(request: HtmxHttpRequest, reference: str) -> HttpResponse:
    """Log a call, message or letter with the customer (append-only); with HTMX the form
    comes back in place and the log is swapped out of band."""
    account = _account_or_404(reference)
    form = ContactForm(request.POST, auto_id="contact_%s")
    added = False
    if form.is_valid():
        data = form.cleaned_data
        try:
            account_services.contact_log_add(
                account=account,
                author=request.user,
                channel=data["channel"],
                direction=data["direction"],
                summary=data["summary"],
                at=data["at"],
            )
        except account_services.ContactLogError as error:
            form.add_error(error.field if error.field in form.fields else None, str(error))
        else:
            added = True
            form = ContactForm(auto_id="contact_%s")
            if not request.htmx:
                messages.success(request, _("Contact logged."))
                return redirect(reverse("accounts:detail", args=[account.reference]) + "#contacts")
    if request.htmx:
        return render(
            request,
            "accounts/_contact_response.html",
            {
                "account": account,
                "contact_form": form,
                "contact_added": added,
                **(_contacts(request, account) if added else {}),
            },
        )
    return _render_account(request, account, contact_form=form)


@require_POST
@requires(perms.OPEN_ACCOUNTS, perms.WRITE_NOTES)
def account_note(request: HtmxHttpRequest, reference: str) -> HttpResponse:
    account = _account_or_404(reference)
    form = forms.NoteForm(request.POST)
    if form.is_valid():
        try:
            account_services.account_note_add(
                account=account, author=request.user, text=form.cleaned_data["text"]
            )
        except account_services.NoteError as error:
            form.add_error("text", str(error))
        else:
            form = forms.NoteForm()
            if not request.htmx:
                messages.success(request, _("Note added."))
                return redirect("accounts:detail", reference=account.reference)
    if request.htmx:
        return render(
            request,
            "accounts/detail.html#notes",
            {"account": account, "notes": selectors.account_notes(account.pk), "note_form": form},
        )
    return _render_account(request, account, note_form=form)


@require_POST
@requires(perms.OPEN_ACCOUNTS, perms.REVEAL_PERSONAL_DATA)
def account_reveal(request: HttpRequest, reference: str) -> HttpResponse:
    """Show the unmasked personal data once; every reveal is logged."""
    account = _account_or_404(reference)
    form = forms.RevealForm(request.POST, auto_id="reveal_%s")
    if form.is_valid():
        try:
            account_services.personal_data_reveal(
                account=account, user=request.user, purpose=form.purpose_text()
            )
        except account_services.RevealRefused as error:
            form.add_error("detail", str(error))
        else:
            return _render_account(request, account, revealed=True)
    return _render_account(request, account, reveal_form=form)


@require_POST
@requires(perms.OPEN_ACCOUNTS, perms.PROPOSE_OVERRIDE)
def account_override(request: HttpRequest, reference: str) -> HttpResponse:
    account = _account_or_404(reference)
    form = forms.OverrideForm(request.POST)
    if form.is_valid():
        try:
            result = overrides.account_override_limit(
                account_id=account.pk,
                expected_version=form.cleaned_data["version"],
                new_limit=form.cleaned_data["new_limit"],
                actor=request.user,
                justification=form.cleaned_data["justification"],
            )
        except errors.DecisionError as error:
            form.add_error(None, str(error))
        else:
            if result.pending:
                messages.info(request, _("The override waits for a second person's approval."))
            else:
                messages.success(request, _("The limit was changed; the decision is recorded."))
            return redirect("accounts:detail", reference=account.reference)
    account.refresh_from_db()
    return _render_account(request, account, override_form=form)


@require_POST
@requires(perms.OPEN_ACCOUNTS, perms.PROPOSE_OVERRIDE)
def account_freeze(request: HttpRequest, reference: str) -> HttpResponse:
    account = _account_or_404(reference)
    form = forms.FreezeForm(request.POST)
    if form.is_valid():
        try:
            overrides.account_set_frozen(
                account_id=account.pk,
                expected_version=form.cleaned_data["version"],
                frozen=account.status != Account.Status.FROZEN,
                actor=request.user,
                justification=form.cleaned_data["justification"],
            )
        except errors.DecisionError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, _("Done; the decision is recorded."))
            return redirect("accounts:detail", reference=account.reference)
    account.refresh_from_db()
    return _render_account(request, account, freeze_form=form)


@require_POST
@requires(perms.OPEN_ACCOUNTS, perms.APPROVE_OVERRIDE)
def override_decide(request: HttpRequest, reference: str, request_id: int) -> HttpResponse:
    account = _account_or_404(reference)
    if not decision_selectors.override_request_of_account(account.pk, request_id):
        raise Http404("No such override request on this account.")
    choice = request.POST.get("decision")
    if choice not in ("approve", "reject"):
        messages.error(request, _("Choose to approve or to reject the override."))
        return redirect("accounts:detail", reference=account.reference)
    approve = choice == "approve"
    try:
        if approve:
            overrides.override_approve(request_id=request_id, approver=request.user)
        else:
            overrides.override_reject(
                request_id=request_id, approver=request.user, reason=request.POST.get("reason", "")
            )
    except errors.DecisionError as error:
        messages.error(request, str(error))
    else:
        messages.success(
            request, _("Override approved and applied.") if approve else _("Override rejected.")
        )
    return redirect("accounts:detail", reference=account.reference)


@require_POST
@requires(perms.OPEN_ACCOUNTS, perms.START_RESCORE)
def account_rescore(request: HttpRequest, reference: str) -> HttpResponse:
    account = _account_or_404(reference)
    try:
        run = runs.run_start(trigger="button", started_by=request.user, account_id=account.pk)
    except errors.DecisionError as error:
        messages.error(request, str(error))
    else:
        messages.success(
            request, _("Re-score queued as run #%(run)s on the worker.") % {"run": run.pk}
        )
    return redirect("accounts:detail", reference=account.reference)


# --------------------------------------------------------------------------
# My work (docs/architecture.md, "My work")


def _for_people_with_work(request: HttpRequest) -> None:
    """My work is for the roles that can have something waiting (desk.my_work); every
    role opens the overview, so `requires(OPEN_OVERVIEW)` only asks for a signed-in role."""
    if not my_work.has_work(request.user):
        raise PermissionDenied


@require_GET
@requires(perms.OPEN_OVERVIEW)
def my_work_page(request: HttpRequest) -> HttpResponse:
    _for_people_with_work(request)
    groups = my_work.my_work(request.user)
    total = sum(group.count for group in groups)
    return render(
        request,
        "desk/my_work.html",
        {
            "groups": groups,
            "total": total,
            "sent_back_days": my_work.SENT_BACK_DAYS,
            "my_work_nav": my_work.NavCount(request.user, count=total),
        },
    )


@require_GET
def my_work_count(request: HttpRequest) -> HttpResponse:
    """The navigation's count, polled by HTMX: a few indexed COUNTs. A plain GET, so
    it never extends the session; once the session has ended it answers 401 instead of
    the login page, which htmx would otherwise swap into the navigation."""
    if not request.user.is_authenticated:
        return HttpResponse(status=401)
    _for_people_with_work(request)
    return render(
        request,
        "desk/my_work_count.html",
        {"my_work_nav": my_work.NavCount(request.user)},
    )

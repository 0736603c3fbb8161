"""The pages that span apps: the overview, the worker's status, the account list and
the account page with its actions, each of which calls the app that owns it
(docs/architecture.md, "Apps")."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST
from kombu.exceptions import OperationalError as KombuOperationalError
from redis.exceptions import RedisError

from accounts import forms, masking, selectors
from accounts import permissions as perms
from accounts import services as account_services
from accounts.access import may, requires
from accounts.models import Account
from accounts.signal_spec import SIGNALS
from appeals import forms as appeal_forms
from appeals import selectors as appeal_selectors
from config import charts
from config.requests import HtmxHttpRequest
from decisions import errors, explanations, overrides, runs
from decisions import selectors as decision_selectors
from decisions.tasks import record_heartbeat

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


@require_GET
@requires(perms.OPEN_ACCOUNTS)
def account_list(request: HtmxHttpRequest) -> HttpResponse:
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
    if form.is_valid():
        data = form.cleaned_data
        filters = selectors.AccountFilters(
            query=data["q"],
            band=data["band"],
            status=data["status"],
            changed_days=data["changed_days"],
            reason=data["reason"],
            in_cooldown=data["cooldown"],
            sort=data["sort"] or "reference",
        )
        page = selectors.account_search(filters, page=data["page"] or 1)
    else:
        # Bad parameters: say which, and show no rows rather than guess.
        page = selectors.AccountPage(accounts=[], has_next=False, page=1)
    params = request.GET.copy()
    params.pop("page", None)
    template = "accounts/list.html#results" if request.htmx else "accounts/list.html"
    return render(request, template, {"page": page, "form": form, "params": params.urlencode()})


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
    history = decision_selectors.limit_history(account.pk)
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
            "history": history,
            "history_chart": charts.limit_history_chart(
                history, today=timezone.now(), limit_now=account.current_limit
            )
            if history
            else None,
            "pending": pending,
            "approvers": decision_selectors.override_approvers() if pending else [],
            "appeals": appeals,
            "rescore": decision_selectors.latest_account_run(account.pk),
            "notes": selectors.account_notes(account.pk),
            "override_form": override_form
            or forms.OverrideForm(initial={"version": account.version}),
            "freeze_form": freeze_form or forms.FreezeForm(initial={"version": account.version}),
            "note_form": note_form or forms.NoteForm(),
            "intake_form": appeal_forms.IntakeForm(auto_id="intake_%s"),
        },
    )


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
    account_services.personal_data_reveal(account=account, user=request.user)
    return _render_account(request, account, revealed=True)


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
            overrides.override_reject(request_id=request_id, approver=request.user)
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

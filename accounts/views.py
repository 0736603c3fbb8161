from __future__ import annotations

import logging

from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import get_language
from django.views.decorators.http import require_GET, require_POST
from kombu.exceptions import OperationalError as KombuOperationalError
from redis.exceptions import RedisError

from accounts import selectors
from accounts.models import Account
from accounts.signal_spec import SIGNALS
from config.requests import HtmxHttpRequest
from decisions import selectors as decision_selectors
from decisions.tasks import record_heartbeat

logger = logging.getLogger(__name__)


def _get_account_for_user(request: HttpRequest, reference: str) -> Account:
    """The account, for a user allowed to review accounts; 404 when it does not exist."""
    if not request.user.has_perm("accounts.open_accounts"):
        raise PermissionDenied
    account = selectors.account_with_signals(reference)
    if account is None:
        raise Http404("No account with this reference.")
    return account


@require_GET
@login_required
@permission_required("accounts.open_overview", raise_exception=True)
def overview(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "accounts/overview.html",
        {
            "figures": selectors.portfolio_figures(),
            "worker": decision_selectors.worker_status(),
            "now": timezone.now(),
        },
    )


@require_GET
@login_required
@permission_required("accounts.open_overview", raise_exception=True)
def worker_status(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "accounts/overview.html#worker-status",
        {"worker": decision_selectors.worker_status(), "now": timezone.now()},
    )


@require_POST
@login_required
@permission_required("accounts.open_overview", raise_exception=True)
def worker_check(request: HttpRequest) -> HttpResponse:
    """Ask a worker for a heartbeat; the status panel shows when it arrives."""
    queue_down = False
    try:
        # celery-types does not know delay_on_commit (Celery 5.4+) yet.
        record_heartbeat.delay_on_commit(  # type: ignore[attr-defined]
            source="button", requested_at=timezone.now().isoformat()
        )
    except (KombuOperationalError, RedisError):
        # Redis away: say so on the panel instead of failing the page.
        logger.warning("heartbeat not queued: the broker cannot be reached", exc_info=True)
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
@login_required
@permission_required("accounts.open_accounts", raise_exception=True)
def account_list(request: HtmxHttpRequest) -> HttpResponse:
    query = request.GET.get("q", "")
    try:
        page_number = int(request.GET.get("page", "1"))
    except ValueError:
        page_number = 1
    page = selectors.account_search(query=query, page=page_number)
    template = "accounts/list.html#results" if request.htmx else "accounts/list.html"
    return render(request, template, {"page": page, "query": query})


@require_GET
@login_required
def account_detail(request: HttpRequest, reference: str) -> HttpResponse:
    account = _get_account_for_user(request, reference)
    signals = getattr(account, "signals", None)
    rows = (
        [{"spec": spec, "value": getattr(signals, spec.name)} for spec in SIGNALS]
        if signals
        else []
    )
    timeline = decision_selectors.account_timeline(account.pk)
    why = (
        decision_selectors.decision_explanation(
            timeline[0],
            language=get_language() or "en",
            current_signals=signals.as_dict() if signals else None,
        )
        if timeline
        else None
    )
    return render(
        request,
        "accounts/detail.html",
        {"account": account, "signal_rows": rows, "timeline": timeline, "why": why},
    )

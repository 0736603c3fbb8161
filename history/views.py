"""Pages of the portfolio history: thin, a selector or a service each."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accounts import permissions as perms
from accounts.access import may, requires
from history import backtests, drift
from history import readout as history_readout
from history import selectors as monitoring_selectors
from history.models import DriftAlert
from policies import selectors as policy_selectors
from policies.models import Policy
from policies.services import PolicyAdminError

# --------------------------------------------------------------------------
# Monitoring (docs/architecture.md, "The Monitoring page and drift alerts")


@require_GET
@requires(perms.OPEN_MONITORING)
def monitoring(request: HttpRequest) -> HttpResponse:
    """Stability against the baseline, run-over-run drift, performance on realized
    outcomes and fairness, from the snapshots' stored figures."""
    context = monitoring_selectors.monitoring(
        current_on=request.GET.get("current"),
        baseline_on=request.GET.get("baseline"),
        horizon=request.GET.get("horizon"),
    )
    context["may_acknowledge"] = may(request.user, perms.EDIT_POLICY)
    return render(request, "history/monitoring.html", context)


@require_POST
@requires(perms.EDIT_POLICY)
def acknowledge_alert(request: HttpRequest, alert_id: int) -> HttpResponse:
    """A policy admin records that they have seen a drift alert."""
    try:
        drift.acknowledge_alert(alert_id=alert_id, user=request.user)
    except DriftAlert.DoesNotExist as missing:
        raise Http404 from missing
    except drift.AlertError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("Alert acknowledged."))
    return redirect(reverse("history:monitoring") + "#alerts")


# --------------------------------------------------------------------------
# Back-tests (docs/architecture.md, "Back-testing a draft")


def _policy_or_404(version: int) -> Policy:
    found = policy_selectors.policy_version(version)
    if found is None:
        raise Http404("No such policy version.")
    return found


def _backtest_page(
    request: HttpRequest, policy: Policy, *, chosen: Any = None, months: Any = None
) -> HttpResponse:
    choices = backtests.snapshot_choices()
    default = backtests.default_choice(choices)
    return render(
        request,
        "history/backtests.html",
        {
            "version": policy,
            "choices": choices,
            "chosen": _int_or(chosen, default.snapshot.pk if default else None),
            "months": _int_or(months, max(default.matured) if default else None),
            "horizons": backtests.HORIZONS,
            "backtests": backtests.backtests_of(policy),
            "startable": policy.state in backtests.BACKTESTABLE
            and may(request.user, perms.EDIT_POLICY),
        },
    )


def _int_or(value: Any, fallback: int | None) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return fallback


@requires(perms.OPEN_POLICY)
def backtest_start(request: HttpRequest, version: int) -> HttpResponse:
    """GET: this version's back-tests and the form to start one; POST: start one."""
    policy = _policy_or_404(version)
    if request.method == "GET":
        return _backtest_page(request, policy)
    if request.method != "POST":
        return HttpResponseNotAllowed(["GET", "POST"])
    if not may(request.user, perms.EDIT_POLICY):
        raise PermissionDenied
    chosen, months = request.POST.get("snapshot"), request.POST.get("months")
    try:
        backtest = backtests.backtest_start(
            version=version, snapshot_id=chosen, months=months, actor=request.user
        )
    except PolicyAdminError as error:
        messages.error(request, str(error))
        return _backtest_page(request, policy, chosen=chosen, months=months)
    messages.success(request, _("Back-test started: the worker replays both versions."))
    return redirect("history:backtest", version=version, backtest_id=backtest.pk)


def _backtest_context(version: int, backtest_id: int) -> dict[str, Any]:
    policy = _policy_or_404(version)
    found = backtests.backtest_of(policy, backtest_id)
    if found is None:
        raise Http404("No such back-test of this version.")
    return {"version": policy, "view": backtests.backtest_view(found)}


@require_GET
@requires(perms.OPEN_POLICY)
def backtest_detail(request: HttpRequest, version: int, backtest_id: int) -> HttpResponse:
    return render(request, "history/backtest.html", _backtest_context(version, backtest_id))


@require_GET
@requires(perms.OPEN_POLICY)
def backtest_panel(request: HttpRequest, version: int, backtest_id: int) -> HttpResponse:
    """The results panel, polled by HTMX while the worker replays the snapshot."""
    return render(request, "history/backtest.html#results", _backtest_context(version, backtest_id))


# --------------------------------------------------------------------------
# Champion-challenger readout (docs/architecture.md, "Champion-challenger readout")


@require_GET
@requires(perms.OPEN_POLICY)
def readout(request: HttpRequest) -> HttpResponse:
    candidate = policy_selectors.version_in_rollout()
    return render(
        request,
        "history/readout.html",
        {
            "candidate": candidate,
            "readout": history_readout.readout(candidate) if candidate else None,
            "min_months": history_readout.MIN_MONTHS,
            "min_accounts": history_readout.MIN_ACCOUNTS,
        },
    )

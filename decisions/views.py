from __future__ import annotations

from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from decisions import selectors


@require_GET
@login_required
@permission_required("accounts.open_runs", raise_exception=True)
def runs(request: HttpRequest) -> HttpResponse:
    return render(request, "decisions/runs.html", {"runs": selectors.recent_runs()})


@require_GET
@login_required
@permission_required("accounts.open_policy", raise_exception=True)
def policy(request: HttpRequest) -> HttpResponse:
    return render(request, "decisions/policy.html")


@require_GET
@login_required
@permission_required("accounts.open_audit", raise_exception=True)
def audit(request: HttpRequest) -> HttpResponse:
    return render(request, "decisions/audit.html")

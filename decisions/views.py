from __future__ import annotations

from django.contrib.auth.decorators import login_required, permission_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import get_language
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


@require_GET
@login_required
@permission_required("accounts.open_accounts", raise_exception=True)
def decision_detail(request: HttpRequest, decision_id: int) -> HttpResponse:
    decision = selectors.decision_with_links(decision_id)
    if decision is None:
        raise Http404("No such decision.")
    signals = getattr(decision.account, "signals", None)
    current = signals.as_dict() if signals else None
    catalogue = selectors.reason_catalogue(decision.reasons)

    def explain(language: str, with_current: bool) -> selectors.Explanation:
        return selectors.decision_explanation(
            decision, language=language, catalogue=catalogue,
            current_signals=current if with_current else None,
        )  # fmt: skip

    return render(
        request,
        "decisions/decision.html",
        {
            "decision": decision,
            "why": explain(get_language() or "en", True),
            "notices": [
                (code, label, explain(code, False))
                for code, label in (("zh-hans", "简体中文"), ("en", "English"))
            ],
            "previous": selectors.decision_neighbour(decision, before=True),
            "next": selectors.decision_neighbour(decision, before=False),
        },
    )

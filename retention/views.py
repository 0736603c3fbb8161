"""The Retention page: the periods in force and what the last prunes removed
(read-only; docs/architecture.md, "Retention")."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts import permissions as perms
from accounts.access import requires
from retention import selectors


@require_GET
@requires(perms.OPEN_AUDIT)
def index(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "retention/index.html",
        {
            "periods": selectors.retention_overview(),
            "prunes": selectors.prunes_recent(),
            "idempotency_days": settings.SIGNAL_EVENT_IDEMPOTENCY_DAYS,
            "batch_size": settings.RETENTION_BATCH_SIZE,
        },
    )

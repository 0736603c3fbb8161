from __future__ import annotations

from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET


@require_GET
@login_required
@permission_required("accounts.open_appeals", raise_exception=True)
def queue(request: HttpRequest) -> HttpResponse:
    return render(request, "appeals/queue.html")

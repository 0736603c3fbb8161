"""Log every call to the integration API with the key's name."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from api.models import ApiKey
from api.services import api_call_record
from config import metrics

API_PREFIX = "/api/v1/"
NOT_LOGGED = ("/api/v1/docs", "/api/v1/openapi.json")


class ApiCallLog:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(API_PREFIX) or request.path.startswith(NOT_LOGGED):
            return self.get_response(request)
        started = time.perf_counter()
        response = self.get_response(request)
        key = getattr(request, "auth", None)
        if not isinstance(key, ApiKey):
            key = None
        metrics.API_CALLS.labels(key.name if key else "none", str(response.status_code)).inc()
        api_call_record(
            key=key,
            method=request.method or "",
            path=request.path,
            status=response.status_code,
            milliseconds=int((time.perf_counter() - started) * 1000),
        )
        return response

"""Every request: an id, one log line and its metrics (docs/architecture.md,
"Metrics and logs").

The id is the caller's X-Request-ID when it is a sane token (a load balancer or
proxy that set one keeps its id through our lines), else a new one; the response
carries it back. While the request is answered every log line names it and its
user (config/logs.py); at the end one line says what was answered and how fast,
and the request counters and latency histogram (config/metrics.py) are counted
by view name, so their labels stay few whatever the ids in the URLs.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from config import metrics
from config.logs import current_request

logger = logging.getLogger("limitdesk.request")

REQUEST_ID_HEADER = "X-Request-ID"
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{8,64}")
# Requests answered before any URL was matched (a redirect to HTTPS, a 404).
UNMATCHED = "unmatched"
# Files WhiteNoise serves before any URL is matched.
STATIC = "static"
STATIC_PATH = "/" + settings.STATIC_URL.lstrip("/")


def request_id_of(request: HttpRequest) -> str:
    given = request.headers.get(REQUEST_ID_HEADER, "")
    return given if SANE_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


def view_name(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    if match is None:
        return STATIC if request.path.startswith(STATIC_PATH) else UNMATCHED
    return match.view_name or match._func_path or UNMATCHED


class RequestLog:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request_id_of(request)
        token = current_request.set((request_id, request))
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            seconds = time.perf_counter() - started
            view = view_name(request)
            metrics.REQUESTS.labels(view, request.method or "", str(response.status_code)).inc()
            metrics.REQUEST_SECONDS.labels(view).observe(seconds)
            response[REQUEST_ID_HEADER] = request_id
            logger.info(
                "%s %s %s %d ms",
                request.method,
                request.path,  # not the query: a search's terms may name a customer
                response.status_code,
                seconds * 1000,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "view": view,
                    "ms": round(seconds * 1000, 1),
                },
            )
            return response
        finally:
            current_request.reset(token)

"""A request that the database could not serve in time says so, and changed nothing.

The web process gives a statement waiting for a row lock a few seconds, and any
statement a little less than gunicorn's own timeout (config/wsgi.py). When one runs
out, PostgreSQL cancels it and the request's transaction rolls back whole: the
person reads that the record is busy and may try again, instead of a timeout page.
See docs/architecture.md, "Faults a person may meet".
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

logger = logging.getLogger(__name__)

LOCK_NOT_AVAILABLE = "55P03"
QUERY_CANCELED = "57014"
RETRY_AFTER_SECONDS = 5


def busy_error(exception: BaseException) -> bool:
    """A lock or statement timeout of PostgreSQL, as Django raises it."""
    cause = exception.__cause__
    state = getattr(cause, "sqlstate", None)
    return isinstance(exception, OperationalError) and state in {LOCK_NOT_AVAILABLE, QUERY_CANCELED}


class DatabaseBusy:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not busy_error(exception):
            return None
        logger.warning(
            "busy: %s %s gave up waiting: %s",
            request.method,
            request.path,
            str(exception).splitlines()[0],
        )
        match = request.resolver_match
        if match is not None and match.namespace == "accounts":
            message = _(
                "This account is busy: another change to it is still being written. "
                "Nothing was changed; try again in a moment."
            )
        else:
            message = _(
                "What you asked to change is busy: another change to it is still "
                "being written. Nothing was changed; try again in a moment."
            )
        # 409, not 5xx: the request was fine, the record was not free.
        if request.path.startswith("/api/"):
            response: HttpResponse = JsonResponse({"detail": message}, status=409)
        else:
            back = request.headers.get("Referer", "")
            if not url_has_allowed_host_and_scheme(back, {request.get_host()}):
                back = ""
            response = render(request, "busy.html", {"message": message, "back": back}, status=409)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

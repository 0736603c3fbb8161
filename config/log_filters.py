"""Logging filters used by settings.LOGGING."""

from __future__ import annotations

import logging


class ClientErrorsWithoutTraceback(logging.Filter):
    """A refused request (403, 404, 400) is logged as one warning line, not a traceback.

    Django attaches the exception it turned into a 4xx response (PermissionDenied when a
    role may not open a page) to the "Forbidden" warning; the traceback says nothing
    an operator needs and makes an expected refusal look like a crash. 5xx keep theirs.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if record.name.startswith("django.") and isinstance(status, int) and status < 500:
            record.exc_info = None
            record.exc_text = None
        return True

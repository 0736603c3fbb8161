"""Log lines as JSON, each with the request, the person and the run it belongs to
(docs/architecture.md, "Metrics and logs").

`RequestLog` (config/request_log.py) names the request being answered; the Celery
signals in config/celery.py name the task and its run. `WorkContext` copies them
onto every record, whoever logs it (Django, Celery, our code), and `JsonLines`
writes one JSON object per line: what a log shipper (Loki, Elasticsearch,
CloudWatch) parses without a pattern. LOG_FORMAT=plain gives the older one-line text.
"""

from __future__ import annotations

import contextvars
import json
import logging
from datetime import UTC, datetime
from typing import Any

from django.http import HttpRequest
from django.utils.functional import empty

# The request being answered in this thread, and the task and run being worked on.
current_request: contextvars.ContextVar[tuple[str, HttpRequest] | None] = contextvars.ContextVar(
    "current_request", default=None
)
current_task: contextvars.ContextVar[tuple[str, str, int | None] | None] = contextvars.ContextVar(
    "current_task", default=None
)

# What a record carries besides the message; "" when it does not apply.
CONTEXT_FIELDS = ("request_id", "user", "task", "task_id", "run_id")


def who(request: HttpRequest) -> str:
    """The person (username) or API key ("api:<name>") behind a request, if the request
    has already looked: a log line never loads a session."""
    key = getattr(request, "auth", None)
    name = getattr(key, "name", None)
    if isinstance(name, str):
        return f"api:{name}"
    user = request.__dict__.get("user")
    if user is None or getattr(user, "_wrapped", None) is empty:
        return ""
    return user.get_username() if user.is_authenticated else ""


class WorkContext(logging.Filter):
    """Adds request_id, user, task, task_id and run_id to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = current_request.get()
        task = current_task.get()
        values = {
            "request_id": request[0] if request else "",
            "user": who(request[1]) if request else "",
            "task": task[0] if task else "",
            "task_id": task[1] if task else "",
            "run_id": task[2] if task and task[2] is not None else "",
        }
        for name, value in values.items():
            if not getattr(record, name, ""):
                setattr(record, name, value)
        return True


# Attributes every LogRecord has; anything else passed as `extra` goes into the line.
STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    *CONTEXT_FIELDS,
}


class JsonLines(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message, the
    work context, any `extra` fields, and the traceback as `exc` when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, "")
            if value not in ("", None):
                line[name] = value
        for name, value in record.__dict__.items():
            if name not in STANDARD and not name.startswith("_"):
                line[name] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exc"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str, ensure_ascii=False)

"""Sending work to the Celery workers (docs/architecture.md, "The task queue").

Services send tasks by their registered name (`<app>.tasks.<function>`): the tasks
module imports its services, never the other way round. Tasks keep no result, so a
send fails within a second when Redis is away (config/settings.py); what became of
the work is the caller's to say.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from celery import current_app
from django.db import transaction
from kombu.exceptions import OperationalError as KombuOperationalError
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

# What sending raises when Redis cannot be reached.
QUEUE_ERRORS = (KombuOperationalError, RedisError)
Send = tuple[str, tuple[Any, ...]]  # a task's registered name and its arguments


def send(task_name: str, *args: Any) -> None:
    """Send the task now; QUEUE_ERRORS when the queue is away. As `Task.delay` does
    under CELERY_TASK_IGNORE_RESULT: no result is awaited, so nothing subscribes to one."""
    current_app.send_task(task_name, args=args, ignore_result=True)


def send_or_leave_to_watchdog(task_name: str, *args: Any) -> None:
    """Send the task; when the queue is away, log it and leave the work to the watchdog
    that queues stalled work again (its state is committed)."""
    try:
        send(task_name, *args)
    except QUEUE_ERRORS as error:
        logger.warning("%s%s not queued (the task queue is away): %s", task_name, args, error)


def enqueue(task_name: str, *args: Any) -> None:
    """Send a task once the surrounding transaction commits. For a worker's own next
    steps: a queue that is away then leaves them to the watchdog."""
    transaction.on_commit(functools.partial(send_or_leave_to_watchdog, task_name, *args))

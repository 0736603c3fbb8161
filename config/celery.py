"""The Celery application: Redis broker, JSON only, settings from Django."""

import os
from typing import Any

from celery import Celery
from celery.signals import task_postrun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("limitdesk")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_postrun.connect
def _forget_logged_queries(**_kwargs: Any) -> None:
    """With DEBUG on (`make run`) Django keeps every query's SQL on the connection,
    and a worker's connection lives for many tasks: a chunk's statements carry
    thousands of ids. A web request clears the log when it starts; a task does here
    (docs/architecture.md, "One code path with DEBUG on and off")."""
    from django.db import reset_queries

    reset_queries()

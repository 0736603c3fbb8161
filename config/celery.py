"""The Celery application: Redis broker, JSON only, settings from Django."""

import inspect
import os
from typing import Any

from celery import Celery, Task
from celery.signals import task_postrun, task_prerun, worker_init

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


def run_id_of(task: Task, args: Any, kwargs: Any) -> int | None:
    """The run a task works on: its `run_id` argument, given by position or name."""
    try:
        bound = inspect.signature(task.run).bind_partial(*(args or ()), **(kwargs or {}))
    except TypeError:
        return None
    run_id = bound.arguments.get("run_id")
    return run_id if isinstance(run_id, int) else None


@task_prerun.connect
def _name_the_work(task_id: str = "", task: Task | None = None, **kwargs: Any) -> None:
    """Every log line of the task names it and its run (config/logs.py)."""
    from config.logs import current_task

    if task is not None:
        run_id = run_id_of(task, kwargs.get("args"), kwargs.get("kwargs"))
        current_task.set((task.name, task_id, run_id))


@task_postrun.connect
def _work_done(**_kwargs: Any) -> None:
    from config.logs import current_task

    current_task.set(None)


@worker_init.connect
def _metrics_endpoint(**_kwargs: Any) -> None:
    """WORKER_METRICS_PORT: the worker answers Prometheus itself (config/metrics.py)."""
    from django.conf import settings

    from config import metrics

    if settings.WORKER_METRICS_PORT:
        metrics.worker_endpoint(
            port=settings.WORKER_METRICS_PORT, addr=settings.WORKER_METRICS_ADDR
        )

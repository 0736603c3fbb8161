"""The Celery application: Redis broker, JSON only, settings from Django."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("limitdesk")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

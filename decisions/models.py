from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class WorkerHeartbeat(models.Model):
    """A beat written by a Celery worker: proves web → Redis → worker → PostgreSQL."""

    class Source(models.TextChoices):
        BEAT = "beat", _("schedule")
        BUTTON = "button", _("check from the overview")
        TEST = "test", _("test")

    source = models.CharField(_("source"), max_length=8, choices=Source.choices)
    worker = models.CharField(_("worker"), max_length=200)
    requested_at = models.DateTimeField(_("requested at"))
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now, db_index=True)
    # A redelivered message (acks_late) must not write a second row.
    request_id = models.CharField(_("request id"), max_length=64, unique=True)

    class Meta:
        ordering = ["-recorded_at"]
        get_latest_by = "recorded_at"

    def __str__(self) -> str:
        return f"{self.worker} at {self.recorded_at:%Y-%m-%d %H:%M:%S}"

    @property
    def latency_seconds(self) -> float:
        return (self.recorded_at - self.requested_at).total_seconds()

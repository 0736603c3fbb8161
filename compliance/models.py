"""Regulatory evidence packs (docs/architecture.md, "Evidence pack")."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class EvidencePack(models.Model):
    """One pack for one period: built by a worker step by step, then kept as a zip
    under EVIDENCE_PACK_ROOT; its manifest (the SHA-256 of every file) is kept here too."""

    class State(models.TextChoices):
        QUEUED = "queued", _("queued")
        RUNNING = "running", _("building")
        DONE = "done", _("ready")
        FAILED = "failed", _("failed")

    period_from = models.DateField(_("from (UTC day)"))
    period_to = models.DateField(_("to (UTC day, included)"))
    state = models.CharField(_("state"), max_length=8, choices=State.choices, default="queued")
    steps_done = models.PositiveSmallIntegerField(default=0)
    steps_total = models.PositiveSmallIntegerField(default=0)
    step = models.CharField(max_length=40, blank=True)  # the step the worker is on
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, related_name="+")
    language = models.CharField(max_length=8, default="en")  # the report's
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    file_name = models.CharField(max_length=100, blank=True)  # under EVIDENCE_PACK_ROOT
    size = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(_("SHA-256 of the zip"), max_length=64, blank=True)
    manifest = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(period_to__gte=models.F("period_from")),
                name="evidence_pack_period_ordered",
            )
        ]

    def __str__(self) -> str:
        return f"evidence pack {self.pk} {self.period_from}–{self.period_to} ({self.state})"

    @property
    def progress_pct(self) -> int:
        if self.state == self.State.DONE:
            return 100
        if not self.steps_total:
            return 0
        return min(99, self.steps_done * 100 // self.steps_total)

    @property
    def building(self) -> bool:
        return self.state in {self.State.QUEUED, self.State.RUNNING}

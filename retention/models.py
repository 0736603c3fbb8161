"""The log of what retention removed: one row per category and prune, for auditors."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from retention import rules


class RetentionPrune(models.Model):
    """One category pruned once: its cutoff, how many records went, when, what started
    it. Append-only: a trigger (migration retention/0002) refuses UPDATE and DELETE,
    and the app's login may only insert (config/grants.py)."""

    class Category(models.TextChoices):
        API_CALLS = rules.API_CALLS, _("API call log")
        SIGNAL_EVENTS = rules.SIGNAL_EVENTS, _("signal events")
        APPEAL_EVIDENCE = rules.APPEAL_EVIDENCE, _("evidence files of closed appeals")
        REVEALS = rules.REVEALS, _("personal-data reveals and searches")
        NOTICES = rules.NOTICES, _("customer notices")

    class Trigger(models.TextChoices):
        BEAT = "beat", _("daily task")
        COMMAND = "command", _("command")

    category = models.CharField(_("records"), max_length=20, choices=Category.choices)
    days = models.PositiveIntegerField(_("kept for days"))
    cutoff = models.DateTimeField(_("removed if older than"))
    removed = models.BigIntegerField(_("records removed"))
    files_removed = models.PositiveIntegerField(_("files removed"), default=0)
    batches = models.PositiveIntegerField(_("batches"))
    trigger = models.CharField(_("started by"), max_length=8, choices=Trigger.choices)
    started_at = models.DateTimeField(_("started"))
    finished_at = models.DateTimeField(_("finished"), default=timezone.now)

    class Meta:
        ordering = ["-finished_at", "-id"]
        indexes = [models.Index(fields=["category", "-finished_at"], name="retention_latest")]

    def __str__(self) -> str:
        return f"{self.category}: {self.removed} before {self.cutoff:%Y-%m-%d}"

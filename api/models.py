"""Integration API: keys per upstream or downstream system, the log of every
call, and the signal events already taken (idempotency)."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Account

KEY_PREFIX = "ld"  # a key reads ld_<prefix>_<secret>


def key_hash(key: str) -> str:
    # The key is 32 random bytes: a plain SHA-256 cannot be brute-forced.
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKey(models.Model):
    """A key of one integration. Only a hash of the key is stored; the key is
    shown once, when it is created."""

    class Scope(models.TextChoices):
        SIGNALS_WRITE = "signals:write", _("send signal events")
        APPEALS_WRITE = "appeals:write", _("send appeals")
        DECISIONS_READ = "decisions:read", _("read decisions and explanations")

    name = models.CharField(_("integration"), max_length=100)
    prefix = models.CharField(_("key prefix"), max_length=16, unique=True)
    key_hash = models.CharField(max_length=64)
    scopes = ArrayField(models.CharField(max_length=20, choices=Scope.choices))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["name", "-created_at"]
        # A revoked key's integration may be given a new key (a leaked key is replaced).
        constraints = [
            models.UniqueConstraint(
                fields=["name"],
                condition=models.Q(revoked_at__isnull=True),
                name="one_live_key_per_integration",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class ApiCall(models.Model):
    """Every call to the API, with the key's name (blank when no key was valid)."""

    key = models.ForeignKey(ApiKey, models.PROTECT, null=True, blank=True, related_name="calls")
    key_name = models.CharField(max_length=100, blank=True)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=300)
    status = models.PositiveSmallIntegerField()
    milliseconds = models.PositiveIntegerField()
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at"]
        indexes = [
            models.Index(fields=["key", "-at"], name="api_call_key_recent"),
            # Retention prunes the oldest first (docs/architecture.md, "Retention").
            models.Index(fields=["at"], name="api_call_at"),
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.path} {self.status}"


class SignalEvent(models.Model):
    """A signal event taken from an integration; a second delivery of the same
    event id changes nothing."""

    class Outcome(models.TextChoices):
        APPLIED = "applied", _("applied")
        STALE = "stale", _("older than the signals on file: not applied")

    event_id = models.CharField(max_length=100, unique=True)
    account = models.ForeignKey(Account, models.PROTECT, related_name="+")
    observed_at = models.DateTimeField()
    outcome = models.CharField(max_length=8, choices=Outcome.choices)
    key = models.ForeignKey(ApiKey, models.PROTECT, related_name="+")
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        # Retention prunes the oldest first (docs/architecture.md, "Retention").
        indexes = [models.Index(fields=["received_at"], name="signal_event_received")]

    def __str__(self) -> str:
        return self.event_id

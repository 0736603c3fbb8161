"""Policy administration: the audit of every change to what is in force,
simulations of a draft on the whole portfolio, and the kill switch."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Policy(models.Model):
    """A versioned set of thresholds (scoring.PolicyRules as JSON)."""

    class State(models.TextChoices):
        DRAFT = "draft", _("draft")
        PENDING = "pending", _("pending approval")
        ACTIVE = "active", _("active")
        # Approved and scoring a share of the accounts beside the active version.
        ROLLOUT = "rollout", _("in staged rollout")
        RETIRED = "retired", _("retired")

    version = models.PositiveIntegerField(_("version"), unique=True)
    state = models.CharField(_("state"), max_length=8, choices=State.choices)
    rules = models.JSONField(_("thresholds"))
    rationale = models.TextField(_("rationale"))
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    activated_at = models.DateTimeField(_("activated"), null=True, blank=True)
    # Percent of the accounts (by a hash of the reference) scored with this
    # version while it is in staged rollout.
    rollout_share = models.PositiveSmallIntegerField(_("rollout share (%)"), default=0)
    submitted_at = models.DateTimeField(_("submitted"), null=True, blank=True)
    reviewed_at = models.DateTimeField(_("reviewed"), null=True, blank=True)
    review_comment = models.TextField(_("reviewer's comment"), blank=True)
    retired_at = models.DateTimeField(_("retired"), null=True, blank=True)

    class Meta:
        ordering = ["-version"]
        verbose_name_plural = _("policies")
        # Created by the decisions app before policy versions had an app of their own.
        db_table = "decisions_policy"
        constraints = [
            models.UniqueConstraint(
                fields=["state"], condition=Q(state="active"), name="one_active_policy"
            ),
            models.UniqueConstraint(
                fields=["state"], condition=Q(state="rollout"), name="one_policy_in_rollout"
            ),
            models.CheckConstraint(
                condition=Q(rollout_share__lte=100), name="policy_rollout_share_percent"
            ),
        ]

    def __str__(self) -> str:
        return f"policy v{self.version} ({self.state})"

    def edit_refusal(self, user: Any) -> str | None:
        """Why `user` may not edit this version's thresholds, or None: only a draft is
        edited, and only by its author (the page and the service both ask here)."""
        if self.state != Policy.State.DRAFT:
            return _("Only a draft can be edited; this version is %(state)s.") % {
                "state": self.get_state_display()
            }
        if self.author_id != getattr(user, "pk", None):
            return str(_("Only the author of a draft edits it."))
        return None


class PolicyEvent(models.Model):
    """One change to a policy version or to the kill switch. Append-only
    (PostgreSQL refuses UPDATE and DELETE)."""

    class Action(models.TextChoices):
        DRAFTED = "drafted", _("draft started")
        SUBMITTED = "submitted", _("submitted for approval")
        APPROVED = "approved", _("approved")
        REJECTED = "rejected", _("sent back")
        ACTIVATED = "activated", _("activated for every account")
        ROLLOUT = "rollout", _("staged rollout started")
        WIDENED = "widened", _("rollout widened")
        ROLLED_BACK = "rolled_back", _("rolled back")
        PAUSED = "paused", _("automatic reductions paused")
        RESUMED = "resumed", _("automatic reductions resumed")

    policy = models.ForeignKey(Policy, models.PROTECT, null=True, blank=True, related_name="events")
    action = models.CharField(_("action"), max_length=12, choices=Action.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, related_name="+")
    share = models.PositiveSmallIntegerField(_("share (%)"), null=True, blank=True)
    comment = models.TextField(_("comment"), blank=True)
    at = models.DateTimeField(_("when"), default=timezone.now)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} v{self.policy.version if self.policy else '-'}"


class Simulation(models.Model):
    """A draft scored on the whole portfolio beside the active version; no
    decision is written. Kept with the version it simulated."""

    class State(models.TextChoices):
        QUEUED = "queued", _("queued")
        RUNNING = "running", _("running")
        DONE = "done", _("done")
        FAILED = "failed", _("failed")

    policy = models.ForeignKey(Policy, models.PROTECT, related_name="simulations")
    base = models.ForeignKey(Policy, models.PROTECT, related_name="+")
    rules = models.JSONField(_("thresholds simulated"))
    state = models.CharField(max_length=8, choices=State.choices, default=State.QUEUED)
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, related_name="+")
    chunks_total = models.PositiveIntegerField(default=0)
    chunks_done = models.PositiveIntegerField(default=0)
    accounts_total = models.PositiveIntegerField(default=0)
    accounts_done = models.PositiveIntegerField(default=0)
    results = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    failures = models.JSONField(default=list, blank=True)  # as RescoreRun.failures
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"simulation {self.pk} of v{self.policy.version}"

    @property
    def progress_pct(self) -> int:
        if not self.accounts_total:
            return 100 if self.state == self.State.DONE else 0
        return min(100, self.accounts_done * 100 // self.accounts_total)

    @property
    def running(self) -> bool:
        return self.state in {self.State.QUEUED, self.State.RUNNING}


class SimulationChunk(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", _("pending")
        DONE = "done", _("done")

    simulation = models.ForeignKey(Simulation, models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    first_id = models.BigIntegerField()
    last_id = models.BigIntegerField()
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    summary = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["simulation", "index"]
        constraints = [
            models.UniqueConstraint(fields=["simulation", "index"], name="one_simulation_chunk")
        ]

    def __str__(self) -> str:
        return f"chunk {self.index} of simulation {self.simulation_id}"


class KillSwitch(models.Model):
    """One row: while `reductions_paused`, runs write no reduction or closure."""

    reductions_paused = models.BooleanField(default=False)
    reason = models.TextField(blank=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )
    changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="one_kill_switch")]

    def __str__(self) -> str:
        return "reductions paused" if self.reductions_paused else "reductions allowed"

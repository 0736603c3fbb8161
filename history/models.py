"""Portfolio history: a snapshot of every account at a portfolio run, the outcomes
that later snapshots show, back-tests of a draft on a past snapshot, and the drift
alerts (docs/architecture.md, "Portfolio history").

`AccountSnapshot` is a table partitioned by month (PostgreSQL declarative
partitioning, created by migration 0001 and `history.snapshots.partition_ensure`);
Django reads it through the model and writes it only by COPY (`history.snapshots`).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from policies.models import Policy


class Snapshot(models.Model):
    """One portfolio snapshot: the book as a portfolio run saw it, one row per account
    in `AccountSnapshot` with the same `taken_on`."""

    class State(models.TextChoices):
        WRITING = "writing", _("being written")
        COMPLETE = "complete", _("complete")
        # The run that wrote it was discarded: its inputs stand, its actions never happened.
        DISCARDED = "discarded", _("run discarded")

    taken_on = models.DateField(_("taken on"), unique=True)
    # The RescoreRun that wrote it (no foreign key: history sits below decisions);
    # None for history loaded from elsewhere (the demo's earlier months).
    run_id = models.BigIntegerField(null=True, blank=True, unique=True)
    policy_version = models.PositiveIntegerField(_("active version"))
    candidate_version = models.PositiveIntegerField(_("version in rollout"), null=True, blank=True)
    rollout_share = models.PositiveSmallIntegerField(default=0)
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default="writing")
    accounts = models.PositiveIntegerField(_("accounts"), default=0)
    # Distributions merged from the chunks as they were written (history.stats):
    # score and signal bins, bands, actions, cohorts. Read by the monitor and the breaker.
    stats = models.JSONField(default=dict, blank=True)
    # Realized outcomes by horizon in months, derived from later snapshots
    # (history.performance); filled in as the horizons mature.
    outcomes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-taken_on"]

    def __str__(self) -> str:
        return f"snapshot {self.taken_on}"


class AccountSnapshot(models.Model):
    """One account in one snapshot. Money in cents (bigint), read back as Decimal by
    history.snapshots; codes as in scoring (STATUS_CODES, ACTION_CODES) and
    accounts.book.SEGMENTS; `band` indexes the bands of `policy_version`;
    `signals` is scoring.INPUT_SIGNALS as little-endian float64."""

    pk = models.CompositePrimaryKey("taken_on", "account_id")
    taken_on = models.DateField()
    account_id = models.BigIntegerField()
    segment = models.SmallIntegerField()
    status_before = models.SmallIntegerField()
    limit_before = models.BigIntegerField()
    good_cycles = models.SmallIntegerField()
    in_cooldown = models.BooleanField()
    days_since_restoration = models.IntegerField()
    days_past_due = models.SmallIntegerField()
    score = models.SmallIntegerField()
    band = models.SmallIntegerField()
    policy_version = models.IntegerField()
    action = models.SmallIntegerField()
    limit_after = models.BigIntegerField()
    status_after = models.SmallIntegerField()
    signals = models.BinaryField()

    class Meta:
        # Created by migration 0001 as a partitioned table (Django's own CREATE TABLE
        # cannot say PARTITION BY); managed, so test flushes truncate it.
        db_table = "history_accountsnapshot"

    def __str__(self) -> str:
        return f"account {self.account_id} on {self.taken_on}"


class Backtest(models.Model):
    """A draft and the version it would replace, replayed on a past snapshot and
    judged by the outcomes that followed it."""

    class State(models.TextChoices):
        QUEUED = "queued", _("queued")
        RUNNING = "running", _("running")
        DONE = "done", _("done")
        FAILED = "failed", _("failed")

    policy = models.ForeignKey(Policy, models.PROTECT, related_name="backtests")
    base = models.ForeignKey(Policy, models.PROTECT, related_name="+")
    rules = models.JSONField(_("thresholds replayed"))
    snapshot = models.ForeignKey(Snapshot, models.PROTECT, related_name="backtests")
    horizon_months = models.PositiveSmallIntegerField(_("outcome window (months)"), default=12)
    state = models.CharField(max_length=8, choices=State.choices, default=State.QUEUED)
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, related_name="+")
    results = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"back-test {self.pk} of v{self.policy.version} on {self.snapshot.taken_on}"


class DriftAlert(models.Model):
    """A stability threshold crossed, raised by the beat check or a run; shown as a
    banner until a person acknowledges it."""

    class Kind(models.TextChoices):
        PSI = "psi", _("score population shift (PSI)")
        CSI = "csi", _("signal shift (CSI)")
        REASON_MIX = "reasons", _("reason mix drift")
        CUT_RATE = "cut_rate", _("cut-rate drift")
        FAIRNESS = "fairness", _("adverse impact ratio")

    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    subject = models.CharField(_("subject"), max_length=60, blank=True)  # a signal, a cohort
    snapshot = models.ForeignKey(Snapshot, models.CASCADE, related_name="alerts")
    value = models.DecimalField(max_digits=12, decimal_places=4)
    threshold = models.DecimalField(max_digits=12, decimal_places=4)
    raised_at = models.DateTimeField(default=timezone.now)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-raised_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "subject", "snapshot"], name="one_drift_alert_per_subject"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.subject} {self.value}"

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q, Value
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Account
from config.failures import FailureView, failures_of
from policies.models import Policy


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


class ReasonCode(models.Model):
    """A reason a limit moved, in the words of staff and of the customer."""

    class Kind(models.TextChoices):
        ADVERSE = "adverse", _("adverse")
        FAVOURABLE = "favourable", _("favourable")
        HUMAN = "human", _("human decision")

    code = models.CharField(_("code"), max_length=32, primary_key=True)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    staff_text_en = models.TextField(_("staff text (en)"))
    staff_text_zh = models.TextField(_("staff text (zh-Hans)"))
    customer_text_en = models.TextField(_("customer text (en)"))
    customer_text_zh = models.TextField(_("customer text (zh-Hans)"))
    suggestion_en = models.TextField(_("improvement suggestion (en)"), blank=True)
    suggestion_zh = models.TextField(_("improvement suggestion (zh-Hans)"), blank=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code

    def text(self, audience: str, language: str) -> str:
        """audience: staff | customer | suggestion; language: en | zh-hans."""
        suffix = "zh" if language.lower().startswith("zh") else "en"
        field = {"staff": "staff_text", "customer": "customer_text", "suggestion": "suggestion"}
        return str(getattr(self, f"{field[audience]}_{suffix}"))


class RescoreRun(models.Model):
    class Trigger(models.TextChoices):
        BUTTON = "button", _("started by a person")
        SCHEDULE = "schedule", _("nightly schedule")
        SIGNAL = "signal", _("signal change")

    class State(models.TextChoices):
        QUEUED = "queued", _("queued")
        COMPUTING = "computing", _("computing")
        WAITING = "waiting", _("waiting for approval")
        APPLYING = "applying", _("applying")
        DONE = "done", _("done")
        DISCARDED = "discarded", _("discarded")
        FAILED = "failed", _("failed")
        REVERTING = "reverting", _("reverting")
        REVERTED = "reverted", _("reverted")

    # A run in these states is still going: its chunks are queued or on a worker.
    MOVING = (State.QUEUED, State.COMPUTING, State.APPLYING)

    trigger = models.CharField(_("started by"), max_length=8, choices=Trigger.choices)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )
    account = models.ForeignKey(
        Account,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("set for a single-account re-score"),
    )
    policy = models.ForeignKey(Policy, models.PROTECT, related_name="runs")
    # A version in staged rollout scores the accounts of its share beside `policy`.
    candidate = models.ForeignKey(
        Policy, models.PROTECT, null=True, blank=True, related_name="candidate_runs"
    )
    rollout_share = models.PositiveSmallIntegerField(default=0)
    # Counts per policy version {"2": {"accounts": n, "raised": n, ...}}, at compute end.
    by_policy = models.JSONField(default=dict, blank=True)
    held_cuts = models.PositiveIntegerField(
        default=0, help_text=_("reductions and closures held back by the kill switch")
    )
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default="queued")
    accounts_total = models.PositiveIntegerField(default=0)
    accounts_done = models.PositiveIntegerField(default=0)
    chunks_total = models.PositiveIntegerField(default=0)
    raised = models.PositiveIntegerField(default=0)
    reduced = models.PositiveIntegerField(default=0)
    closed = models.PositiveIntegerField(default=0)
    reopened = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(
        default=0, help_text=_("accounts changed by a person while the run was computing")
    )
    exposure_before = models.DecimalField(max_digits=16, decimal_places=2, default=Decimal(0))
    exposure_after = models.DecimalField(max_digits=16, decimal_places=2, default=Decimal(0))
    breaker_reason = models.TextField(_("circuit breaker"), blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )
    error = models.TextField(blank=True)
    # Each time the run stopped on an error: config.failures.failure_record, plus
    # who retried it and when (docs/architecture.md, "When a run fails").
    failures = models.JSONField(default=list, blank=True)
    # A nightly run that scores only the accounts not marked steady and advances the
    # rest (docs/architecture.md, "The incremental nightly run"); `accounts_steady`
    # counts those advanced without scoring.
    incremental = models.BooleanField(default=False)
    accounts_steady = models.PositiveIntegerField(default=0)
    # What was written, as opposed to the proposal counted above while scoring.
    decisions_written = models.PositiveIntegerField(default=0)
    exposure_change = models.DecimalField(
        max_digits=16,
        decimal_places=2,
        default=Decimal(0),
        help_text=_("change in open exposure of the decisions written"),
    )
    created_at = models.DateTimeField(default=timezone.now)
    compute_started_at = models.DateTimeField(null=True, blank=True)
    compute_finished_at = models.DateTimeField(null=True, blank=True)
    apply_started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # When the latest revert was asked for: the watchdog's measure of a revert that stopped.
    revert_requested_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        # The runs page lists signal re-scores (one per batch, many a day) apart.
        indexes = [
            models.Index(fields=["trigger", "-created_at"], name="run_trigger_recent"),
            # My work: the runs the circuit breaker holds for a second person.
            models.Index(fields=["created_at"], name="run_held", condition=Q(state="waiting")),
        ]
        # At most one portfolio run moves at a time, whoever starts it (two schedulers,
        # two people): the database refuses the second (docs/architecture.md, "Runs").
        constraints = [
            models.UniqueConstraint(
                Value(1),
                condition=Q(account__isnull=True, state__in=["queued", "computing", "applying"])
                & ~Q(trigger="signal"),
                name="one_moving_portfolio_run",
            )
        ]

    def __str__(self) -> str:
        return f"run {self.pk} ({self.state})"

    @property
    def changed(self) -> int:
        return self.raised + self.reduced + self.closed + self.reopened

    @property
    def revertible(self) -> bool:
        """Done and changed something, or stopped after writing decisions: a revert
        restores what it wrote, as it stands."""
        if self.state == self.State.DONE:
            return self.changed > 0
        return self.state == self.State.FAILED and self.decisions_written > 0

    @property
    def last_failure(self) -> FailureView | None:
        """Why the run is stopped now, if it is."""
        stopped = failures_of(self.failures).open
        return stopped[0] if stopped else None

    @property
    def exposure_applied(self) -> Decimal:
        """The open exposure at the start plus what the decisions written changed."""
        return self.exposure_before + self.exposure_change

    @property
    def progress_pct(self) -> int:
        if not self.accounts_total:
            return 100 if self.state in {"done", "reverted"} else 0
        return min(100, self.accounts_done * 100 // self.accounts_total)


class RescoreRequest(models.Model):
    """An account whose signals changed and that waits for its re-score.

    Written in the transaction that changes the signals, so a change is never
    committed without its request; the worker takes requests in batches
    (decisions.rescore_requests.rescore_requested) and deletes them in the transaction that
    writes their decisions. Several requests for one account give one re-score.
    """

    # No database constraint: an insert must not lock the account row against the
    # worker writing its decision (accounts are never deleted).
    account = models.ForeignKey(Account, models.DO_NOTHING, db_constraint=False, related_name="+")
    requested_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return f"re-score of account {self.account_id} requested at {self.requested_at}"


class SteadyAccount(models.Model):
    """An account whose last full scoring left it where another cycle changes nothing
    but, at most, its good-cycle count: the nightly run advances it without scoring
    it (docs/architecture.md, "The incremental nightly run").

    The mark holds while the account keeps the version it was scored at (every limit
    write bumps it), the policy stays the one that scored it, and until `due_at`, when
    a cool-down or a decrease protection that it was scored under ends. Any change to
    the account's signals deletes the mark (a trigger on accounts_accountsignals,
    migration 0023), whoever writes them.
    """

    account = models.OneToOneField(Account, models.CASCADE, primary_key=True, related_name="+")
    policy = models.ForeignKey(Policy, models.CASCADE, related_name="+")
    version = models.PositiveIntegerField()
    due_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"account {self.account_id} steady under policy {self.policy_id}"


class RunChunk(models.Model):
    """An id range of a run. Its state lives here, so a killed worker resumes."""

    class State(models.TextChoices):
        PENDING = "pending", _("pending")
        COMPUTED = "computed", _("computed")
        APPLIED = "applied", _("applied")

    run = models.ForeignKey(RescoreRun, models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    first_id = models.BigIntegerField()
    last_id = models.BigIntegerField()
    state = models.CharField(max_length=8, choices=State.choices, default="pending")
    accounts = models.PositiveIntegerField(default=0)
    # The compute phase's result as compressed numpy arrays (decisions.runs):
    # every account's new score, band and good cycles, and for the accounts
    # whose limit moves, the proposal with its points and inputs.
    result = models.BinaryField(null=True, blank=True)
    counts = models.JSONField(default=dict, blank=True)  # per policy version, as by_policy
    # A portfolio run's distributions of the chunk's rows (history.stats.row_stats; the
    # score bins alone when the run writes no snapshot), merged at compute end.
    stats = models.JSONField(default=dict, blank=True)
    computed_at = models.DateTimeField(null=True, blank=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    # The worker (Celery's node name, e.g. worker@host-2) that scored and that wrote the
    # chunk: a run spreads over every worker of every host (docs/architecture.md, "Runs").
    computed_by = models.CharField(max_length=200, blank=True)
    applied_by = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["run", "index"]
        constraints = [models.UniqueConstraint(fields=["run", "index"], name="one_chunk_per_index")]

    def __str__(self) -> str:
        return f"chunk {self.index} of run {self.run_id}"


class LimitDecision(models.Model):
    """The one way a limit changes. Append-only: PostgreSQL refuses UPDATE and DELETE.

    Each row carries the hash of the account's previous decision and its own,
    so a rewritten row breaks the chain (`manage.py verify_audit_chain`).
    """

    class Source(models.TextChoices):
        RUN = "run", _("re-scoring run")
        OVERRIDE = "override", _("manual override")
        APPEAL = "appeal", _("appeal outcome")
        REVERT = "revert", _("incident revert")

    class Action(models.TextChoices):
        RAISE = "raise", _("raised")
        REDUCE = "reduce", _("reduced")
        CLOSE = "close", _("closed")
        REOPEN = "reopen", _("reopened")
        SET = "set", _("set by hand")
        FREEZE = "freeze", _("frozen")
        UNFREEZE = "unfreeze", _("unfrozen")
        RESTORE = "restore", _("restored")

    account = models.ForeignKey(Account, models.PROTECT, related_name="decisions")
    sequence = models.PositiveIntegerField(_("number in the account's chain"))
    action = models.CharField(_("action"), max_length=8, choices=Action.choices)
    source = models.CharField(_("source"), max_length=8, choices=Source.choices)
    old_limit = models.DecimalField(_("old limit"), max_digits=12, decimal_places=2)
    new_limit = models.DecimalField(_("new limit"), max_digits=12, decimal_places=2)
    old_status = models.CharField(_("old status"), max_length=8)
    new_status = models.CharField(_("new status"), max_length=8)
    score_before = models.SmallIntegerField(_("score before"), null=True, blank=True)
    score_after = models.SmallIntegerField(_("score after"), null=True, blank=True)
    band_before = models.CharField(_("band before"), max_length=8, blank=True)
    band_after = models.CharField(_("band after"), max_length=8, blank=True)
    contributions = models.JSONField(_("points per signal"), default=dict)
    triggers = models.JSONField(_("thresholds crossed"), default=list)
    reasons = models.JSONField(_("principal reasons"), default=list)
    inputs = models.JSONField(_("inputs used"), default=dict)
    policy = models.ForeignKey(Policy, models.PROTECT, null=True, blank=True, related_name="+")
    policy_version = models.PositiveIntegerField(_("policy version"), null=True, blank=True)
    scorecard_version = models.CharField(_("scorecard version"), max_length=16, blank=True)
    run = models.ForeignKey(
        RescoreRun, models.PROTECT, null=True, blank=True, related_name="decisions"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )
    justification = models.TextField(_("justification"), blank=True)
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )
    # No database constraints on the foreign keys to decisions (this one and those of
    # notices, override requests and appeals): the table is partitioned by month and a
    # key to it would need the month too; decisions are never deleted
    # (docs/architecture.md, "Decisions partitioned by month").
    reverts = models.ForeignKey(
        "self",
        models.PROTECT,
        null=True,
        blank=True,
        related_name="reverted_by",
        db_constraint=False,
    )
    idempotency_key = models.CharField(_("idempotency key"), max_length=80, unique=True)
    prev_hash = models.CharField(_("previous hash"), max_length=64, blank=True)
    hash = models.CharField(_("hash"), max_length=64, unique=True)
    created_at = models.DateTimeField(_("decided at"), default=timezone.now)

    class Meta:
        ordering = ["account", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["account", "sequence"], name="one_decision_per_link"),
            models.CheckConstraint(
                condition=Q(new_limit__gte=0) & Q(old_limit__gte=0),
                name="decision_limits_not_negative",
            ),
        ]
        indexes = [
            models.Index(fields=["created_at"], name="decision_created"),
            models.Index(fields=["run"], name="decision_run"),
        ]

    def __str__(self) -> str:
        return f"{self.account_id}#{self.sequence} {self.action}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ValueError("A limit decision is never changed; record a new one instead.")
        super().save(*args, **kwargs)


class DecisionLink(models.Model):
    """The unique keys of each limit decision: one per link of an account's chain, per
    hash and per idempotency key.

    `decisions_limitdecision` is partitioned by month (docs/architecture.md, "Decisions
    partitioned by month"), and PostgreSQL enforces a unique key on a partitioned table
    only with the partition's column in it. This narrow table holds them instead: a
    trigger on the decisions inserts a row here for every decision, in the same
    statement, so a second decision for the same link, hash or key fails as before.
    Append-only, like the decisions.
    """

    decision_id = models.BigIntegerField(primary_key=True)
    account_id = models.BigIntegerField()
    sequence = models.PositiveIntegerField()
    hash = models.CharField(max_length=64, unique=True)
    idempotency_key = models.CharField(max_length=80, unique=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account_id", "sequence"], name="one_link_per_sequence")
        ]

    def __str__(self) -> str:
        return f"link {self.account_id}#{self.sequence} of decision {self.decision_id}"


class DecisionTally(models.Model):
    """Decisions counted per day, action and reason, for the overview's charts.

    Insert-only deltas written by `decisions_write` in the decision's own
    transaction (no shared counter row, so parallel run workers never wait on
    each other); readers sum them. `reason` is "" on the row counting the
    decisions themselves. `decision_tally_rebuild` recomputes it from scratch.
    """

    day = models.DateField()
    action = models.CharField(max_length=8)
    reason = models.CharField(max_length=40, blank=True)
    count = models.PositiveIntegerField()

    class Meta:
        indexes = [models.Index(fields=["day"], name="tally_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.action} {self.reason or '*'}: {self.count}"


class OverrideRequest(models.Model):
    """A manual limit change above the four-eyes amount, waiting for a second person."""

    class State(models.TextChoices):
        PENDING = "pending", _("pending approval")
        APPROVED = "approved", _("approved")
        REJECTED = "rejected", _("rejected")

    account = models.ForeignKey(Account, models.PROTECT, related_name="override_requests")
    new_limit = models.DecimalField(_("proposed limit"), max_digits=12, decimal_places=2)
    justification = models.TextField(_("justification"))
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, related_name="+")
    account_version = models.PositiveIntegerField()
    state = models.CharField(max_length=8, choices=State.choices, default="pending")
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )
    decision = models.OneToOneField(
        LimitDecision,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="override_request",
        db_constraint=False,  # see LimitDecision.reverts
    )
    created_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)
    # Why it was rejected: required, shown to the person who proposed it.
    review_note = models.TextField(_("reason"), blank=True)

    class Meta:
        ordering = ["-created_at"]
        # My work counts the pending ones on every page's navigation.
        indexes = [
            models.Index(
                fields=["created_at"], name="override_pending", condition=Q(state="pending")
            ),
            # ... and the proposer's rejected ones, shown with the reason for a while.
            models.Index(
                fields=["requested_by", "decided_at"],
                name="override_rejected_by_proposer",
                condition=Q(state="rejected"),
            ),
        ]

    def __str__(self) -> str:
        return f"override of {self.account_id} to {self.new_limit} ({self.state})"


class Notice(models.Model):
    """The customer notice of one decrease or closure (docs/architecture.md,
    "Notices: the register").

    Created by `decisions.services.decisions_write` in the decision's own
    transaction; delivered by the outbox (the `notices` app), which moves `state`,
    counts attempts and records the hash of the content it delivered.
    """

    class Kind(models.TextChoices):
        INDIVIDUAL = "individual", _("individual")
        PORTFOLIO = "portfolio", _("portfolio-wide")
        EXEMPT = "exempt", _("exempt (delinquency)")

    class State(models.TextChoices):
        PENDING = "pending", _("waiting to be sent")
        RETRYING = "retrying", _("retrying")
        DELIVERED = "delivered", _("delivered")
        DEAD = "dead", _("failed (dead letter)")
        NOT_REQUIRED = "not_required", _("not required")

    decision = models.OneToOneField(
        LimitDecision,
        models.PROTECT,
        related_name="notice",
        verbose_name=_("decision"),
        db_constraint=False,  # see LimitDecision.reverts
    )
    account = models.ForeignKey(Account, models.PROTECT, related_name="notices")
    kind = models.CharField(_("classification"), max_length=10, choices=Kind.choices)
    language = models.CharField(_("language"), max_length=8)
    reasons = models.JSONField(_("reasons"), default=list)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    due_by = models.DateTimeField(_("due by"))
    state = models.CharField(_("state"), max_length=12, choices=State.choices)
    attempts = models.PositiveIntegerField(_("delivery attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    idempotency_key = models.CharField(_("idempotency key"), max_length=80, unique=True)
    content_sha256 = models.CharField(
        _("SHA-256 of the delivered content"), max_length=64, blank=True
    )
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="notice_due_for_delivery",
                condition=Q(state__in=["pending", "retrying"]),
            ),
            models.Index(fields=["created_at"], name="notice_created"),
            models.Index(fields=["state", "created_at"], name="notice_state_created"),
        ]

    def __str__(self) -> str:
        return f"notice of decision {self.decision_id} ({self.state})"

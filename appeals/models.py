from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Account
from decisions.models import LimitDecision


class Appeal(models.Model):
    """A customer contesting a limit decision (docs/architecture.md, "Appeals")."""

    class Channel(models.TextChoices):
        APP = "app", _("in-app help centre")
        HOTLINE = "hotline", _("hotline")
        WRITTEN = "written", _("written application")

    class Category(models.TextChoices):
        REASON = "reason", _("wants to know the reason")
        MISJUDGMENT = "misjudged", _("misjudgment, re-evaluate")
        EVIDENCE = "evidence", _("restore or raise with evidence")
        CLOSURE = "closure", _("complaint about a closure")
        # A request for an explanation of, or a person's review of, an automated
        # decision (docs/architecture.md, "Human review on request").
        REVIEW = "review", _("explanation or human review")

    class ReviewKind(models.TextChoices):
        """What a review request asks for (category "review" only)."""

        EXPLANATION = "explanation", _("an explanation")
        HUMAN_REVIEW = "human_review", _("a human review")
        BOTH = "both", _("an explanation and a human review")

    class Priority(models.IntegerChoices):
        LOW = 1, _("low")
        NORMAL = 2, _("normal")
        HIGH = 3, _("high")
        URGENT = 4, _("urgent")

    class State(models.TextChoices):
        NEW = "new", _("new")
        IN_REVIEW = "in_review", _("in review")
        WAITING = "waiting", _("waiting for customer")
        DECIDED = "decided", _("decided")
        CLOSED = "closed", _("closed")
        WITHDRAWN = "withdrawn", _("withdrawn")

    class Outcome(models.TextChoices):
        UPHELD = "upheld", _("upheld: the decision stands")
        PARTIAL = "partial", _("partly restored")
        FULL = "full", _("fully restored")
        REEVALUATED = "reevaluated", _("re-evaluated with the evidence")

    class CloseLabel(models.TextChoices):
        """What the appeal showed, set on close for later reports."""

        MISJUDGED = "misjudged", _("misjudged: the decision was wrong")
        CORRECT_CUT = "correct_cut", _("correct: the decision was right")
        CUSTOMER_ERROR = "customer_error", _("customer error or misunderstanding")
        NEW_INFORMATION = "new_information", _("new information from the customer")
        OTHER = "other", _("other")

    OPEN_STATES = (State.NEW, State.IN_REVIEW, State.WAITING)

    account = models.ForeignKey(Account, models.PROTECT, related_name="appeals")
    # No database constraint: decisions are partitioned by month, and a foreign key
    # to them would need their month too. They are never deleted (docs/architecture.md,
    # "Decisions partitioned by month").
    decision = models.ForeignKey(
        LimitDecision,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="appeals",
        verbose_name=_("contested decision"),
        db_constraint=False,
    )
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    category = models.CharField(_("category"), max_length=10, choices=Category.choices)
    statement = models.TextField(_("customer's statement"), max_length=5000)
    # Category "review": what the customer asks for; blank for the other categories.
    # The statement then holds the customer's view (docs/architecture.md, "Human
    # review on request").
    review_kind = models.CharField(
        _("the customer asks for"), max_length=12, choices=ReviewKind.choices, blank=True
    )
    requested_limit = models.DecimalField(
        _("requested limit"),
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
    )
    priority = models.PositiveSmallIntegerField(
        _("priority"), choices=Priority.choices, default=Priority.NORMAL
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("assignee"),
    )
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.NEW)
    sla_due = models.DateTimeField(_("SLA due"))
    # While waiting for the customer the SLA clock stops; on reply the due
    # time moves on by the pause.
    sla_paused_at = models.DateTimeField(_("SLA paused since"), null=True, blank=True)
    escalated = models.BooleanField(_("escalated to a lead"), default=False)
    sla_breach_flagged = models.BooleanField(_("SLA breach flagged"), default=False)
    # The handler's outcome; above APPEAL_APPROVAL_ABOVE it waits for a lead.
    outcome = models.CharField(_("outcome"), max_length=12, choices=Outcome.choices, blank=True)
    outcome_limit = models.DecimalField(
        _("restored limit"), max_digits=12, decimal_places=2, null=True, blank=True
    )
    outcome_justification = models.TextField(_("justification"), blank=True)
    # A re-evaluation's verified values (e.g. {"verified_monthly_income": "12000.00"}),
    # written to the account's signals when the outcome is applied.
    verified_signals = models.JSONField(_("verified by the evidence"), default=dict, blank=True)
    outcome_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )
    outcome_pending = models.BooleanField(_("waiting for a lead's approval"), default=False)
    outcome_decision = models.ForeignKey(
        LimitDecision,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="appeal_outcomes",
        db_constraint=False,  # as `decision` above
    )
    # When the outcome took effect (the "decide" step): the overturn rates count the
    # appeals decided in a window (docs/architecture.md, "Appeals as feedback").
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    # Set aside until this time (waiting for the customer, say); a lead or the
    # assignee snoozes it, and it comes back to the top of the queue by itself.
    snoozed_until = models.DateTimeField(_("snoozed until"), null=True, blank=True)
    close_label = models.CharField(
        _("what the appeal showed"), max_length=16, choices=CloseLabel.choices, blank=True
    )
    created_at = models.DateTimeField(_("received"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["account", "-created_at"], name="appeal_account_recent"),
            models.Index(
                fields=["sla_due"],
                name="appeal_open_due",
                condition=Q(state__in=["new", "in_review", "waiting"]),
            ),
            # Claim next: the highest priority, then the oldest due, unassigned.
            models.Index(
                F("priority").desc(),
                F("sla_due").asc(),
                F("id").asc(),
                name="appeal_claim_order",
                condition=Q(state="new", assignee__isnull=True),
            ),
            # The queue's order over the open appeals (the page reads 51 rows off it).
            models.Index(
                F("priority").desc(),
                F("sla_due").asc(),
                F("id").asc(),
                name="appeal_open_order",
                condition=Q(state__in=["new", "in_review", "waiting"]),
            ),
            models.Index(fields=["assignee", "state"], name="appeal_assignee_state"),
            # My work: the outcomes waiting for a lead, counted on every page's navigation.
            models.Index(
                fields=["updated_at"],
                name="appeal_outcome_pending",
                condition=Q(outcome_pending=True),
            ),
            # Appeals as feedback: the overturn rates of the appeals decided lately.
            models.Index(
                fields=["decided_at"],
                name="appeal_decided",
                condition=Q(decided_at__isnull=False),
            ),
            # Queue steering: recent outcomes counted by what they showed.
            models.Index(
                fields=["updated_at"],
                name="appeal_labelled_recent",
                condition=~Q(close_label=""),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(requested_limit__isnull=True) | Q(requested_limit__gte=0),
                name="appeal_requested_limit_not_negative",
            ),
            # A second contact about the same decision joins the open appeal. A review
            # request is counted apart: it has its own clock and may not be swallowed by
            # an open appeal of another category (docs/architecture.md, "Human review
            # on request").
            models.UniqueConstraint(
                fields=["decision"],
                condition=Q(state__in=["new", "in_review", "waiting"], decision__isnull=False)
                & ~Q(category="review"),
                name="one_open_appeal_per_decision",
            ),
            models.UniqueConstraint(
                fields=["decision"],
                condition=Q(
                    state__in=["new", "in_review", "waiting"],
                    decision__isnull=False,
                    category="review",
                ),
                name="one_open_review_per_decision",
            ),
            models.CheckConstraint(
                condition=(Q(category="review") & ~Q(review_kind=""))
                | (~Q(category="review") & Q(review_kind="")),
                name="appeal_review_kind_with_review",
            ),
        ]

    def __str__(self) -> str:
        return f"appeal {self.pk} on {self.account_id} ({self.state})"

    @property
    def is_open(self) -> bool:
        return self.state in self.OPEN_STATES

    def sla_breached(self, now: object = None) -> bool:
        """Past its due time, with the clock running (not waiting for the customer)."""
        return (
            self.is_open and self.sla_paused_at is None and self.sla_due < (now or timezone.now())  # type: ignore[operator]
        )

    def sla_due_soon(self) -> bool:
        now = timezone.now()
        return self.is_open and now <= self.sla_due < now + timedelta(hours=4)


class AppealEvent(models.Model):
    """One step on an appeal's timeline: who did what, when. Never edited."""

    appeal = models.ForeignKey(Appeal, models.CASCADE, related_name="events")
    move = models.CharField(_("step"), max_length=20)
    from_state = models.CharField(max_length=10, blank=True)
    to_state = models.CharField(max_length=10, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )
    note = models.TextField(_("note"), blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "id"]
        indexes = [
            models.Index(fields=["appeal", "at"], name="appeal_event_timeline"),
            # My work: the outcomes a lead sent back, with the note, for a while.
            models.Index(
                fields=["appeal", "at"],
                name="appeal_event_sent_back",
                condition=Q(move="outcome_rejected"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.appeal_id} {self.move} {self.from_state}->{self.to_state}"


class HandlerProfile(models.Model):
    """How many open appeals a handler may be given automatically, and time away.

    New appeals go round robin to handlers with auto-assignment on, fewer open
    appeals than their cap and not away (docs/architecture.md, "Appeals")."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, models.CASCADE, related_name="handler_profile"
    )
    auto_assign = models.BooleanField(_("gets new appeals automatically"), default=True)
    cap = models.PositiveSmallIntegerField(
        _("open appeals at most"), default=15, validators=[MinValueValidator(1)]
    )
    # Away from and until these dates, both included (empty: not away).
    away_from = models.DateField(_("away from"), null=True, blank=True)
    away_until = models.DateField(_("away until"), null=True, blank=True)
    # The round robin's turn: the handler given an appeal longest ago goes next.
    last_assigned_at = models.DateTimeField(null=True, blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(away_from__isnull=True)
                | Q(away_until__isnull=True)
                | Q(away_until__gte=F("away_from")),
                name="handler_away_dates_in_order",
            ),
            models.CheckConstraint(condition=Q(cap__gte=1), name="handler_cap_positive"),
        ]

    def __str__(self) -> str:
        return f"handler {self.user_id}: cap {self.cap}"

    def away_on(self, day: object) -> bool:
        if self.away_from is None and self.away_until is None:
            return False
        start = self.away_from or day
        end = self.away_until or day
        return start <= day <= end  # type: ignore[operator]


class SlaTarget(models.Model):
    """How long an appeal of a category may take; leads set these."""

    category = models.CharField(
        _("category"), max_length=10, choices=Appeal.Category.choices, unique=True
    )
    hours = models.PositiveIntegerField(_("hours to decide"))
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.category}: {self.hours} h"


class Evidence(models.Model):
    """A file the customer sent for an appeal, kept outside any public URL.

    Checked by content on upload (appeals.evidence); `sha256` fixes what was
    received; the stored file is named by its id, never by the customer."""

    appeal = models.ForeignKey(Appeal, models.PROTECT, related_name="evidence")
    name = models.CharField(_("file name"), max_length=100)
    content_type = models.CharField(_("type"), max_length=20)
    size = models.PositiveIntegerField(_("size in bytes"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    stored_as = models.CharField(max_length=64, unique=True)
    # A staff member, or none when an integration sent the file (`uploaded_via`).
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )
    uploaded_via = models.CharField(_("sent by integration"), max_length=100, blank=True)
    uploaded_at = models.DateTimeField(_("received"), default=timezone.now)

    class Meta:
        ordering = ["uploaded_at", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.content_type}) of appeal {self.appeal_id}"

    @property
    def is_image(self) -> bool:
        return self.content_type.startswith("image/")


class HandlerChange(models.Model):
    """A lead's change to a handler's profile (cap, auto-assignment, time away), kept
    for the record: who changed whose, when, and what it became. Never edited."""

    profile = models.ForeignKey(HandlerProfile, models.CASCADE, related_name="changes")
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, related_name="+")
    summary = models.CharField(_("change"), max_length=300)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.profile_id}: {self.summary}"

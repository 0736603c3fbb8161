from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Account
from decisions.models import LimitDecision


class Appeal(models.Model):
    """A customer contesting a limit decision (DESIGN.md §4)."""

    class Channel(models.TextChoices):
        APP = "app", _("in-app help centre")
        HOTLINE = "hotline", _("hotline")
        WRITTEN = "written", _("written application")

    class Category(models.TextChoices):
        REASON = "reason", _("wants to know the reason")
        MISJUDGMENT = "misjudged", _("misjudgment, re-evaluate")
        EVIDENCE = "evidence", _("restore or raise with evidence")
        CLOSURE = "closure", _("complaint about a closure")

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

    OPEN_STATES = (State.NEW, State.IN_REVIEW, State.WAITING)

    account = models.ForeignKey(Account, models.PROTECT, related_name="appeals")
    decision = models.ForeignKey(
        LimitDecision, models.PROTECT, null=True, blank=True, related_name="appeals",
        verbose_name=_("contested decision"),
    )  # fmt: skip
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    category = models.CharField(_("category"), max_length=10, choices=Category.choices)
    statement = models.TextField(_("customer's statement"), max_length=5000)
    requested_limit = models.DecimalField(
        _("requested limit"), max_digits=12, decimal_places=2, null=True, blank=True,
        validators=[MinValueValidator(Decimal("0"))],
    )  # fmt: skip
    priority = models.PositiveSmallIntegerField(
        _("priority"), choices=Priority.choices, default=Priority.NORMAL
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("assignee"),
    )  # fmt: skip
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.NEW)
    sla_due = models.DateTimeField(_("SLA due"))
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
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(requested_limit__isnull=True) | Q(requested_limit__gte=0),
                name="appeal_requested_limit_not_negative",
            )
        ]

    def __str__(self) -> str:
        return f"appeal {self.pk} on {self.account_id} ({self.state})"

    @property
    def is_open(self) -> bool:
        return self.state in self.OPEN_STATES

    def sla_breached(self, now: object = None) -> bool:
        return self.is_open and self.sla_due < (now or timezone.now())  # type: ignore[operator]

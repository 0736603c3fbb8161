from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q, Value
from django.db.models.functions import Reverse
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from accounts import masking
from accounts.signal_spec import SIGNALS, SIGNALS_BY_NAME, range_problems
from scoring import NEVER_RESTORED


def signal_field(name: str) -> models.Field[Any, Any]:
    """A model field for one signal, validated by its range in signal_spec."""
    spec = SIGNALS_BY_NAME[name]
    validators: list[Any] = []
    if spec.minimum is not None:
        validators.append(
            MinValueValidator(
                spec.minimum,
                message=_("%(label)s must be at least %(limit_value)s.")
                % {"label": capfirst(spec.label), "limit_value": spec.minimum},
            )
        )
    if spec.maximum is not None:
        validators.append(
            MaxValueValidator(
                spec.maximum,
                message=_("%(label)s must be at most %(limit_value)s.")
                % {"label": capfirst(spec.label), "limit_value": spec.maximum},
            )
        )
    if spec.kind == "bool":
        return models.BooleanField(spec.label, default=False)
    if spec.kind == "int":
        return models.IntegerField(spec.label, validators=validators, default=spec.minimum or 0)
    if spec.kind == "ratio":
        return models.DecimalField(
            spec.label, max_digits=9, decimal_places=4, validators=validators, default=Decimal(0)
        )
    return models.DecimalField(
        spec.label,
        max_digits=14,
        decimal_places=2,
        validators=validators,
        null=spec.nullable,
        blank=spec.nullable,
        default=None if spec.nullable else Decimal(0),
    )


def signal_range_constraints() -> list[models.BaseConstraint]:
    """The same ranges enforced by PostgreSQL, for writes that skip model validation."""
    constraints: list[models.BaseConstraint] = []
    for spec in SIGNALS:
        if spec.minimum is None or spec.maximum is None:
            continue
        in_range = Q(**{f"{spec.name}__gte": spec.minimum, f"{spec.name}__lte": spec.maximum})
        if spec.nullable:
            in_range |= Q(**{f"{spec.name}__isnull": True})
        constraints.append(
            models.CheckConstraint(condition=in_range, name=f"signal_{spec.name}_in_range")
        )
    return constraints


class Access(models.Model):
    """Holds the permissions that open pages and actions; no table of its own.

    Roles (docs/architecture.md, "Roles") are groups holding these permissions; a data migration
    creates them.
    """

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("open_overview", "Open the overview"),
            ("open_accounts", "Search and review accounts"),
            ("reveal_personal_data", "See unmasked personal data (each reveal is logged)"),
            ("start_rescore", "Start a re-score"),
            ("propose_override", "Propose a manual limit override"),
            ("approve_override", "Approve another person's override"),
            ("open_runs", "Open re-scoring runs"),
            ("open_appeals", "Open the appeal queue"),
            ("work_appeals", "Claim and decide appeals"),
            ("lead_appeals", "Reassign appeals, approve large restorations, SLA reports"),
            ("open_policy", "Read policy versions"),
            ("edit_policy", "Draft, simulate and propose policy versions"),
            ("approve_policy", "Approve another admin's policy version"),
            ("open_audit", "Open the audit trail"),
            ("export_audit", "Export decisions and verify the audit chain"),
            ("write_notes", "Add notes to accounts"),
            ("record_appeals", "Record an appeal for a caller"),
            ("check_worker", "Ask the worker for a heartbeat"),
            ("open_integrations", "Read the integrations' API keys and call log"),
            ("manage_integrations", "Create and revoke the integrations' API keys"),
            ("open_monitoring", "Open the Monitoring page (stability, performance, fairness)"),
            ("open_notices", "Open the customer notices: timeliness and dead letters"),
            ("retry_notices", "Send a failed customer notice again"),
        ]

    def __str__(self) -> str:
        return "access"


# What an account reference looks like, e.g. LD-CASE-A or LD00012345: the API and the
# signal import check what they are sent against it.
ACCOUNT_REFERENCE = r"^[A-Za-z0-9-]{1,32}$"


class Account(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", _("active")
        FROZEN = "frozen", _("frozen")
        CLOSED = "closed", _("closed")

    class Segment(models.TextChoices):
        MASS = "mass", _("mass market")
        YOUNG = "young", _("young professional")
        AFFLUENT = "affluent", _("affluent")
        MERCHANT = "merchant", _("small merchant")
        STUDENT = "student", _("graduate / student")

    class Band(models.TextChoices):
        A = "A", "A"
        B = "B", "B"
        C = "C", "C"
        D = "D", "D"
        E = "E", "E"

    reference = models.CharField(_("reference"), max_length=32, unique=True)
    # Personal data is stored whole and shown masked (see accounts.masking);
    # only roles with reveal_personal_data see it, and each reveal is logged.
    full_name = models.CharField(_("name"), max_length=100)
    phone = models.CharField(_("phone"), max_length=20)
    national_id = models.CharField(_("ID number"), max_length=18)
    segment = models.CharField(_("segment"), max_length=16, choices=Segment.choices)

    class Language(models.TextChoices):
        ZH_HANS = "zh-hans", "简体中文"
        EN = "en", "English"

    # The customer's language: notices go out in it
    # (docs/architecture.md, "Notices: the register").
    language = models.CharField(
        _("customer's language"),
        max_length=8,
        choices=Language.choices,
        default=Language.ZH_HANS,
        db_default=Language.ZH_HANS,
    )
    status = models.CharField(
        _("status"), max_length=8, choices=Status.choices, default=Status.ACTIVE
    )
    current_limit = models.DecimalField(
        _("current limit"),
        max_digits=12,
        decimal_places=2,
        default=Decimal("0.00"),
        validators=[MinValueValidator(Decimal("0"), _("A limit cannot be negative."))],
    )
    score = models.IntegerField(
        _("score"),
        null=True,
        blank=True,
        validators=[MinValueValidator(350), MaxValueValidator(950)],
    )
    band = models.CharField(_("band"), max_length=1, choices=Band.choices, blank=True)
    cooldown_until = models.DateTimeField(_("cool-down until"), null=True, blank=True)
    opened_at = models.DateTimeField(_("opened"), default=timezone.now)
    # Optimistic locking: every write that changes the account bumps it and
    # refuses to apply when the caller's version is stale.
    version = models.PositiveIntegerField(_("version"), default=1)
    # Consecutive re-scoring cycles without an adverse trigger (capped at what
    # the policy asks for a raise); a fact of history, not a limit.
    good_cycles = models.PositiveSmallIntegerField(_("good cycles"), default=0)
    # Hash of the account's latest LimitDecision: the head of its chain.
    chain_head = models.CharField(_("decision chain head"), max_length=64, blank=True)
    # Copied from the latest decision by the decision writer, so the account
    # list filters on them without touching the (large) decisions table.
    limit_changed_at = models.DateTimeField(_("limit last changed"), null=True, blank=True)
    # When an appeal last restored the limit: score-based cuts skip the account for the
    # policy's decrease_protection_days after it (docs/architecture.md, "Decrease protection").
    restored_at = models.DateTimeField(_("limit restored by an appeal"), null=True, blank=True)
    last_reasons = ArrayField(
        models.CharField(max_length=40),
        verbose_name=_("latest reasons"),
        db_default=Value([], output_field=ArrayField(models.CharField(max_length=40))),
        blank=True,
    )
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["reference"]
        constraints = [
            models.CheckConstraint(
                condition=Q(current_limit__gte=0), name="account_limit_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(score__isnull=True) | Q(score__gte=350, score__lte=950),
                name="account_score_in_range",
            ),
        ]
        indexes = [
            # Search by phone suffix, through its reverse. (The reference has its
            # unique index and the pattern index Django adds for a unique CharField.)
            models.Index(
                OpClass(Reverse("phone"), name="text_pattern_ops"), name="account_phone_suffix"
            ),
            # The account list's sorts, each with its tie-breaker, alone and after
            # the band filter: a band is a slice of the score and limit ranges, so
            # walking the plain index to it would cross most of the book. Rare
            # filters (a status other than active, cool-down) are read
            # filter-first instead (accounts.selectors). Every index here costs
            # the re-score: each account update writes into all of them.
            models.Index(
                F("limit_changed_at").desc(nulls_last=True),
                F("id").desc(),
                name="account_limit_changed",
            ),
            models.Index(fields=["current_limit", "id"], name="account_limit"),
            models.Index(fields=["score", "id"], name="account_score"),
            models.Index(fields=["band", "current_limit", "id"], name="account_band_limit"),
            models.Index(fields=["band", "score", "id"], name="account_band_score"),
            models.Index(
                fields=["cooldown_until"],
                name="account_in_cooldown",
                condition=Q(cooldown_until__isnull=False),
            ),
            GinIndex(fields=["last_reasons"], name="account_last_reasons"),
            # The rare statuses (frozen, closed) read filter-first: only their rows
            # are in it, so a re-score of active accounts seldom writes to it.
            models.Index(
                fields=["status", "id"],
                name="account_not_active",
                condition=~Q(status="active"),
            ),
        ]

    def __str__(self) -> str:
        return self.reference

    @property
    def masked_name(self) -> str:
        return masking.mask_name(self.full_name)

    @property
    def masked_phone(self) -> str:
        return masking.mask_phone(self.phone)

    @property
    def masked_national_id(self) -> str:
        return masking.mask_national_id(self.national_id)

    def in_cooldown(self, now: Any = None) -> bool:
        return self.cooldown_until is not None and self.cooldown_until > (now or timezone.now())

    def days_since_restoration(self, now: Any = None) -> int:
        """Whole days since an appeal last restored the limit, as the runs count them
        (accounts/book.py); scoring.NEVER_RESTORED when none did (docs/architecture.md,
        "Decrease protection")."""
        return restoration_days(self.restored_at, now or timezone.now())


def restoration_days(restored_at: Any, now: Any) -> int:
    """Whole days from an appeal's restoration to `now`; NEVER_RESTORED without one."""
    if restored_at is None or restored_at > now:
        return NEVER_RESTORED
    return int((now - restored_at).days)


class AccountSignals(models.Model):
    """The account's current signals (docs/architecture.md, "Signals"), one per account."""

    account = models.OneToOneField(
        Account, on_delete=models.CASCADE, primary_key=True, related_name="signals"
    )
    credit_score = signal_field("credit_score")
    days_past_due = signal_field("days_past_due")
    overdue_count_12m = signal_field("overdue_count_12m")
    max_dpd_12m = signal_field("max_dpd_12m")
    on_time_ratio = signal_field("on_time_ratio")
    lender_applications_30d = signal_field("lender_applications_30d")
    lender_applications_90d = signal_field("lender_applications_90d")
    external_debt_to_income = signal_field("external_debt_to_income")
    utilization = signal_field("utilization")
    months_high_utilization = signal_field("months_high_utilization")
    consumption_amount_90d = signal_field("consumption_amount_90d")
    repayment_amount_90d = signal_field("repayment_amount_90d")
    active_days_90d = signal_field("active_days_90d")
    tenure_months = signal_field("tenure_months")
    phone_changes_90d = signal_field("phone_changes_90d")
    device_changes_90d = signal_field("device_changes_90d")
    address_changes_90d = signal_field("address_changes_90d")
    linked_bad_share = signal_field("linked_bad_share")
    verified_monthly_income = signal_field("verified_monthly_income")
    provident_fund_verified = signal_field("provident_fund_verified")
    verified_assets = signal_field("verified_assets")
    bad_public_records = signal_field("bad_public_records")
    age = signal_field("age")
    real_name_verified = signal_field("real_name_verified")
    bank_card_bound = signal_field("bank_card_bound")
    # When the upstream system observed these values; an older event never
    # overwrites a newer one.
    observed_at = models.DateTimeField(_("observed at"), default=timezone.now)

    class Meta:
        verbose_name = _("account signals")
        verbose_name_plural = _("account signals")
        constraints = [
            *signal_range_constraints(),
            models.CheckConstraint(
                condition=Q(max_dpd_12m__gte=models.F("days_past_due")),
                name="signal_max_dpd_covers_current",
            ),
            models.CheckConstraint(
                condition=Q(lender_applications_90d__gte=models.F("lender_applications_30d")),
                name="signal_applications_90d_cover_30d",
            ),
        ]

    def __str__(self) -> str:
        return f"signals of {self.account_id}"

    def clean(self) -> None:
        problems = range_problems({spec.name: getattr(self, spec.name) for spec in SIGNALS})
        if problems:
            raise ValidationError(problems)

    def as_dict(self) -> dict[str, Any]:
        return {spec.name: getattr(self, spec.name) for spec in SIGNALS}


class AccountNote(models.Model):
    """A staff note on an account. Notes are kept as written: never edited or deleted."""

    account = models.ForeignKey(Account, models.PROTECT, related_name="notes")
    author = models.ForeignKey("auth.User", models.PROTECT, related_name="+")
    text = models.TextField(_("note"), max_length=2000)
    created_at = models.DateTimeField(_("written at"), default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["account", "-created_at"], name="note_account_recent")]

    def __str__(self) -> str:
        return f"note on {self.account_id} by {self.author_id}"


class PersonalDataReveal(models.Model):
    """Who saw an account's unmasked personal data, and when. Written on every reveal."""

    account = models.ForeignKey(Account, models.PROTECT, related_name="reveals")
    user = models.ForeignKey("auth.User", models.PROTECT, related_name="+")
    revealed_at = models.DateTimeField(default=timezone.now, db_index=True)
    # Why the person needed the unmasked data (asked on every reveal; empty on
    # reveals logged before the question was asked).
    purpose = models.CharField(_("purpose"), max_length=200, blank=True)

    class Meta:
        ordering = ["-revealed_at"]

    def __str__(self) -> str:
        return f"{self.user_id} saw {self.account_id} at {self.revealed_at:%Y-%m-%d %H:%M:%S}"


class PersonalDataSearch(models.Model):
    """A search that read more of a phone than the mask shows: a whole number (anyone
    who may search accounts, at most PHONE_LOOKUPS_PER_HOUR an hour without the
    reveal permission) or other digits (the reveal permission only). Logged like a
    reveal (docs/architecture.md, "Personal data")."""

    user = models.ForeignKey("auth.User", models.PROTECT, related_name="+")
    query = models.CharField(max_length=32)
    whole_number = models.BooleanField()
    searched_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-searched_at"]
        indexes = [models.Index(fields=["user", "searched_at"], name="search_user_time")]

    def __str__(self) -> str:
        return f"{self.user_id} searched {self.query} at {self.searched_at:%Y-%m-%d %H:%M:%S}"


class ContactLogEntry(models.Model):
    """A call, message or letter with the customer, as staff logged it. Never edited."""

    class Channel(models.TextChoices):
        CALL = "call", _("call")
        MESSAGE = "message", _("message")
        LETTER = "letter", _("letter")

    class Direction(models.TextChoices):
        INBOUND = "in", _("from the customer")
        OUTBOUND = "out", _("to the customer")

    account = models.ForeignKey(Account, models.PROTECT, related_name="contacts")
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    direction = models.CharField(_("direction"), max_length=3, choices=Direction.choices)
    summary = models.TextField(_("summary"), max_length=2000)
    author = models.ForeignKey("auth.User", models.PROTECT, related_name="+")
    at = models.DateTimeField(_("when"), default=timezone.now)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["account", "-at"], name="contact_account_recent")]

    def __str__(self) -> str:
        return f"{self.channel} with {self.account_id} at {self.at:%Y-%m-%d %H:%M}"


class SavedFilter(models.Model):
    """A person's named filter of a list page: the page's query string, kept as given."""

    class Page(models.TextChoices):
        ACCOUNTS = "accounts", _("accounts")
        APPEALS = "appeals", _("appeals")
        REVEALS = "reveals", _("personal-data reveals")

    user = models.ForeignKey("auth.User", models.CASCADE, related_name="saved_filters")
    page = models.CharField(max_length=10, choices=Page.choices)
    name = models.CharField(_("name"), max_length=60)
    query = models.CharField(max_length=1000)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["user", "page", "name"], name="saved_filter_name")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.page}: {self.name}"


class ListExport(models.Model):
    """A CSV export of a filtered list: who, which page and filter, how many rows."""

    user = models.ForeignKey("auth.User", models.PROTECT, related_name="+")
    page = models.CharField(max_length=10, choices=SavedFilter.Page.choices)
    query = models.CharField(max_length=1000)
    rows = models.PositiveIntegerField(null=True, blank=True)
    exported_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-exported_at"]

    def __str__(self) -> str:
        return f"{self.user_id} exported {self.page}?{self.query}"

"""What an appeal's response will say, worked out before a handler confirms it: the
outcome's limit, a re-evaluation of the account with the evidence's verified values,
and the notice in each language with its reasons (docs/architecture.md, "Appeals").
Reads through the selectors; scores with the pure appeals.reevaluation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation import gettext as _

import scoring
from accounts.models import AccountSignals
from appeals.models import Appeal
from appeals.reevaluation import (
    VERIFIABLE,
    EvidenceValueError,
    Reevaluation,
    deciding_rule_of,
    reevaluate,
    verified_values,
)
from decisions import wording
from decisions.explanations import ReasonRow, explained_reasons, reason_catalogue, reason_rows
from decisions.models import ReasonCode
from policies import selectors as policy_selectors
from policies.models import Policy


@dataclass(frozen=True)
class ResponsePreview:
    """What the customer will read, before the handler confirms an outcome."""

    outcome: str
    limit: Any  # restored to; None when the decision stands
    reevaluation: Reevaluation | None
    # (language code, its name, what changed (a sentence, or ""), the reasons named)
    notices: list[tuple[str, str, str, list[ReasonRow]]]
    # The next scheduled run would cut the restored limit again (a warning only).
    warning: RecutWarning | None = None


PREVIEW_LANGUAGES = (("zh-hans", "简体中文"), ("en", "English"))


def response_preview(
    appeal: Appeal, *, outcome: str, limit: Any, verified: dict[str, Any]
) -> ResponsePreview:
    """The response in each language; a re-evaluation is worked out to show its result,
    and the response says what it changed and names its own reasons, with the figures.

    Raises ValueError with a message for the handler when the values are unusable."""
    result = None
    active = None
    codes: list[str] = []
    if outcome == Appeal.Outcome.REEVALUATED:
        active, result = reevaluation(appeal, appeal.account, verified_for(appeal, verified))
        limit = result.target
        # The re-evaluation's own reasons: what still limits the line (none when nothing does).
        codes = [
            c for c in result.outcome.reasons if c not in (scoring.GOOD_HISTORY, scoring.REOPENED)
        ]
    elif outcome == Appeal.Outcome.FULL:
        limit = appeal.decision.old_limit if appeal.decision else None
    elif outcome == Appeal.Outcome.PARTIAL and not limit:
        raise ValueError(_("Enter the limit a partial restoration restores to."))
    elif outcome == Appeal.Outcome.UPHELD:
        limit = None
        codes = list(appeal.decision.reasons) if appeal.decision else []
    catalogue = reason_catalogue(codes)
    notices = []
    for language, name in PREVIEW_LANGUAGES:
        with translation.override(language):
            notices.append(
                (
                    language,
                    name,
                    _what_changed(result),
                    _reasons(appeal, result, active, codes, catalogue, language),
                )
            )
    warning = None
    if outcome in (Appeal.Outcome.PARTIAL, Appeal.Outcome.FULL) and limit:
        try:
            warning = recut_warning(appeal.account, Decimal(str(limit).replace(",", "")))
        except ArithmeticError:
            warning = None  # the service refuses the amount with its own message
    return ResponsePreview(outcome, limit, result, notices, warning)


# --------------------------------------------------------------------------
# Guardrail: a restoration the next scheduled run would cut again

NIGHTLY_RUN = "nightly-rescore"  # the CELERY_BEAT_SCHEDULE entry of the portfolio run


@dataclass(frozen=True)
class RecutWarning:
    """The active policy would not keep `restored`: the next scheduled run cuts it to
    `kept` (or closes the line), unless the line is frozen."""

    restored: Decimal
    kept: Decimal
    action: str  # scoring.REDUCE or scoring.CLOSE
    band: str
    ceiling: Decimal  # the band's ceiling in the active policy
    policy_version: int
    next_run: datetime | None  # the nightly run's next start (UTC), None if not scheduled

    @property
    def closes(self) -> bool:
        return self.action == scoring.CLOSE


def next_scheduled_run(now: datetime | None = None) -> datetime | None:
    """When the nightly portfolio run next starts, from the beat schedule (a crontab
    of hours and minutes, in CELERY_TIMEZONE = UTC); None when it is not scheduled."""
    entry = settings.CELERY_BEAT_SCHEDULE.get(NIGHTLY_RUN)
    schedule = entry.get("schedule") if entry else None
    hours, minutes = getattr(schedule, "hour", None), getattr(schedule, "minute", None)
    if not hours or not minutes:
        return None
    now = (now or timezone.now()).astimezone(UTC)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    times = sorted(
        day + timedelta(days=offset, hours=hour, minutes=minute)
        for offset in (0, 1)
        for hour in hours
        for minute in minutes
    )
    return next((at for at in times if at > now), None)


def recut_warning(account: Any, restored: Decimal) -> RecutWarning | None:
    """What the active policy makes of the account at the restored limit in the next
    scheduled run (a cycle: scored on its signals now). A warning when it would cut
    or close the line; None when it keeps it, or without a policy or signals.

    The restoration is an appeal's: it starts the policy's decrease protection, so
    only hard triggers and closures can cut it in that run (docs/architecture.md,
    "Decrease protection")."""
    active = policy_selectors.active_policy()
    signals = AccountSignals.objects.filter(account_id=account.pk).first()
    if active is None or signals is None or restored <= 0:
        return None
    compiled = scoring.compile_rules(scoring.parse_policy(active.rules))
    outcome = scoring.evaluate(
        compiled,
        signals.as_dict(),
        limit=scoring.cents(restored),
        status="active",
        in_cooldown=account.in_cooldown(),
        good_cycles=account.good_cycles,
        cycle=True,
        days_since_restoration=0,
    )
    kept = outcome.new_limit_decimal
    cut = outcome.action == scoring.REDUCE and kept < restored
    if not cut and outcome.action != scoring.CLOSE:
        return None
    names = [band.name for band in compiled.rules.bands]
    return RecutWarning(
        restored=restored,
        kept=kept,
        action=outcome.action,
        band=outcome.band,
        ceiling=Decimal(compiled.band_ceilings[names.index(outcome.band)]) / 100,
        policy_version=active.version,
        next_run=next_scheduled_run(),
    )


def _what_changed(result: Reevaluation | None) -> str:
    if result is None:
        return ""
    verified = "; ".join(
        f"{wording.label(name)} {wording.value(name, value)}"
        for name, value in result.signals.items()
        if name in VERIFIABLE and value not in (None, False)
    )
    return _(
        "With the proof you sent (%(verified)s), our assessment of your account went "
        "from band %(before)s to band %(after)s."
    ) % {
        "verified": verified,
        "before": result.band_before,
        "after": result.outcome.band,
    }


def _reasons(
    appeal: Appeal,
    result: Reevaluation | None,
    active: Policy | None,
    codes: list[str],
    catalogue: dict[str, ReasonCode],
    language: str,
) -> list[ReasonRow]:
    if result is not None and active is not None:
        rules = scoring.parse_policy(active.rules)
        scored = result.outcome
        deciding = deciding_rule_of(result, rules)
        return explained_reasons(
            codes,
            catalogue,
            language,
            rules=rules,
            triggers=scored.triggers,
            inputs=result.signals,
            old_limit=result.start_limit,
            band=scored.band,
            deciding=deciding,
            figure=scored.new_limit_decimal if scored.action == scoring.REDUCE else None,
        )
    if appeal.decision is None:
        return []
    return reason_rows(appeal.decision, catalogue, language)


def verified_for(appeal: Appeal, raw: dict[str, Any] | None) -> dict[str, Any]:
    """The values a re-evaluation rests on, checked; the proof must be on file.

    Raises EvidenceValueError with a message for the handler."""
    raw = raw or {}
    values = verified_values(
        monthly_income=raw.get("monthly_income"),
        provident_fund=bool(raw.get("provident_fund")),
        assets=raw.get("assets"),
    )
    if not appeal.evidence.exists():
        raise EvidenceValueError(
            _("Upload the evidence first: a re-evaluation rests on proof kept with the appeal.")
        )
    return values


def start_point(appeal: Appeal, account: Any) -> tuple[Decimal, str]:
    """The limit and status a re-evaluation starts from: before the contested
    decision when it lowered the limit or closed the line, else as they are now."""
    contested = appeal.decision
    if contested is not None and contested.old_limit > account.current_limit:
        return contested.old_limit, contested.old_status
    return account.current_limit, account.status


def reevaluation(
    appeal: Appeal, account: Any, verified: dict[str, Any]
) -> tuple[Policy, Reevaluation]:
    """The account scored by the active policy with the evidence's verified values."""
    active = policy_selectors.active_policy()
    if active is None:
        raise LookupError("No policy version is active.")
    signals = AccountSignals.objects.filter(account_id=account.pk).first()
    start_limit, start_status = start_point(appeal, account)
    return active, reevaluate(
        scoring.compile_rules(scoring.parse_policy(active.rules)),
        signals.as_dict() if signals else {},
        verified,
        score_before=account.score,
        band_before=account.band,
        start_limit=start_limit,
        start_status=start_status,
        limit_now=account.current_limit,
        good_cycles=account.good_cycles,
        days_since_restoration=account.days_since_restoration(),
    )

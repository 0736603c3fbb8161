"""Why a decision was taken, read for the pages: the thresholds it crossed, its
reasons in words, the change that would have avoided it, the reason catalogue
(docs/architecture.md, "Reasons")."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

import scoring
from accounts.models import Account
from accounts.signal_spec import SIGNALS_BY_NAME
from accounts.templatetags.desk import signal_value
from decisions import explain, wording
from decisions.models import (
    LimitDecision,
    ReasonCode,
)
from policies import selectors as policy_selectors


@dataclass(frozen=True)
class ContributionRow:
    signal: str
    label: Any
    points: int
    lost: int  # points below the signal's best bin


@dataclass(frozen=True)
class ReasonRow:
    code: str
    staff: str
    customer: str
    suggestion: str
    facts: tuple[str, ...] = ()  # the account's own figures behind the reason
    deciding: bool = False  # the rule that set the decision's figure


@dataclass(frozen=True)
class InputRow:
    label: Any
    then: Any
    now: Any
    changed: bool


@dataclass(frozen=True)
class ThresholdRow:
    code: str
    label: Any
    value: str  # the value at the decision
    comparison: str  # "≥ 8"
    effect: str


@dataclass(frozen=True)
class Explanation:
    decision: LimitDecision
    reasons: list[ReasonRow]
    contributions: list[ContributionRow]
    inputs: list[InputRow]
    thresholds: list[ThresholdRow]
    restoration: str = ""  # what would have kept or restored the limit, in words


OPERATORS = {">=": "≥", ">": ">", "<": "<", "=": "=", "": ""}
SPECIAL_LABELS = {
    "limit": gettext_lazy("limit before the decision"),
    "overlay": gettext_lazy("portfolio overlay factor"),
    "cooldown": gettext_lazy("cool-down after a closure"),
}


def _plain(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(_("yes") if value else _("no"))
    return str(value)


def _effect(row: scoring.Crossed) -> str:
    if row.effect == "close":
        return _("closes the line")
    if row.effect == "reduce":
        return _("cuts the limit by %(pct)s%%") % {"pct": row.pct}
    if row.effect == "cap":
        return _("caps the limit")
    return _("keeps the line closed for %(days)s days after the closure") % {"days": row.value}


def threshold_rows(decision: LimitDecision) -> list[ThresholdRow]:
    """The thresholds the decision crossed, read against its own policy version."""
    if not decision.triggers or decision.policy is None:
        return []
    rules = scoring.parse_policy(decision.policy.rules)
    rows = []
    for row in scoring.crossed_thresholds(
        decision.triggers,
        decision.inputs,
        rules,
        old_limit=decision.old_limit,
        band=decision.band_after,
    ):
        spec = SIGNALS_BY_NAME.get(row.signal)
        rows.append(
            ThresholdRow(
                code=row.code,
                label=spec.label if spec else SPECIAL_LABELS.get(row.signal, row.signal),
                value="" if row.effect == "keep_closed" else _plain(row.value),
                comparison=""
                if row.effect == "keep_closed"
                else f"{OPERATORS.get(row.op, row.op)} {_plain(row.threshold)}",
                effect=_effect(row),
            )
        )
    return rows


def decision_explanation(
    decision: LimitDecision,
    *,
    language: str,
    current_signals: dict[str, Any] | None,
    catalogue: dict[str, ReasonCode] | None = None,
) -> Explanation:
    """Why a decision moved the limit: reasons in words, points per signal, inputs then vs now.

    Pass `catalogue` (ReasonCode by code) to explain one decision in several languages
    with one query."""
    if catalogue is None:
        catalogue = reason_catalogue(decision.reasons)
    with translation.override(language):
        reasons = reason_rows(decision, catalogue, language)
        restoration = restoration_text(decision)
    best = {c.signal: c.best for c in scoring.SCORECARD}
    contributions = sorted(
        (
            ContributionRow(
                signal=name,
                label=SIGNALS_BY_NAME[name].label if name in SIGNALS_BY_NAME else name,
                points=points,
                lost=best.get(name, points) - points,
            )
            for name, points in decision.contributions.items()
        ),
        key=lambda row: (-row.lost, row.signal),
    )
    inputs = []
    for name, then in decision.inputs.items():
        now = (current_signals or {}).get(name)
        inputs.append(
            InputRow(
                label=SIGNALS_BY_NAME[name].label if name in SIGNALS_BY_NAME else name,
                then=signal_value(then, name),
                now=signal_value(now, name),
                changed=current_signals is not None and _differs(then, now),
            )
        )
    return Explanation(
        decision, reasons, contributions, inputs, threshold_rows(decision), restoration
    )


def _rules_of(decision: LimitDecision) -> scoring.PolicyRules | None:
    if decision.policy is None:
        return None
    return scoring.parse_policy(decision.policy.rules)


def deciding_code(decision: LimitDecision) -> str | None:
    """The rule named first because it set the figure (a cut or a closure)."""
    if decision.action not in (scoring.REDUCE, scoring.CLOSE) or not decision.reasons:
        return None
    first = decision.reasons[0]
    return first if first in decision.triggers else None


def reason_rows(
    decision: LimitDecision, catalogue: dict[str, ReasonCode], language: str
) -> list[ReasonRow]:
    """Each reason the decision states in words, with the account's own figures."""
    deciding = deciding_code(decision)
    return explained_reasons(
        decision.reasons,
        catalogue,
        language,
        rules=_rules_of(decision),
        triggers=decision.triggers,
        inputs=decision.inputs,
        old_limit=decision.old_limit,
        band=decision.band_after,
        deciding=deciding,
        figure=decision.new_limit if deciding and decision.action == scoring.REDUCE else None,
    )


def explained_reasons(
    codes: Sequence[str],
    catalogue: dict[str, ReasonCode],
    language: str,
    *,
    rules: scoring.PolicyRules | None,
    triggers: Sequence[str],
    inputs: dict[str, Any],
    old_limit: Decimal,
    band: str,
    deciding: str | None = None,
    figure: Decimal | None = None,
) -> list[ReasonRow]:
    """Reasons in words (call inside translation.override(language)): the catalogue's
    texts, and the figures behind each, read from `inputs` against `rules`: the
    threshold a rule crossed (with the limit it set, `figure`, for the `deciding`
    rule) and the signals below their best bins."""
    rows = []
    for code in codes:
        facts: list[str] = []
        if rules is not None:
            if code in triggers:
                facts += [
                    wording.rule_fact(
                        row, band=band, new_limit=figure if code == deciding else None
                    )
                    for row in scoring.crossed_thresholds(
                        [code], inputs, rules, old_limit=old_limit, band=band
                    )
                ]
            facts += [wording.score_fact(f) for f in explain.scorecard_facts(code, inputs)]
        if code == "VERIFIED_CAPACITY":  # what the appeal's evidence verified
            facts += [
                f"{wording.label(name)}: {wording.value(name, inputs[name])}"
                for name in scoring.VERIFIABLE
                if inputs.get(name) not in (None, False, "0", "0.00")
            ]
        entry = catalogue.get(code)
        rows.append(
            ReasonRow(
                code=code,
                staff=entry.text("staff", language) if entry else code,
                customer=entry.text("customer", language) if entry else "",
                suggestion=entry.text("suggestion", language) if entry else "",
                facts=tuple(facts),
                deciding=code == deciding,
            )
        )
    return rows


def restoration_text(decision: LimitDecision) -> str:
    """For a cut or closure by the policy: the smallest change of one or two signals the
    customer can act on that would have kept the limit or moved the band."""
    rules = _rules_of(decision)
    if rules is None or decision.action not in (scoring.REDUCE, scoring.CLOSE):
        return ""
    compiled = scoring.compile_rules(rules)
    found = explain.restoration(
        compiled,
        decision.inputs,
        limit=scoring.cents(decision.old_limit),
        status=decision.old_status,
        band=decision.band_after,
        days_since_restoration=0 if made_protected(decision, compiled) else scoring.NEVER_RESTORED,
    )
    if found is None:
        return _("No change of one or two signals the customer controls would restore it.")
    return wording.restoration(found, old_limit=decision.old_limit)


def made_protected(decision: LimitDecision, compiled: scoring.CompiledRules) -> bool:
    """Whether a policy's cut was made under decrease protection, read from the decision
    alone (no query): it cut a limit above its band's ceiling and names no ceiling,
    which an unprotected cut always does (docs/architecture.md, "Decrease protection")."""
    names = [band.name for band in compiled.rules.bands]
    if decision.action != scoring.REDUCE or decision.band_after not in names:
        return False
    ceiling = compiled.band_ceilings[names.index(decision.band_after)]
    capped = {scoring.BAND_CEILING, scoring.PORTFOLIO_OVERLAY} & set(decision.triggers or [])
    return scoring.cents(decision.old_limit) > ceiling and not capped


def reason_catalogue(codes: list[str]) -> dict[str, ReasonCode]:
    return ReasonCode.objects.in_bulk(list(codes))


def reason_choices(language: str) -> list[tuple[str, str]]:
    """Reason codes for a filter: (code, "CODE — staff text")."""
    return [
        (reason.code, f"{reason.code} — {reason.text('staff', language)}")
        for reason in ReasonCode.objects.order_by("code")
    ]


@dataclass(frozen=True)
class LimitAsSet:
    """How the limit of an account that no decision has changed was set, and what the
    active policy makes of it today."""

    opened_at: datetime
    limit: Decimal
    status: str
    policy_version: int
    score: int
    band: str
    ceiling: Decimal
    proposal: str  # the policy's action today: keep, reduce, close ...
    proposed_limit: Decimal
    facts: list[str]  # the rules that fire today and the material scorecard reasons


def limit_as_set(account: Account) -> LimitAsSet | None:
    """For an account without decisions: its opening limit, scored by the active policy
    now (between cycles: nothing is raised), with the figures behind what it would do."""
    signals = getattr(account, "signals", None)
    found = policy_selectors.active_policy()
    if signals is None or found is None:
        return None
    compiled = scoring.compile_rules(scoring.parse_policy(found.rules))
    inputs = signals.as_dict()
    outcome = scoring.evaluate(
        compiled,
        inputs,
        limit=scoring.cents(account.current_limit),
        status=account.status,
        in_cooldown=account.in_cooldown(),
        good_cycles=account.good_cycles,
        cycle=False,
        days_since_restoration=account.days_since_restoration(),
    )
    names = [band.name for band in compiled.rules.bands]
    facts = [
        wording.rule_fact(row, band=outcome.band, new_limit=None)
        for row in scoring.crossed_thresholds(
            outcome.triggers,
            inputs,
            compiled.rules,
            old_limit=account.current_limit,
            band=outcome.band,
        )
    ]
    material = scoring.material_reasons(outcome.contributions, compiled.rules.reason_min_points)
    for code in material[: scoring.MAX_REASONS]:
        facts += [wording.score_fact(fact) for fact in explain.scorecard_facts(code, inputs)]
    return LimitAsSet(
        opened_at=account.opened_at,
        limit=account.current_limit,
        status=account.status,
        policy_version=found.version,
        score=outcome.score,
        band=outcome.band,
        ceiling=Decimal(compiled.band_ceilings[names.index(outcome.band)]) / 100,
        proposal=outcome.action,
        proposed_limit=outcome.new_limit_decimal,
        facts=facts,
    )


def _differs(then: Any, now: Any) -> bool:
    try:
        return float(then if then is not None else 0) != float(now if now is not None else 0)
    except (TypeError, ValueError):
        return str(then) != str(now)

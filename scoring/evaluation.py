"""Per-account evaluation: the action, the new limit and the reasons for one account."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from scoring.rules import CompiledRules, PolicyRules
from scoring.scorecard import (
    BAND_CEILING,
    BASE_SCORE,
    CLOSE,
    CLOSE_TRIGGERS,
    COOLDOWN,
    GOOD_HISTORY,
    HIGH_UTILIZATION,
    INELIGIBLE,
    INPUT_SIGNALS,
    KEEP,
    LINKED_RISK,
    MAX_REASONS,
    MAX_SCORE,
    MIN_SCORE,
    MULTI_LENDING,
    OVERDUE_NOW,
    PORTFOLIO_OVERLAY,
    PUBLIC_RECORD,
    RAISE,
    REDUCE,
    REOPEN,
    REOPENED,
    SCORECARD,
    SERIOUS_OVERDUE,
    TRIGGER_ORDER,
    as_number,
)

# days_since_restoration of an account no appeal ever restored: never protected.
NEVER_RESTORED = 100_000


@dataclass(frozen=True)
class Outcome:
    action: str
    old_limit: int  # cents
    new_limit: int  # cents
    old_status: str
    new_status: str
    score: int
    band: str
    contributions: dict[str, int]
    triggers: tuple[str, ...]
    reasons: tuple[str, ...]
    good_cycles: int

    @property
    def changed(self) -> bool:
        return self.action != KEEP

    @property
    def new_limit_decimal(self) -> Decimal:
        return Decimal(self.new_limit) / 100


def deciding_rule(
    action: str, triggers: Sequence[str], *, limit: int, band_index: int, compiled: CompiledRules
) -> str | None:
    """The rule that set the decision's figure (docs/architecture.md, "Reasons").

    A closure: the first close trigger. A cut: of the band's ceiling (or the
    overlay's) and each percentage cut that fired, the one giving the lowest
    limit; on a tie the first in TRIGGER_ORDER. Other actions: None."""
    if action == CLOSE:
        return next((code for code in CLOSE_TRIGGERS if code in triggers), None)
    if action != REDUCE:
        return None
    cut_bp = {
        OVERDUE_NOW: compiled.overdue_bp,
        MULTI_LENDING: compiled.multi_lending_bp,
        HIGH_UTILIZATION: compiled.utilization_bp,
        LINKED_RISK: compiled.linked_bp,
    }
    figures = [
        (
            limit * (10000 - cut_bp[code]) // 10000
            if code in cut_bp
            else compiled.band_ceilings[band_index],
            position,
        )
        for position, code in enumerate(TRIGGER_ORDER)
        if code in triggers and (code in cut_bp or code in (BAND_CEILING, PORTFOLIO_OVERLAY))
    ]
    if not figures:
        return None
    return TRIGGER_ORDER[min(figures)[1]]


def principal_reasons(
    action: str,
    contributions: Mapping[str, int],
    triggers: Sequence[str],
    *,
    deciding: str | None = None,
    min_points: int = 0,
) -> tuple[str, ...]:
    """At most four reasons, the one that decided the outcome first.

    `deciding` (see deciding_rule) comes first, then the other fired triggers
    in severity order, then the scorecard reasons whose signals lost at least
    `min_points` (and at least one) against their best bins, the largest loss
    first, ties in scorecard order: the usual adverse-action method, with a
    floor under which a shortfall is not material (docs/architecture.md,
    "Reasons"). The deciding rule is never dropped by the cap.
    """
    if action == RAISE:
        return (GOOD_HISTORY,)
    if action == REOPEN:
        return (REOPENED, GOOD_HISTORY)
    reasons = [deciding] if deciding else []
    reasons += [code for code in TRIGGER_ORDER if code in triggers and code not in reasons]
    for reason in material_reasons(contributions, min_points):
        if reason not in reasons:
            reasons.append(reason)
    return tuple(reasons[:MAX_REASONS])


def material_reasons(contributions: Mapping[str, int], min_points: int) -> list[str]:
    """The scorecard reasons whose signals lost at least `min_points` (and at least one)
    against their best bins, the largest loss first, ties in scorecard order."""
    lost: dict[str, int] = {}
    for characteristic in SCORECARD:
        if characteristic.adverse:
            shortfall = characteristic.best - contributions[characteristic.signal]
            lost[characteristic.reason] = lost.get(characteristic.reason, 0) + shortfall
    order = {c.reason: i for i, c in reversed(list(enumerate(SCORECARD)))}
    floor = max(min_points, 1)
    return sorted((r for r, n in lost.items() if n >= floor), key=lambda r: (-lost[r], order[r]))


def reasons_of(
    action: str,
    contributions: Mapping[str, int],
    triggers: Sequence[str],
    *,
    limit: int,
    band_index: int,
    compiled: CompiledRules,
) -> tuple[str, ...]:
    """The reasons a decision states: principal_reasons with its deciding rule and the
    policy's materiality floor; a kept limit states the triggers that fired."""
    if action == KEEP:
        return tuple(triggers)
    deciding = deciding_rule(
        action, triggers, limit=limit, band_index=band_index, compiled=compiled
    )
    return principal_reasons(
        action,
        contributions,
        triggers,
        deciding=deciding,
        min_points=compiled.rules.reason_min_points,
    )


def evaluate(
    compiled: CompiledRules,
    signals: Mapping[str, Any],
    *,
    limit: int,
    status: str,
    in_cooldown: bool,
    good_cycles: int,
    cycle: bool = True,
    days_since_restoration: int = NEVER_RESTORED,
) -> Outcome:
    """Score one account and propose its limit. `limit` is in cents.

    `cycle`: a scheduled re-score, which counts a good cycle and may raise or reopen
    (gradual restoration is per cycle). Without it (a re-score on a signal change
    between cycles) bad news still cuts or closes and resets the good cycles, but
    nothing is raised or reopened and no cycle is counted.

    `days_since_restoration`: whole days since an appeal last restored the limit.
    Under the policy's decrease_protection_days the ceiling (band or overlay) does
    not apply: only the hard triggers cut, each by its own percentage, and closures
    still close (docs/architecture.md, "Decrease protection")."""
    rules = compiled.rules
    protected = days_since_restoration < rules.decrease_protection_days
    contributions = {c.signal: c.points_for(as_number(signals.get(c.signal))) for c in SCORECARD}
    score = min(max(BASE_SCORE + sum(contributions.values()), MIN_SCORE), MAX_SCORE)
    band_index = next(
        (i for i, low in enumerate(compiled.band_min_scores) if score >= low),
        len(compiled.band_min_scores) - 1,
    )
    band = rules.bands[band_index].name

    value = {name: as_number(signals.get(name)) for name in INPUT_SIGNALS}
    triggers: list[str] = []
    if (
        value["age"] < rules.min_age
        or not value["real_name_verified"]
        or not value["bank_card_bound"]
    ):
        triggers.append(INELIGIBLE)
    if value["days_past_due"] >= rules.close_dpd:
        triggers.append(SERIOUS_OVERDUE)
    if rules.close_on_public_record and value["bad_public_records"] >= 1:
        triggers.append(PUBLIC_RECORD)
    cuts: list[tuple[str, int]] = []
    if value["days_past_due"] > 0:
        cuts.append((OVERDUE_NOW, compiled.overdue_bp))
    if value["lender_applications_30d"] >= rules.multi_lending_applications_30d:
        cuts.append((MULTI_LENDING, compiled.multi_lending_bp))
    if (
        value["utilization"] >= float(rules.utilization_threshold)
        and value["months_high_utilization"] >= rules.utilization_months
    ):
        cuts.append((HIGH_UTILIZATION, compiled.utilization_bp))
    if value["linked_bad_share"] >= float(rules.linked_risk_threshold):
        cuts.append((LINKED_RISK, compiled.linked_bp))
    closing = bool(triggers)
    triggers += [code for code, _bp in cuts]
    good = not triggers
    counted = good_cycles + 1 if cycle else good_cycles
    cycles = min(counted, rules.raise_good_cycles) if good else 0

    action, new_limit, new_status = KEEP, limit, status
    ceiling = compiled.band_ceilings[band_index]
    if status == "frozen":
        pass  # a freeze is a person's decision; scoring leaves it alone
    elif status == "closed":
        if not closing and in_cooldown:
            triggers.append(COOLDOWN)
        elif cycle and not closing and good and cycles >= rules.raise_good_cycles:
            reopen_at = min(compiled.reopen_limit, ceiling)
            if reopen_at > 0:
                action, new_limit, new_status = REOPEN, reopen_at, "active"
    elif closing:
        action, new_limit, new_status = CLOSE, 0, "closed"
    else:
        # A protected account keeps a limit above its ceiling: no score-based cut.
        proposed = limit if protected else min(limit, ceiling)
        if proposed < limit:  # the ceiling binds: the band's own, or the overlay's
            above_band = limit > compiled.raw_ceilings[band_index]
            triggers.append(BAND_CEILING if above_band else PORTFOLIO_OVERLAY)
        for _code, bp in cuts:
            proposed = min(proposed, limit * (10000 - bp) // 10000)
        if proposed < limit:  # only a cut is rounded: a kept limit stays to the cent
            proposed = proposed // compiled.unit * compiled.unit
        if proposed < limit:
            if (limit - proposed) * 10000 >= limit * compiled.hysteresis_bp:
                action, new_limit = REDUCE, proposed
        elif cycle and good and cycles >= rules.raise_good_cycles and limit < ceiling:
            if limit == 0:
                target = min(ceiling, compiled.reopen_limit)
            else:
                target = min(ceiling, limit * (10000 + compiled.raise_cap_bp) // 10000)
            target = target // compiled.unit * compiled.unit
            if target > limit and (target - limit) * 10000 >= limit * compiled.hysteresis_bp:
                action, new_limit = RAISE, target

    fired = tuple(code for code in TRIGGER_ORDER if code in triggers)
    return Outcome(
        action=action,
        old_limit=limit,
        new_limit=new_limit,
        old_status=status,
        new_status=new_status,
        score=score,
        band=band,
        contributions=contributions,
        triggers=fired,
        reasons=reasons_of(
            action, contributions, fired, limit=limit, band_index=band_index, compiled=compiled
        ),
        good_cycles=cycles,
    )


@dataclass(frozen=True)
class Crossed:
    """One threshold a decision crossed: `signal` `op` `threshold` (value at the decision)."""

    code: str  # the trigger reason code
    signal: str  # a signal name, or "score" / "limit" / "overlay" / "cooldown"
    value: Any
    op: str  # ">=", ">", "<", "is not", ">" ...
    threshold: Any
    effect: str  # close | reduce | cap | keep_closed
    pct: Decimal | None = None  # the cut for a reduce


def crossed_thresholds(
    triggers: Sequence[str],
    inputs: Mapping[str, Any],
    rules: PolicyRules,
    *,
    old_limit: Decimal,
    band: str,
) -> list[Crossed]:
    """The thresholds behind a decision's triggers, with the values it saw.

    Pure: reads the stored triggers and inputs against the policy version the
    decision used, so the page shows exactly what was compared."""
    value = {name: inputs.get(name) for name in INPUT_SIGNALS}
    rows: list[Crossed] = []
    for code in triggers:
        if code == INELIGIBLE:
            if as_number(value["age"]) < rules.min_age:
                rows.append(Crossed(code, "age", value["age"], "<", rules.min_age, "close"))
            for name in ("real_name_verified", "bank_card_bound"):
                if not as_number(value[name]):
                    rows.append(Crossed(code, name, value[name], "=", False, "close"))
        elif code == SERIOUS_OVERDUE:
            rows.append(
                Crossed(
                    code, "days_past_due", value["days_past_due"], ">=", rules.close_dpd, "close"
                )
            )
        elif code == PUBLIC_RECORD:
            rows.append(
                Crossed(code, "bad_public_records", value["bad_public_records"], ">=", 1, "close")
            )
        elif code == OVERDUE_NOW:
            rows.append(
                Crossed(
                    code,
                    "days_past_due",
                    value["days_past_due"],
                    ">",
                    0,
                    "reduce",
                    rules.overdue_reduce_pct,
                )
            )
        elif code == MULTI_LENDING:
            rows.append(
                Crossed(
                    code,
                    "lender_applications_30d",
                    value["lender_applications_30d"],
                    ">=",
                    rules.multi_lending_applications_30d,
                    "reduce",
                    rules.multi_lending_reduce_pct,
                )
            )
        elif code == HIGH_UTILIZATION:
            rows.append(
                Crossed(
                    code,
                    "utilization",
                    value["utilization"],
                    ">=",
                    rules.utilization_threshold,
                    "reduce",
                    rules.utilization_reduce_pct,
                )
            )
            rows.append(
                Crossed(
                    code,
                    "months_high_utilization",
                    value["months_high_utilization"],
                    ">=",
                    rules.utilization_months,
                    "reduce",
                    rules.utilization_reduce_pct,
                )
            )
        elif code == LINKED_RISK:
            rows.append(
                Crossed(
                    code,
                    "linked_bad_share",
                    value["linked_bad_share"],
                    ">=",
                    rules.linked_risk_threshold,
                    "reduce",
                    rules.linked_risk_reduce_pct,
                )
            )
        elif code == BAND_CEILING:
            ceiling = next((b.ceiling for b in rules.bands if b.name == band), None)
            rows.append(Crossed(code, "limit", old_limit, ">", ceiling, "cap"))
        elif code == PORTFOLIO_OVERLAY:
            rows.append(Crossed(code, "overlay", rules.overlay_factor, "<", 1, "cap"))
        elif code == COOLDOWN:
            rows.append(Crossed(code, "cooldown", rules.cooldown_days, "", None, "keep_closed"))
    return rows

"""The scorecard and the limit policy. Pure Python and numpy: no ORM, no I/O.

Two ways to evaluate, one result: `evaluate()` for one account, and
`evaluate_chunk()` for whole arrays of accounts (the re-scoring runs). Both
work in integer cents and basis points so they agree to the cent; a property
test holds them to it.

How a limit moves (all thresholds come from the `PolicyRules` of the active
policy version, never from code):

1. Eligibility, serious overdue and public records close the line.
2. A closed line stays closed through its cool-down; afterwards it reopens at
   a small limit once the account has had enough good cycles.
3. The score band sets a ceiling (times the portfolio overlay factor); a limit
   above it comes down to it.
4. Hard triggers cut by a percentage: overdue now, many applications at other
   lenders, long high utilization, linked accounts in bad standing.
5. No change smaller than the hysteresis step.
6. Increases only after enough consecutive good cycles, at most +k% a cycle,
   never above the ceiling.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from itertools import pairwise
from typing import Any

import numpy as np
import numpy.typing as npt
from django.utils.translation import gettext as _

from config.text import REASON_MAX, too_long

SCORECARD_VERSION = "sc-1"
BASE_SCORE = 650
MIN_SCORE, MAX_SCORE = 350, 950
MAX_REASONS = 4

# Actions a scoring evaluation can propose.
KEEP, RAISE, REDUCE, CLOSE, REOPEN = "keep", "raise", "reduce", "close", "reopen"
ACTIONS = (KEEP, RAISE, REDUCE, CLOSE, REOPEN)

# Trigger reason codes, most severe first: the order principal reasons take.
INELIGIBLE = "INELIGIBLE"
SERIOUS_OVERDUE = "SERIOUS_OVERDUE"
PUBLIC_RECORD = "PUBLIC_RECORD"
COOLDOWN = "COOLDOWN"
OVERDUE_NOW = "OVERDUE_NOW"
MULTI_LENDING = "MULTI_LENDING"
HIGH_UTILIZATION = "HIGH_UTILIZATION"
LINKED_RISK = "LINKED_RISK"
PORTFOLIO_OVERLAY = "PORTFOLIO_OVERLAY"
BAND_CEILING = "BAND_CEILING"
GOOD_HISTORY = "GOOD_HISTORY"
REOPENED = "REOPENED"
CLOSE_TRIGGERS = (INELIGIBLE, SERIOUS_OVERDUE, PUBLIC_RECORD)
REDUCE_TRIGGERS = (OVERDUE_NOW, MULTI_LENDING, HIGH_UTILIZATION, LINKED_RISK)
TRIGGER_ORDER = (*CLOSE_TRIGGERS, COOLDOWN, *REDUCE_TRIGGERS, PORTFOLIO_OVERLAY, BAND_CEILING)


# --------------------------------------------------------------------------
# Scorecard
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Characteristic:
    """One signal binned into points. Bin i holds values in [edges[i-1], edges[i])."""

    signal: str
    edges: tuple[float, ...]
    points: tuple[int, ...]
    reason: str
    # Capacity evidence (income, assets) adds points but its absence is not
    # an adverse reason to tell a customer.
    adverse: bool = True

    def __post_init__(self) -> None:
        if len(self.points) != len(self.edges) + 1:
            raise ValueError(f"{self.signal}: need one more points value than edges")
        if list(self.edges) != sorted(self.edges):
            raise ValueError(f"{self.signal}: edges must ascend")

    @property
    def best(self) -> int:
        return max(self.points)

    def points_for(self, value: float) -> int:
        return self.points[bisect_right(self.edges, value)]


def _score_bins() -> Characteristic:
    edges = tuple(float(edge) for edge in range(375, 950, 25))
    points = tuple(lower - BASE_SCORE for lower in (350, *range(375, 950, 25)))
    return Characteristic("credit_score", edges, points, "SCORE_LOW")


SCORECARD: tuple[Characteristic, ...] = (
    _score_bins(),
    Characteristic("days_past_due", (1, 8, 31, 61), (0, -40, -90, -160, -240), "OVERDUE_NOW"),
    Characteristic("overdue_count_12m", (1, 2, 4), (5, -10, -25, -45), "OVERDUE_HISTORY"),
    Characteristic("max_dpd_12m", (1, 31, 91), (0, -10, -30, -60), "OVERDUE_HISTORY"),
    Characteristic("on_time_ratio", (0.8, 0.95, 1.0), (-30, -10, 0, 10), "OVERDUE_HISTORY"),
    Characteristic("lender_applications_30d", (2, 4, 8, 13), (0, -10, -30, -60, -90), "MULTI_LENDING"),  # noqa: E501
    Characteristic("lender_applications_90d", (4, 10, 20), (0, -10, -20, -35), "MULTI_LENDING"),
    Characteristic("external_debt_to_income", (0.5, 1.0, 2.0), (0, -15, -35, -60), "MULTI_LENDING"),
    Characteristic("utilization", (0.3, 0.7, 0.9), (5, 0, -15, -30), "HIGH_UTILIZATION"),
    Characteristic("months_high_utilization", (1, 3, 6), (0, -10, -25, -40), "HIGH_UTILIZATION"),
    Characteristic("active_days_90d", (5, 20, 45), (-20, -5, 0, 10), "LOW_ACTIVITY"),
    Characteristic("tenure_months", (6, 24, 60), (-15, 0, 10, 20), "LOW_ACTIVITY"),
    Characteristic("consumption_amount_90d", (500, 5000), (-10, 0, 5), "LOW_ACTIVITY"),
    Characteristic("phone_changes_90d", (1, 3), (0, -10, -25), "INSTABILITY"),
    Characteristic("device_changes_90d", (2, 4), (0, -10, -25), "INSTABILITY"),
    Characteristic("address_changes_90d", (1, 3), (0, -5, -15), "INSTABILITY"),
    Characteristic("linked_bad_share", (0.1, 0.3), (0, -25, -60), "LINKED_RISK"),
    Characteristic("bad_public_records", (1,), (0, -200), "PUBLIC_RECORD"),
    Characteristic("verified_monthly_income", (1, 10000, 30000), (0, 10, 20, 30), "CAPACITY", False),  # noqa: E501
    Characteristic("provident_fund_verified", (0.5,), (0, 15), "CAPACITY", False),
    Characteristic("verified_assets", (1, 100000, 1000000), (0, 5, 15, 25), "CAPACITY", False),
)  # fmt: skip
SCORED_SIGNALS = tuple(c.signal for c in SCORECARD)
# Signals the rules read besides the scorecard.
RULE_SIGNALS = ("age", "real_name_verified", "bank_card_bound")
INPUT_SIGNALS = (*SCORED_SIGNALS, *RULE_SIGNALS)
# The signals an appeal's evidence can verify (docs/architecture.md, "Signals").
VERIFIABLE = ("verified_monthly_income", "provident_fund_verified", "verified_assets")


def as_number(value: Any) -> float:
    """The one conversion of a signal value used by both evaluation paths."""
    if value is None:
        return 0.0
    return float(value)


# --------------------------------------------------------------------------
# Policy rules (the thresholds of a policy version)
# --------------------------------------------------------------------------


class PolicyError(ValueError):
    """Invalid policy thresholds; `errors` maps each field to its message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{key}: {message}" for key, message in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class BandRule:
    name: str
    min_score: int
    ceiling: Decimal  # highest limit this band may hold, before the overlay


@dataclass(frozen=True)
class PolicyRules:
    bands: tuple[BandRule, ...]  # best band first; the last one has min_score 350
    close_dpd: int
    close_on_public_record: bool
    min_age: int
    overdue_reduce_pct: Decimal
    multi_lending_applications_30d: int
    multi_lending_reduce_pct: Decimal
    utilization_threshold: Decimal
    utilization_months: int
    utilization_reduce_pct: Decimal
    linked_risk_threshold: Decimal
    linked_risk_reduce_pct: Decimal
    hysteresis_pct: Decimal
    raise_cap_pct: Decimal
    raise_good_cycles: int
    reopen_limit: Decimal
    cooldown_days: int
    overlay_factor: Decimal
    overlay_rationale: str
    breaker_max_accounts_cut_pct: Decimal
    breaker_max_exposure_cut_pct: Decimal
    rounding: Decimal = Decimal("100")
    # A scorecard reason is named only when its signals lost at least this many points
    # against their best bins (docs/architecture.md, "Reasons").
    reason_min_points: int = 10
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def band_for(self, score: int) -> BandRule:
        for band in self.bands:
            if score >= band.min_score:
                return band
        return self.bands[-1]

    def as_json(self) -> dict[str, Any]:
        def plain(value: Any) -> Any:
            return str(value) if isinstance(value, Decimal) else value

        data = {
            name: plain(getattr(self, name))
            for name in self.__dataclass_fields__
            if name not in {"bands", "extra"}
        }
        data["bands"] = [
            {"name": b.name, "min_score": b.min_score, "ceiling": str(b.ceiling)}
            for b in self.bands
        ]
        return data


DEFAULT_POLICY: dict[str, Any] = {
    "bands": [
        {"name": "A", "min_score": 750, "ceiling": "120000"},
        {"name": "B", "min_score": 700, "ceiling": "40000"},
        {"name": "C", "min_score": 650, "ceiling": "20000"},
        {"name": "D", "min_score": 600, "ceiling": "9000"},
        {"name": "E", "min_score": 350, "ceiling": "3000"},
    ],
    "close_dpd": 90,
    "close_on_public_record": True,
    "min_age": 18,
    "overdue_reduce_pct": "20",
    "multi_lending_applications_30d": 10,
    "multi_lending_reduce_pct": "30",
    "utilization_threshold": "0.9",
    "utilization_months": 6,
    "utilization_reduce_pct": "15",
    "linked_risk_threshold": "0.3",
    "linked_risk_reduce_pct": "20",
    "hysteresis_pct": "5",
    "raise_cap_pct": "10",
    "raise_good_cycles": 3,
    "reopen_limit": "500",
    "cooldown_days": 90,
    "overlay_factor": "1",
    "overlay_rationale": "No portfolio-wide adjustment.",
    "breaker_max_accounts_cut_pct": "10",
    "breaker_max_exposure_cut_pct": "5",
    "rounding": "100",
    "reason_min_points": 10,
}

_PCT_FIELDS = (
    "overdue_reduce_pct",
    "multi_lending_reduce_pct",
    "utilization_reduce_pct",
    "linked_risk_reduce_pct",
    "hysteresis_pct",
    "raise_cap_pct",
    "breaker_max_accounts_cut_pct",
    "breaker_max_exposure_cut_pct",
)
_INT_FIELDS = {
    "close_dpd": (1, 3650),
    "min_age": (16, 30),
    "multi_lending_applications_30d": (1, 500),
    "utilization_months": (1, 120),
    "raise_good_cycles": (0, 100),
    "cooldown_days": (0, 3650),
    "reason_min_points": (0, 500),
}


# Thresholds added after the first versions were written: a stored version without
# one is read with this value.
READ_AS_DEFAULT: dict[str, Any] = {"rounding": "100", "reason_min_points": 10}


def parse_policy(data: Mapping[str, Any]) -> PolicyRules:
    """Validate thresholds as a risk person would; every problem is named."""
    errors: dict[str, str] = {}

    def decimal(name: str, low: Decimal, high: Decimal | None) -> Decimal:
        raw = data.get(name)
        try:
            value = Decimal(str(raw))
            if not value.is_finite():
                raise InvalidOperation
        except (InvalidOperation, ValueError):
            errors[name] = _("must be a number, not %(raw)r") % {"raw": raw}
            return low
        if value < low or (high is not None and value > high):
            errors[name] = (
                _("must be between %(low)s and %(high)s, not %(value)s")
                if high is not None
                else _("must be at least %(low)s, not %(value)s")
            ) % {"low": low, "high": high, "value": value}
        return value

    def integer(name: str, low: int, high: int) -> int:
        raw = data.get(name)
        if isinstance(raw, bool) or not isinstance(raw, int):
            errors[name] = _("must be a whole number, not %(raw)r") % {"raw": raw}
            return low
        if not low <= raw <= high:
            errors[name] = _("must be between %(low)s and %(high)s, not %(value)s") % {
                "low": low, "high": high, "value": raw,
            }  # fmt: skip
        return raw

    unknown = set(data) - set(DEFAULT_POLICY)
    if unknown:
        errors["__all__"] = _("unknown fields: %(names)s") % {"names": ", ".join(sorted(unknown))}
    missing = set(DEFAULT_POLICY) - set(data) - set(READ_AS_DEFAULT)
    data = {**READ_AS_DEFAULT, **data}
    for name in sorted(missing):
        errors[name] = _("is required")
    if errors.keys() & missing:
        raise PolicyError(errors)

    bands: list[BandRule] = []
    raw_bands = data.get("bands")
    if not isinstance(raw_bands, list) or not raw_bands:
        errors["bands"] = _("must list at least one band")
    else:
        for index, raw in enumerate(raw_bands):
            try:
                band = BandRule(
                    name=str(raw["name"]).strip(),
                    min_score=int(raw["min_score"]),
                    ceiling=Decimal(str(raw["ceiling"])),
                )
            except (KeyError, TypeError, ValueError, InvalidOperation):
                errors[f"bands.{index}"] = _("needs a name, a min_score and a ceiling")
                continue
            if not band.name:
                errors[f"bands.{index}.name"] = _("must not be empty")
            if not MIN_SCORE <= band.min_score <= MAX_SCORE:
                errors[f"bands.{index}.min_score"] = _("must be between %(low)s and %(high)s") % {
                    "low": MIN_SCORE, "high": MAX_SCORE,
                }  # fmt: skip
            if not band.ceiling.is_finite():
                errors[f"bands.{index}.ceiling"] = _("must be a number")
                continue
            if band.ceiling < 0:
                errors[f"bands.{index}.ceiling"] = _("must not be negative")
            bands.append(band)
        problems: list[str] = []
        cutoffs = [band.min_score for band in bands]
        if any(a <= b for a, b in pairwise(cutoffs)):
            problems.append(_("cut-offs must be strictly decreasing, best band first"))
        if bands and bands[-1].min_score != MIN_SCORE:
            problems.append(
                _("the last band must start at %(low)s so every score has a band")
                % {"low": MIN_SCORE}
            )
        ceilings = [band.ceiling for band in bands]
        if any(a < b for a, b in pairwise(ceilings)):
            problems.append(_("a better band cannot have a lower ceiling than a worse one"))
        if len({band.name for band in bands}) != len(bands):
            problems.append(_("band names must be unique"))
        if problems:  # every problem with the bands, not only the last one found
            errors["bands"] = "; ".join(problems)

    values: dict[str, Any] = {}
    for name in _PCT_FIELDS:
        values[name] = decimal(name, Decimal(0), Decimal(100))
    for name, (low, high) in _INT_FIELDS.items():
        values[name] = integer(name, low, high)
    values["utilization_threshold"] = decimal("utilization_threshold", Decimal(0), Decimal(2))
    values["linked_risk_threshold"] = decimal("linked_risk_threshold", Decimal(0), Decimal(1))
    values["reopen_limit"] = decimal("reopen_limit", Decimal(0), None)
    values["overlay_factor"] = decimal("overlay_factor", Decimal("0.1"), Decimal("1.5"))
    values["rounding"] = decimal("rounding", Decimal("0.01"), Decimal("10000"))
    if values["rounding"] <= 0:
        errors["rounding"] = _("must be positive")
    close_on_record = data.get("close_on_public_record")
    if not isinstance(close_on_record, bool):
        errors["close_on_public_record"] = _("must be true or false")
    rationale = str(data.get("overlay_rationale") or "").strip()
    if not rationale:
        errors["overlay_rationale"] = _("a written rationale is required")
    elif problem := too_long(rationale, REASON_MAX):
        errors["overlay_rationale"] = problem
    if errors:
        raise PolicyError(errors)
    return PolicyRules(
        bands=tuple(bands),
        close_on_public_record=bool(close_on_record),
        overlay_rationale=rationale,
        **values,
    )


# --------------------------------------------------------------------------
# Integer arithmetic shared by both paths
# --------------------------------------------------------------------------


def cents(amount: Decimal) -> int:
    return int((amount * 100).to_integral_value())


def basis_points(pct: Decimal) -> int:
    """A percentage as basis points (10% -> 1000)."""
    return int((pct * 100).to_integral_value())


def ratio_basis_points(factor: Decimal) -> int:
    """A factor as basis points (0.9 -> 9000)."""
    return int((factor * 10000).to_integral_value())


@dataclass(frozen=True)
class CompiledRules:
    """PolicyRules in the integers and arrays both evaluation paths compute with."""

    rules: PolicyRules
    band_min_scores: tuple[int, ...]
    band_ceilings: tuple[int, ...]  # cents, overlay applied, rounded down
    raw_ceilings: tuple[int, ...]  # cents, before the overlay
    unit: int  # rounding unit in cents
    hysteresis_bp: int
    raise_cap_bp: int
    reopen_limit: int
    overdue_bp: int
    multi_lending_bp: int
    utilization_bp: int
    linked_bp: int


def compile_rules(rules: PolicyRules) -> CompiledRules:
    unit = cents(rules.rounding)
    overlay = ratio_basis_points(rules.overlay_factor)
    raw = tuple(cents(band.ceiling) for band in rules.bands)
    return CompiledRules(
        rules=rules,
        band_min_scores=tuple(band.min_score for band in rules.bands),
        band_ceilings=tuple(ceiling * overlay // 10000 // unit * unit for ceiling in raw),
        raw_ceilings=raw,
        unit=unit,
        hysteresis_bp=basis_points(rules.hysteresis_pct),
        raise_cap_bp=basis_points(rules.raise_cap_pct),
        reopen_limit=cents(rules.reopen_limit) // unit * unit,
        overdue_bp=basis_points(rules.overdue_reduce_pct),
        multi_lending_bp=basis_points(rules.multi_lending_reduce_pct),
        utilization_bp=basis_points(rules.utilization_reduce_pct),
        linked_bp=basis_points(rules.linked_risk_reduce_pct),
    )


# --------------------------------------------------------------------------
# Per-account evaluation
# --------------------------------------------------------------------------


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
) -> Outcome:
    """Score one account and propose its limit. `limit` is in cents.

    `cycle`: a scheduled re-score, which counts a good cycle and may raise or reopen
    (gradual restoration is per cycle). Without it (a re-score on a signal change
    between cycles) bad news still cuts or closes and resets the good cycles, but
    nothing is raised or reopened and no cycle is counted."""
    rules = compiled.rules
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
        proposed = min(limit, ceiling)
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


# --------------------------------------------------------------------------
# Vectorised evaluation of a chunk
# --------------------------------------------------------------------------

STATUS_CODES = {"active": 0, "frozen": 1, "closed": 2}
STATUS_NAMES = {code: name for name, code in STATUS_CODES.items()}
ACTION_CODES = {name: code for code, name in enumerate(ACTIONS)}
TRIGGER_BITS = {code: 1 << i for i, code in enumerate(TRIGGER_ORDER)}

IntArray = npt.NDArray[np.int64]


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
    triggers: Sequence[str], inputs: Mapping[str, Any], rules: PolicyRules, *,
    old_limit: Decimal, band: str,
) -> list[Crossed]:  # fmt: skip
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
            rows.append(Crossed(code, "days_past_due", value["days_past_due"], ">=",
                                rules.close_dpd, "close"))  # fmt: skip
        elif code == PUBLIC_RECORD:
            rows.append(Crossed(code, "bad_public_records", value["bad_public_records"], ">=", 1,
                                "close"))  # fmt: skip
        elif code == OVERDUE_NOW:
            rows.append(Crossed(code, "days_past_due", value["days_past_due"], ">", 0, "reduce",
                                rules.overdue_reduce_pct))  # fmt: skip
        elif code == MULTI_LENDING:
            rows.append(Crossed(code, "lender_applications_30d", value["lender_applications_30d"],
                                ">=", rules.multi_lending_applications_30d, "reduce",
                                rules.multi_lending_reduce_pct))  # fmt: skip
        elif code == HIGH_UTILIZATION:
            rows.append(Crossed(code, "utilization", value["utilization"], ">=",
                                rules.utilization_threshold, "reduce",
                                rules.utilization_reduce_pct))  # fmt: skip
            rows.append(Crossed(code, "months_high_utilization", value["months_high_utilization"],
                                ">=", rules.utilization_months, "reduce",
                                rules.utilization_reduce_pct))  # fmt: skip
        elif code == LINKED_RISK:
            rows.append(Crossed(code, "linked_bad_share", value["linked_bad_share"], ">=",
                                rules.linked_risk_threshold, "reduce",
                                rules.linked_risk_reduce_pct))  # fmt: skip
        elif code == BAND_CEILING:
            ceiling = next((b.ceiling for b in rules.bands if b.name == band), None)
            rows.append(Crossed(code, "limit", old_limit, ">", ceiling, "cap"))
        elif code == PORTFOLIO_OVERLAY:
            rows.append(Crossed(code, "overlay", rules.overlay_factor, "<", 1, "cap"))
        elif code == COOLDOWN:
            rows.append(Crossed(code, "cooldown", rules.cooldown_days, "", None, "keep_closed"))
    return rows


@dataclass
class ChunkResult:
    """Arrays, one row per account, in the order given."""

    action: IntArray  # ACTION_CODES
    new_limit: IntArray  # cents
    new_status: IntArray  # STATUS_CODES
    score: IntArray
    band: IntArray  # index into rules.bands
    points: IntArray  # rows x len(SCORECARD)
    triggers: IntArray  # TRIGGER_BITS
    good_cycles: IntArray

    def outcome(self, row: int, compiled: CompiledRules, *, limit: int, status: str) -> Outcome:
        """One row as the Outcome the per-account function gives."""
        contributions = {c.signal: int(self.points[row, i]) for i, c in enumerate(SCORECARD)}
        action = ACTIONS[int(self.action[row])]
        fired = tuple(
            code for code in TRIGGER_ORDER if int(self.triggers[row]) & TRIGGER_BITS[code]
        )
        return Outcome(
            action=action,
            old_limit=limit,
            new_limit=int(self.new_limit[row]),
            old_status=status,
            new_status=STATUS_NAMES[int(self.new_status[row])],
            score=int(self.score[row]),
            band=compiled.rules.bands[int(self.band[row])].name,
            contributions=contributions,
            triggers=fired,
            reasons=reasons_of(
                action,
                contributions,
                fired,
                limit=limit,
                band_index=int(self.band[row]),
                compiled=compiled,
            ),
            good_cycles=int(self.good_cycles[row]),
        )


def evaluate_chunk(
    compiled: CompiledRules,
    signals: Mapping[str, npt.NDArray[Any]],
    *,
    limit: IntArray,
    status: IntArray,
    in_cooldown: npt.NDArray[np.bool_],
    good_cycles: IntArray,
    cycle: bool = True,
) -> ChunkResult:
    """`evaluate` over arrays; signal arrays are float64 with None as 0."""
    rules = compiled.rules
    n = len(limit)
    points = np.empty((n, len(SCORECARD)), dtype=np.int64)
    for i, c in enumerate(SCORECARD):
        bins = np.searchsorted(
            np.asarray(c.edges, dtype=np.float64), signals[c.signal], side="right"
        )
        points[:, i] = np.asarray(c.points, dtype=np.int64)[bins]
    score = np.clip(BASE_SCORE + points.sum(axis=1), MIN_SCORE, MAX_SCORE)
    mins = np.asarray(compiled.band_min_scores, dtype=np.int64)
    band = np.full(n, len(mins) - 1, dtype=np.int64)
    for i in range(len(mins) - 1, -1, -1):
        band = np.where(score >= mins[i], i, band)

    v = signals
    bits = np.zeros(n, dtype=np.int64)
    ineligible = (
        (v["age"] < rules.min_age) | (v["real_name_verified"] == 0) | (v["bank_card_bound"] == 0)
    )
    bits |= np.where(ineligible, TRIGGER_BITS[INELIGIBLE], 0)
    bits |= np.where(v["days_past_due"] >= rules.close_dpd, TRIGGER_BITS[SERIOUS_OVERDUE], 0)
    if rules.close_on_public_record:
        bits |= np.where(v["bad_public_records"] >= 1, TRIGGER_BITS[PUBLIC_RECORD], 0)
    closing = bits != 0
    cut_rules = (
        (OVERDUE_NOW, v["days_past_due"] > 0, compiled.overdue_bp),
        (MULTI_LENDING, v["lender_applications_30d"] >= rules.multi_lending_applications_30d,
         compiled.multi_lending_bp),
        (HIGH_UTILIZATION, (v["utilization"] >= float(rules.utilization_threshold))
         & (v["months_high_utilization"] >= rules.utilization_months), compiled.utilization_bp),
        (LINKED_RISK, v["linked_bad_share"] >= float(rules.linked_risk_threshold),
         compiled.linked_bp),
    )  # fmt: skip
    for code, fired, _bp in cut_rules:
        bits |= np.where(fired, TRIGGER_BITS[code], 0)
    good = bits == 0
    counted = good_cycles + 1 if cycle else good_cycles
    cycles = np.where(good, np.minimum(counted, rules.raise_good_cycles), 0)

    action = np.full(n, ACTION_CODES[KEEP], dtype=np.int64)
    new_limit = limit.copy()
    new_status = status.copy()
    ceiling = np.asarray(compiled.band_ceilings, dtype=np.int64)[band]
    raw_ceiling = np.asarray(compiled.raw_ceilings, dtype=np.int64)[band]
    unit = compiled.unit
    is_active = status == STATUS_CODES["active"]
    is_closed = status == STATUS_CODES["closed"]

    # Closed lines: cool-down, or reopen after enough good cycles.
    cooling = is_closed & ~closing & in_cooldown
    bits |= np.where(cooling, TRIGGER_BITS[COOLDOWN], 0)
    reopen_at = np.minimum(compiled.reopen_limit, ceiling)
    reopen = is_closed & ~closing & ~in_cooldown & good & (cycles >= rules.raise_good_cycles)
    reopen &= cycle
    reopen &= reopen_at > 0
    action = np.where(reopen, ACTION_CODES[REOPEN], action)
    new_limit = np.where(reopen, reopen_at, new_limit)
    new_status = np.where(reopen, STATUS_CODES["active"], new_status)

    close = is_active & closing
    action = np.where(close, ACTION_CODES[CLOSE], action)
    new_limit = np.where(close, 0, new_limit)
    new_status = np.where(close, STATUS_CODES["closed"], new_status)

    scoring = is_active & ~closing
    proposed = np.minimum(limit, ceiling)
    capped = scoring & (proposed < limit)  # the ceiling binds
    above_band = capped & (limit > raw_ceiling)
    bits |= np.where(above_band, TRIGGER_BITS[BAND_CEILING], 0)
    bits |= np.where(capped & ~above_band, TRIGGER_BITS[PORTFOLIO_OVERLAY], 0)
    for _code, fired, bp in cut_rules:
        proposed = np.where(fired, np.minimum(proposed, limit * (10000 - bp) // 10000), proposed)
    proposed = np.where(proposed < limit, proposed // unit * unit, proposed)
    big_enough = (limit - proposed) * 10000 >= limit * compiled.hysteresis_bp
    reduce = scoring & (proposed < limit) & big_enough
    action = np.where(reduce, ACTION_CODES[REDUCE], action)
    new_limit = np.where(reduce, proposed, new_limit)

    may_raise = scoring & (proposed >= limit) & good & cycle
    may_raise &= (cycles >= rules.raise_good_cycles) & (limit < ceiling)
    stepped = np.where(
        limit == 0,
        np.minimum(ceiling, compiled.reopen_limit),
        np.minimum(ceiling, limit * (10000 + compiled.raise_cap_bp) // 10000),
    )
    stepped = stepped // unit * unit
    raise_ = may_raise & (stepped > limit)
    raise_ &= (stepped - limit) * 10000 >= limit * compiled.hysteresis_bp
    action = np.where(raise_, ACTION_CODES[RAISE], action)
    new_limit = np.where(raise_, stepped, new_limit)

    return ChunkResult(
        action=action,
        new_limit=new_limit,
        new_status=new_status,
        score=score,
        band=band,
        points=points,
        triggers=bits,
        good_cycles=cycles,
    )


# --------------------------------------------------------------------------
# Staged rollout: which accounts a version in rollout scores
# --------------------------------------------------------------------------

ROLLOUT_BUCKETS = 10_000  # a share is a whole number of percent: 100 buckets each
# The same bucket in PostgreSQL, for the runs' chunk query (a test holds them equal).
ROLLOUT_BUCKET_SQL = "mod(('x' || substr(md5(a.reference), 1, 8))::bit(32)::bigint, 10000)"


def rollout_bucket(reference: str) -> int:
    """A stable bucket in [0, 10000) from the account reference."""
    digest = hashlib.md5(reference.encode(), usedforsecurity=False).hexdigest()
    return int(digest[:8], 16) % ROLLOUT_BUCKETS


def rollout_cutoff(share_pct: int) -> int:
    """Accounts whose bucket is below this get the version in rollout; widening
    a share keeps everyone already in it."""
    return share_pct * ROLLOUT_BUCKETS // 100

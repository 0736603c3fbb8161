"""The thresholds of a policy version (`PolicyRules`), their parser, and their
integer form shared by both ways of evaluating."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from itertools import pairwise
from typing import Any

from django.utils.translation import gettext as _

from config.text import REASON_MAX, too_long
from scoring.scorecard import MAX_SCORE, MIN_SCORE


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
    # After an appeal restores a limit, score-based cuts skip the account this many days
    # (docs/architecture.md, "Decrease protection"); hard triggers still apply.
    decrease_protection_days: int = 90
    # A portfolio run whose score population moved further than this PSI from the
    # baseline snapshot waits for a person (docs/architecture.md, "Portfolio history").
    breaker_max_psi: Decimal = Decimal("0.25")
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
    "decrease_protection_days": 90,
    "breaker_max_psi": "0.25",
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
    "decrease_protection_days": (0, 3650),
}


# Thresholds added after the first versions were written: a stored version without
# one is read with this value.
READ_AS_DEFAULT: dict[str, Any] = {
    "rounding": "100",
    "reason_min_points": 10,
    # Versions written before decrease protection had none.
    "decrease_protection_days": 0,
    "breaker_max_psi": "0.25",
}


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
                "low": low,
                "high": high,
                "value": raw,
            }
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
                    "low": MIN_SCORE,
                    "high": MAX_SCORE,
                }
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
    values["breaker_max_psi"] = decimal("breaker_max_psi", Decimal("0.01"), Decimal("10"))
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

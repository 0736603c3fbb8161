"""Does each reason a decision states hold for its own numbers? Pure Python.

This checker is written apart from the code that chooses reasons
(scoring: evaluate, deciding_rule, principal_reasons) and calls none of
it: it reads the scorecard's bins and the policy version's thresholds as data,
the decision's stored inputs, limits and reasons, and recomputes the points,
the score, the rules that fired and the figure each rule gives by itself. What
each reason claims is written in docs/architecture.md, "Reasons"; a test runs
this on generated accounts and `manage.py verify_reasons` on stored decisions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from scoring import (
    BASE_SCORE,
    MAX_SCORE,
    MIN_SCORE,
    SCORECARD,
    VERIFIABLE,
    PolicyRules,
)

CENT = Decimal("0.01")
# Codes that state a person's act (an override, an appeal, a freeze), checked by
# the four-eyes and audit rules rather than by numbers.
HUMAN = {"MANUAL_OVERRIDE", "APPEAL_OUTCOME", "INCIDENT_REVERT", "FROZEN", "UNFROZEN"}
CLOSING = ("INELIGIBLE", "SERIOUS_OVERDUE", "PUBLIC_RECORD")
CUTTING = ("OVERDUE_NOW", "MULTI_LENDING", "HIGH_UTILIZATION", "LINKED_RISK")
CAPPING = ("BAND_CEILING", "PORTFOLIO_OVERLAY")


@dataclass(frozen=True)
class Stated:
    """What a decision stored: its action, reasons, inputs and the policy it used."""

    action: str  # raise | reduce | close | reopen | restore | set ...
    reasons: Sequence[str]
    inputs: Mapping[str, Any]
    rules: PolicyRules
    old_limit: Decimal
    new_limit: Decimal
    old_status: str
    new_status: str
    score: int | None = None
    band: str | None = None
    # Within the policy's decrease protection after an appeal restored the limit: the
    # ceiling gives no figure, so no score-based cut can be claimed
    # (docs/architecture.md, "Decrease protection").
    protected: bool = False


@dataclass(frozen=True)
class Verdict:
    code: str
    holds: bool
    why: str


def _number(value: Any) -> Decimal:
    if value is None or value == "":
        return Decimal(0)
    if isinstance(value, bool):
        return Decimal(int(value))
    return Decimal(str(value))


def _points(edges: Sequence[float], points: Sequence[int], value: Decimal) -> int:
    # Bin i holds [edges[i-1], edges[i]): count the edges at or below the value.
    passed = 0
    for edge in edges:
        if value >= Decimal(str(edge)):
            passed += 1
    return points[passed]


@dataclass(frozen=True)
class Recomputed:
    score: int
    band_index: int
    lost: dict[str, int]  # points lost against the best bins, per scorecard reason
    fired: dict[str, bool]  # each rule's condition, read from the inputs


def recompute(stated: Stated) -> Recomputed:
    value = {name: _number(raw) for name, raw in stated.inputs.items()}

    def get(name: str) -> Decimal:
        return value.get(name, Decimal(0))

    total = BASE_SCORE
    lost: dict[str, int] = {}
    for characteristic in SCORECARD:
        earned = _points(characteristic.edges, characteristic.points, get(characteristic.signal))
        total += earned
        if characteristic.adverse:
            shortfall = max(characteristic.points) - earned
            lost[characteristic.reason] = lost.get(characteristic.reason, 0) + shortfall
    score = min(max(total, MIN_SCORE), MAX_SCORE)
    rules = stated.rules
    band_index = len(rules.bands) - 1
    for index in range(len(rules.bands) - 1, -1, -1):
        if score >= rules.bands[index].min_score:
            band_index = index
    fired = {
        "INELIGIBLE": get("age") < rules.min_age
        or get("real_name_verified") == 0
        or get("bank_card_bound") == 0,
        "SERIOUS_OVERDUE": get("days_past_due") >= rules.close_dpd,
        "PUBLIC_RECORD": rules.close_on_public_record and get("bad_public_records") >= 1,
        "OVERDUE_NOW": get("days_past_due") > 0,
        "MULTI_LENDING": get("lender_applications_30d") >= rules.multi_lending_applications_30d,
        "HIGH_UTILIZATION": get("utilization") >= rules.utilization_threshold
        and get("months_high_utilization") >= rules.utilization_months,
        "LINKED_RISK": get("linked_bad_share") >= rules.linked_risk_threshold,
    }
    return Recomputed(score, band_index, lost, fired)


def _floor(amount: Decimal, unit: Decimal) -> Decimal:
    return (amount / unit).to_integral_value(rounding=ROUND_FLOOR) * unit


def figures(stated: Stated, again: Recomputed) -> dict[str, Decimal]:
    """The limit each capping or cutting rule that applies would give by itself."""
    rules = stated.rules
    band = rules.bands[again.band_index]
    ceiling = _floor(band.ceiling * rules.overlay_factor, rules.rounding)
    out: dict[str, Decimal] = {}
    if stated.old_limit > ceiling and not stated.protected:
        out["BAND_CEILING" if stated.old_limit > band.ceiling else "PORTFOLIO_OVERLAY"] = ceiling
    pct = {
        "OVERDUE_NOW": rules.overdue_reduce_pct,
        "MULTI_LENDING": rules.multi_lending_reduce_pct,
        "HIGH_UTILIZATION": rules.utilization_reduce_pct,
        "LINKED_RISK": rules.linked_risk_reduce_pct,
    }
    for code, cut in pct.items():
        if again.fired[code]:
            kept = stated.old_limit * (100 - cut.quantize(CENT)) / 100
            out[code] = kept.quantize(CENT, rounding=ROUND_FLOOR)
    return out


def verdicts(stated: Stated) -> list[Verdict]:
    """Each stated reason, and whether it holds; then the order and the figure."""
    again = recompute(stated)
    floor = max(stated.rules.reason_min_points, 1)
    capped = figures(stated, again)
    out: list[Verdict] = []
    for code in stated.reasons:
        if code in HUMAN:
            out.append(Verdict(code, True, "a person's decision, recorded with its justification"))
        elif code in CAPPING:
            holds = code in capped
            why = f"limit {stated.old_limit}, capped at {capped.get(code, '—')}"
            out.append(Verdict(code, holds, why))
        elif code == "COOLDOWN":
            out.append(Verdict(code, stated.old_status == "closed", "the line was closed"))
        elif code == "REOPENED":
            holds = stated.old_status == "closed" and stated.new_status == "active"
            out.append(Verdict(code, holds, "closed before, active after"))
        elif code == "GOOD_HISTORY":
            bad = [name for name, on in again.fired.items() if on]
            holds = not bad and stated.new_limit >= stated.old_limit
            out.append(Verdict(code, holds, f"no rule fired ({', '.join(bad) or 'none'})"))
        elif code == "VERIFIED_CAPACITY":
            holds = any(_number(stated.inputs.get(name)) > 0 for name in VERIFIABLE)
            out.append(Verdict(code, holds, "verified income, provident fund or assets"))
        else:
            points = again.lost.get(code)
            by_rule = again.fired.get(code, False)
            material = points is not None and points >= floor
            holds = by_rule or material
            why = f"rule {'fired' if by_rule else 'did not fire'}; " + (
                f"{points} points lost (material from {floor})" if points is not None else ""
            )
            out.append(Verdict(code, holds, why.strip("; ")))
    return out


def problems(stated: Stated) -> list[str]:
    """Everything wrong with what the decision states; empty when it all holds."""
    found = [f"{v.code} does not hold: {v.why}" for v in verdicts(stated) if not v.holds]
    again = recompute(stated)
    if stated.score is not None and stated.score != again.score:
        found.append(f"score {stated.score} stated, {again.score} from the inputs")
    band = stated.rules.bands[again.band_index].name
    if stated.band and stated.band != band:
        found.append(f"band {stated.band} stated, {band} from the inputs")
    first = stated.reasons[0] if stated.reasons else None
    if stated.action == "close" and stated.new_status == "closed":
        closing = [code for code in CLOSING if again.fired[code]]
        if first not in closing:
            found.append(f"closed by {', '.join(closing) or 'no rule'}, but {first} is named first")
    elif stated.action == "reduce":
        capped = figures(stated, again)
        if not capped:
            found.append("reduced, but no capping or cutting rule applies")
        else:
            lowest = min(capped.values())
            deciding = sorted(code for code, figure in capped.items() if figure == lowest)
            if first not in deciding:
                found.append(
                    f"the limit was set by {' or '.join(deciding)} ({lowest}), "
                    f"but {first} is named first"
                )
            expected = _floor(lowest, stated.rules.rounding)
            if stated.new_limit != expected:
                found.append(f"the rules give {expected}, the decision says {stated.new_limit}")
    return found

"""What a decision's reasons say in figures, and what would restore the limit. Pure Python.

Both read a decision's stored inputs against the policy version it used, with the
scoring code itself (the `scoring` package), so a page never explains with other
numbers than the ones that decided (docs/architecture.md, "Reasons").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import scoring
from accounts.signal_spec import SIGNALS_BY_NAME


@dataclass(frozen=True)
class ScoreFact:
    """A signal of a scorecard reason that scored below its best bin."""

    signal: str
    value: float
    lost: int  # points below the best bin
    best_low: float | None  # the best bin is [best_low, best_high); None: open
    best_high: float | None


def scorecard_facts(code: str, inputs: Mapping[str, Any]) -> list[ScoreFact]:
    """The signals behind a scorecard reason, with the best bin each fell short of."""
    facts = []
    for characteristic in scoring.SCORECARD:
        if characteristic.reason != code or not characteristic.adverse:
            continue
        value = scoring.as_number(inputs.get(characteristic.signal))
        lost = characteristic.best - characteristic.points_for(value)
        if lost <= 0:
            continue
        best = characteristic.points.index(characteristic.best)
        edges = characteristic.edges
        facts.append(
            ScoreFact(
                signal=characteristic.signal,
                value=value,
                lost=lost,
                best_low=edges[best - 1] if best > 0 else None,
                best_high=edges[best] if best < len(edges) else None,
            )
        )
    return sorted(facts, key=lambda fact: -fact.lost)


# --------------------------------------------------------------------------
# What would restore it: the smallest change of one or two signals the customer
# can act on (never age, court records, history or linked accounts).
# --------------------------------------------------------------------------

# signal -> True when a higher value is better
ACTIONABLE: dict[str, bool] = {
    "days_past_due": False,
    "lender_applications_30d": False,
    "lender_applications_90d": False,
    "external_debt_to_income": False,
    "utilization": False,
    "months_high_utilization": False,
    "active_days_90d": True,
    "consumption_amount_90d": True,
    "verified_monthly_income": True,
    "verified_assets": True,
    "provident_fund_verified": True,
    "real_name_verified": True,
    "bank_card_bound": True,
}
BOOLEAN = {"provident_fund_verified", "real_name_verified", "bank_card_bound"}
# The smallest step of each kind of signal (ratios are stored to four places).
STEP = {"int": 1.0, "ratio": 0.0001, "money": 0.01, "bool": 1.0}
MAX_SIGNALS = 2


@dataclass(frozen=True)
class Step:
    """One signal changed: to below `bound` (lower is better) or to at least `bound`."""

    signal: str
    value: float  # now
    target: float  # the value tried
    bound: float
    higher: bool


@dataclass(frozen=True)
class Restoration:
    steps: tuple[Step, ...]
    lifts_the_cut: bool  # the limit would have stayed where it was
    band: str
    limit: int  # cents: what the policy gives with the change
    ceiling: int  # cents: the band's ceiling


def _thresholds(signal: str, rules: scoring.PolicyRules) -> list[float]:
    """The policy's own thresholds on a signal, besides the scorecard's bins."""
    return {
        "days_past_due": [1.0],
        "lender_applications_30d": [float(rules.multi_lending_applications_30d)],
        "utilization": [float(rules.utilization_threshold)],
        "months_high_utilization": [float(rules.utilization_months)],
    }.get(signal, [])


def _steps(signal: str, value: float, rules: scoring.PolicyRules) -> list[Step]:
    higher = ACTIONABLE[signal]
    if signal in BOOLEAN:
        return [] if value else [Step(signal, value, 1.0, 1.0, True)]
    characteristic = next((c for c in scoring.SCORECARD if c.signal == signal), None)
    edges = sorted({*(characteristic.edges if characteristic else ()), *_thresholds(signal, rules)})
    steps = []
    for edge in edges:
        if higher and edge > value:
            steps.append(Step(signal, value, edge, edge, True))
        elif not higher and edge <= value and edge > 0:
            # The highest value below the edge that the signal can hold.
            below = edge - STEP[SIGNALS_BY_NAME[signal].kind]
            steps.append(Step(signal, value, max(below, 0.0), edge, False))
    return steps


def restoration(
    compiled: scoring.CompiledRules,
    inputs: Mapping[str, Any],
    *,
    limit: int,
    status: str,
    band: str,
    days_since_restoration: int = scoring.NEVER_RESTORED,
) -> Restoration | None:
    """The smallest change of at most two actionable signals that would have lifted a
    cut or closure (the limit stays at `limit`), or else moved the account to a better
    band than `band`; None when no such change exists. Fewer signals first, then the
    smaller move (fewer bins crossed), then the higher limit. Evaluated by
    scoring.evaluate, between cycles (no raise), with the decision's decrease protection."""
    names = [band_rule.name for band_rule in compiled.rules.bands]
    current = names.index(band) if band in names else len(names) - 1
    options = {
        signal: steps
        for signal in ACTIONABLE
        if (steps := _steps(signal, scoring.as_number(inputs.get(signal)), compiled.rules))
    }
    best: tuple[tuple[int, int, int], Restoration] | None = None
    for size in range(1, MAX_SIGNALS + 1):
        for signals in combinations(options, size):
            for chosen in _product([options[s] for s in signals]):
                changed = {**inputs, **{step.signal: step.target for step in chosen}}
                outcome = scoring.evaluate(
                    compiled,
                    changed,
                    limit=limit,
                    status=status,
                    in_cooldown=False,
                    good_cycles=0,
                    cycle=False,
                    days_since_restoration=days_since_restoration,
                )
                index = names.index(outcome.band)
                lifted = outcome.action not in (scoring.REDUCE, scoring.CLOSE)
                if not lifted and index >= current:
                    continue
                moves = sum(
                    sum(1 for other in options[step.signal] if _between(other, step))
                    for step in chosen
                )
                key = (0 if lifted else 1, moves, -outcome.new_limit)
                if best is None or key < best[0]:
                    best = (
                        key,
                        Restoration(
                            steps=tuple(chosen),
                            lifts_the_cut=lifted,
                            band=outcome.band,
                            limit=outcome.new_limit,
                            ceiling=compiled.band_ceilings[index],
                        ),
                    )
        if best is not None:
            return best[1]
    return None


def _between(other: Step, step: Step) -> bool:
    """Whether `other` is on the way to `step` (a nearer threshold, or the step itself)."""
    if step.higher:
        return other.bound <= step.bound
    return other.bound >= step.bound


def _product(lists: list[list[Step]]) -> list[tuple[Step, ...]]:
    combos: list[tuple[Step, ...]] = [()]
    for steps in lists:
        combos = [(*combo, step) for combo in combos for step in steps]
    return combos

"""Vectorised evaluation of a chunk of accounts (the re-scoring runs and simulations).

It agrees with `scoring.evaluation.evaluate` to the cent; a property test holds them to it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from scoring.evaluation import Outcome, reasons_of
from scoring.rules import CompiledRules
from scoring.scorecard import (
    ACTIONS,
    BAND_CEILING,
    BASE_SCORE,
    CLOSE,
    COOLDOWN,
    HIGH_UTILIZATION,
    INELIGIBLE,
    INPUT_SIGNALS,
    KEEP,
    LINKED_RISK,
    MAX_SCORE,
    MIN_SCORE,
    MULTI_LENDING,
    OVERDUE_NOW,
    PORTFOLIO_OVERLAY,
    PUBLIC_RECORD,
    RAISE,
    REDUCE,
    REOPEN,
    SCORECARD,
    SERIOUS_OVERDUE,
    TRIGGER_ORDER,
)

STATUS_CODES = {"active": 0, "frozen": 1, "closed": 2}
STATUS_NAMES = {code: name for name, code in STATUS_CODES.items()}
ACTION_CODES = {name: code for code, name in enumerate(ACTIONS)}
TRIGGER_BITS = {code: 1 << i for i, code in enumerate(TRIGGER_ORDER)}

IntArray = npt.NDArray[np.int64]


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
    days_since_restoration: IntArray | None = None,
) -> ChunkResult:
    """`evaluate` over arrays; signal arrays are float64 with None as 0;
    `days_since_restoration` None: no account was restored by an appeal."""
    rules = compiled.rules
    n = len(limit)
    protected = (
        np.zeros(n, dtype=bool)
        if days_since_restoration is None
        else days_since_restoration < rules.decrease_protection_days
    )
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
        (
            MULTI_LENDING,
            v["lender_applications_30d"] >= rules.multi_lending_applications_30d,
            compiled.multi_lending_bp,
        ),
        (
            HIGH_UTILIZATION,
            (v["utilization"] >= float(rules.utilization_threshold))
            & (v["months_high_utilization"] >= rules.utilization_months),
            compiled.utilization_bp,
        ),
        (
            LINKED_RISK,
            v["linked_bad_share"] >= float(rules.linked_risk_threshold),
            compiled.linked_bp,
        ),
    )
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
    # Decrease protection: no ceiling (docs/architecture.md, "Decrease protection").
    proposed = np.where(protected, limit, np.minimum(limit, ceiling))
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


@dataclass
class ChunkInput:
    ids: np.ndarray
    limit: np.ndarray
    status: np.ndarray
    version: np.ndarray
    good_cycles: np.ndarray
    score: np.ndarray
    band: np.ndarray  # index into the policy's bands, -1 for none
    bucket: np.ndarray  # rollout bucket (rollout_bucket), 0 when not asked for
    in_cooldown: np.ndarray
    signals: np.ndarray  # rows x INPUT_SIGNALS
    # Index into accounts.book.SEGMENTS (the account's segment), for cohorts; not scored.
    segment: np.ndarray | None = None
    # Whole days since an appeal restored the limit; NEVER_RESTORED when none.
    days_since_restoration: np.ndarray | None = None
    # The version of each account's signals row as read (its xmin): a run marks an
    # account steady only if its signals are still these (decisions.steady).
    signals_row: np.ndarray | None = None


def score_chunk(compiled: CompiledRules, data: ChunkInput, *, cycle: bool = True) -> ChunkResult:
    signals = {name: data.signals[:, i] for i, name in enumerate(INPUT_SIGNALS)}
    return evaluate_chunk(
        compiled,
        signals,
        limit=data.limit,
        status=data.status,
        in_cooldown=data.in_cooldown,
        good_cycles=data.good_cycles,
        cycle=cycle,
        days_since_restoration=data.days_since_restoration,
    )

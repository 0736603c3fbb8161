"""Properties of the scorecard and limit policy (the `scoring` package).

Pure Python and numpy: no database. Accounts are drawn from the signal ranges
of accounts.signal_spec (with its two cross-field rules), limits in cents.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from accounts.signal_spec import SIGNALS, SIGNALS_BY_NAME, SignalSpec, range_problems
from scoring import (
    BAND_CEILING,
    BASE_SCORE,
    CLOSE,
    CLOSE_TRIGGERS,
    COOLDOWN,
    DEFAULT_POLICY,
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
    NEVER_RESTORED,
    OVERDUE_NOW,
    PORTFOLIO_OVERLAY,
    PUBLIC_RECORD,
    RAISE,
    REDUCE,
    REDUCE_TRIGGERS,
    REOPEN,
    REOPENED,
    SCORECARD,
    SERIOUS_OVERDUE,
    STATUS_CODES,
    TRIGGER_ORDER,
    CompiledRules,
    Outcome,
    PolicyError,
    as_number,
    compile_rules,
    evaluate,
    evaluate_chunk,
    parse_policy,
)

MONEY_MAX_CENTS = 200_000_000  # 2,000,000.00 yuan: modest, far inside the column
LIMIT_MAX_CENTS = 20_000_000  # 200,000.00 yuan
STATUSES = ("active", "frozen", "closed")

# No example database: the tests leave no files behind.
CHEAP = settings(max_examples=200, deadline=None, database=None)
MEDIUM = settings(
    max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
CHUNKY = settings(
    max_examples=30,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def policy(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(DEFAULT_POLICY)
    data.update(changes)
    return data


DEFAULT = compile_rules(parse_policy(DEFAULT_POLICY))

# Valid policies that exercise other branches than the default one.
NAMED_POLICIES = {
    "default": DEFAULT_POLICY,
    "overlay-0.8": policy(overlay_factor="0.8", overlay_rationale="Portfolio stress: cut 20%."),
    "overlay-1.2": policy(overlay_factor="1.2", overlay_rationale="Growth campaign."),
    "raise-at-once": policy(raise_good_cycles=0),
    "no-hysteresis": policy(hysteresis_pct="0"),
    "round-to-yuan": policy(rounding="1"),
    "round-to-cent": policy(rounding="0.01", hysteresis_pct="2.5", raise_cap_pct="12.5"),
    "records-do-not-close": policy(close_on_public_record=False, cooldown_days=0),
    "no-decrease-protection": policy(decrease_protection_days=0),
    "overlay-0.8-protected-a-year": policy(
        overlay_factor="0.8", overlay_rationale="Portfolio stress.", decrease_protection_days=365
    ),
}


# --------------------------------------------------------------------------
# Strategies
# --------------------------------------------------------------------------


def _ratio(units: int) -> Decimal:
    """4-place ratio from ten-thousandths."""
    return Decimal(units).scaleb(-4)


def _money(cents: int) -> Decimal:
    """2-place amount from cents."""
    return Decimal(cents).scaleb(-2)


def _step(spec: SignalSpec) -> Any:
    steps: dict[str, Any] = {"int": 1, "ratio": Decimal("0.0001"), "money": Decimal("0.01")}
    return steps[spec.kind]


def _upper(spec: SignalSpec) -> Decimal | int:
    if spec.kind == "money":
        return _money(MONEY_MAX_CENTS)
    assert spec.maximum is not None
    return spec.maximum


# Policy thresholds of DEFAULT_POLICY that are not scorecard edges.
_THRESHOLDS = {
    "days_past_due": (90,),
    "lender_applications_30d": (10,),
    "months_high_utilization": (6,),
    "utilization": (Decimal("0.9"),),
    "linked_bad_share": (Decimal("0.3"),),
    "age": (18,),
}


def _interesting(spec: SignalSpec) -> list[Any]:
    """Bin edges and thresholds, and the value just below each, within range."""
    if spec.kind == "bool":
        return []
    edges: list[Any] = list(_THRESHOLDS.get(spec.name, ()))
    for characteristic in SCORECARD:
        if characteristic.signal == spec.name:
            edges += [Decimal(str(edge)) for edge in characteristic.edges]
    values = set()
    for edge in edges:
        for value in (edge, edge - _step(spec)):
            value = int(value) if spec.kind == "int" else Decimal(value)
            if isinstance(value, int):
                pass
            elif spec.kind == "ratio":
                value = value.quantize(Decimal("0.0001"))
            elif spec.kind == "money":
                value = value.quantize(Decimal("0.01"))
            if spec.minimum is not None and spec.minimum <= value <= _upper(spec):
                values.add(value)
    return sorted(values)


def _in_range(spec: SignalSpec, low: Any = None) -> st.SearchStrategy[Any]:
    """Any value of the signal's kind within its range (from `low` upwards)."""
    if spec.kind == "bool":
        return st.booleans()
    low = spec.minimum if low is None else low
    if spec.kind == "int":
        return st.integers(int(low), int(_upper(spec)))
    if spec.kind == "ratio":
        return st.integers(int(low * 10000), int(_upper(spec) * 10000)).map(_ratio)
    return st.integers(int(low * 100), int(_upper(spec) * 100)).map(_money)


def _value(spec: SignalSpec) -> st.SearchStrategy[Any]:
    strategy = _in_range(spec)
    interesting = _interesting(spec)
    if interesting:
        strategy = st.one_of(st.sampled_from(interesting), strategy)
    if spec.nullable:
        strategy = st.one_of(st.none(), strategy)
    return strategy


# The healthy side of each signal (bounds inclusive): an account drawn from
# these alone fires no trigger under DEFAULT_POLICY, so raises, reopenings and
# small moves are reached as often as cuts and closures.
HEALTHY_RANGES: dict[str, tuple[Any, Any]] = {
    "credit_score": (650, 950),
    "days_past_due": (0, 0),
    "overdue_count_12m": (0, 1),
    "max_dpd_12m": (0, 30),
    "on_time_ratio": (Decimal("0.95"), Decimal("1")),
    "lender_applications_30d": (0, 3),
    "lender_applications_90d": (0, 9),
    "external_debt_to_income": (Decimal("0"), Decimal("0.5")),
    "utilization": (Decimal("0"), Decimal("0.7")),
    "months_high_utilization": (0, 2),
    "consumption_amount_90d": (Decimal("500"), Decimal("100000")),
    "active_days_90d": (20, 90),
    "tenure_months": (6, 240),
    "phone_changes_90d": (0, 1),
    "device_changes_90d": (0, 2),
    "address_changes_90d": (0, 1),
    "linked_bad_share": (Decimal("0"), Decimal("0.1")),
    "bad_public_records": (0, 0),
    "age": (18, 80),
    "real_name_verified": (True, True),
    "bank_card_bound": (True, True),
}


def _healthy_value(spec: SignalSpec) -> st.SearchStrategy[Any]:
    if spec.name not in HEALTHY_RANGES:
        return _value(spec)
    low, high = HEALTHY_RANGES[spec.name]
    if spec.kind == "bool":
        return st.just(high)
    if spec.kind == "int":
        return st.integers(low, high)
    if spec.kind == "ratio":
        return st.integers(int(low * 10000), int(high * 10000)).map(_ratio)
    return st.integers(int(low * 100), int(high * 100)).map(_money)


@st.composite
def signal_values(draw: st.DrawFn, mix: tuple[int, ...] = (10, 9, 5, 0)) -> dict[str, Any]:
    """A valid signals dict: every signal in range, cross-field rules kept.

    Each signal comes from its healthy side with a probability drawn per
    account (all, most, half or none of them), else from its whole range
    with the bin edges and thresholds favoured.
    """
    healthy_in_ten = draw(st.sampled_from(mix), label="healthy signals in ten")
    values: dict[str, Any] = {}
    for spec in SIGNALS:
        healthy_side = draw(st.integers(0, 9)) < healthy_in_ten
        if spec.name == "max_dpd_12m":  # never below the days past due now
            now = values["days_past_due"]
            strategy = st.one_of(st.just(now), _in_range(spec, low=now))
            if healthy_side:
                strategy = st.integers(now, max(now, 30))
        elif spec.name == "lender_applications_90d":  # never below the 30-day count
            in_30 = values["lender_applications_30d"]
            strategy = st.one_of(
                st.just(in_30), st.integers(in_30, in_30 + 30), _in_range(spec, low=in_30)
            )
            if healthy_side:
                strategy = st.integers(in_30, max(in_30, 9))
        else:
            strategy = _healthy_value(spec) if healthy_side else _value(spec)
        values[spec.name] = draw(strategy, label=spec.name)
    assert not range_problems(values)
    return values


_CEILING_CENTS = sorted(DEFAULT.raw_ceilings)
limits = st.one_of(
    st.integers(0, LIMIT_MAX_CENTS // 10_000).map(lambda hundreds: hundreds * 10_000),
    st.integers(0, LIMIT_MAX_CENTS),  # arbitrary cents
    st.integers(0, 300_000),  # small limits, arbitrary cents
    st.sampled_from([0, 100, 50_000, *_CEILING_CENTS]),
    st.sampled_from(_CEILING_CENTS).flatmap(
        lambda c: st.integers(max(0, c - 500_000), c + 500_000).map(lambda x: x // 100 * 100)
    ),
)


@dataclass(frozen=True)
class Account:
    signals: dict[str, Any]
    limit: int  # cents
    status: str
    in_cooldown: bool
    good_cycles: int
    days_since_restoration: int = NEVER_RESTORED


# Days since an appeal restored the limit: never, or around the protection periods drawn.
restorations = st.one_of(
    st.just(NEVER_RESTORED), st.integers(0, 400), st.sampled_from([0, 29, 30, 89, 90, 364, 365])
)


@st.composite
def accounts(
    draw: st.DrawFn,
    statuses: tuple[str, ...] = STATUSES,
    closed_at_zero: bool = True,
    mix: tuple[int, ...] = (10, 9, 5, 0),
) -> Account:
    """An account; a closed line holds no limit unless `closed_at_zero` is False.

    `mix` lists the chances (in ten) of each signal being healthy to pick from.
    """
    status = draw(st.sampled_from(statuses))
    limit = 0 if status == "closed" and closed_at_zero else draw(limits)
    return Account(
        signals=draw(signal_values(mix)),
        limit=limit,
        status=status,
        in_cooldown=draw(st.booleans()),
        good_cycles=draw(st.integers(0, 10)),
        days_since_restoration=draw(restorations),
    )


def _pct(high: int = 100) -> st.SearchStrategy[str]:
    return st.integers(0, high * 100).map(lambda bp: str(Decimal(bp).scaleb(-2)))


@st.composite
def policy_dicts(draw: st.DrawFn) -> dict[str, Any]:
    """A valid policy with random bands and thresholds."""
    n = draw(st.integers(1, 5))
    cutoffs = draw(st.lists(st.integers(351, 950), min_size=n - 1, max_size=n - 1, unique=True))
    ceilings = draw(st.lists(st.integers(0, 200_000), min_size=n, max_size=n))
    bands = [
        {"name": "ABCDE"[i], "min_score": score, "ceiling": str(ceiling)}
        for i, (score, ceiling) in enumerate(
            zip([*sorted(cutoffs, reverse=True), 350], sorted(ceilings, reverse=True), strict=True)
        )
    ]
    return {
        "bands": bands,
        "close_dpd": draw(st.integers(1, 365)),
        "close_on_public_record": draw(st.booleans()),
        "min_age": draw(st.integers(16, 30)),
        "overdue_reduce_pct": draw(_pct()),
        "multi_lending_applications_30d": draw(st.integers(1, 30)),
        "multi_lending_reduce_pct": draw(_pct()),
        "utilization_threshold": str(draw(st.integers(0, 20_000).map(_ratio))),
        "utilization_months": draw(st.integers(1, 12)),
        "utilization_reduce_pct": draw(_pct()),
        "linked_risk_threshold": str(draw(st.integers(0, 10_000).map(_ratio))),
        "linked_risk_reduce_pct": draw(_pct()),
        "hysteresis_pct": draw(_pct(20)),
        "raise_cap_pct": draw(_pct(50)),
        "raise_good_cycles": draw(st.integers(0, 6)),
        "reopen_limit": str(draw(st.integers(0, 5_000))),
        "cooldown_days": draw(st.integers(0, 365)),
        "overlay_factor": str(Decimal(draw(st.integers(10, 150))).scaleb(-2)),
        "overlay_rationale": "Random policy under test.",
        "breaker_max_accounts_cut_pct": draw(_pct()),
        "breaker_max_exposure_cut_pct": draw(_pct()),
        "rounding": draw(st.sampled_from(["0.01", "1", "10", "100", "1000"])),
        "reason_min_points": draw(st.sampled_from([0, 1, 5, 10, 25, 60])),
        "decrease_protection_days": draw(st.sampled_from([0, 1, 30, 90, 365])),
    }


compiled_policies = st.one_of(st.sampled_from(list(NAMED_POLICIES.values())), policy_dicts()).map(
    lambda data: compile_rules(parse_policy(data))
)


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def run_one(
    compiled: CompiledRules, account: Account, cycle: bool = True, **changes: Any
) -> Outcome:
    account = replace(account, **changes)
    return evaluate(
        compiled,
        account.signals,
        limit=account.limit,
        status=account.status,
        in_cooldown=account.in_cooldown,
        good_cycles=account.good_cycles,
        cycle=cycle,
        days_since_restoration=account.days_since_restoration,
    )


def run_chunk(compiled: CompiledRules, batch: list[Account], cycle: bool = True) -> list[Outcome]:
    signals = {
        name: np.array([as_number(a.signals.get(name)) for a in batch], dtype=np.float64)
        for name in INPUT_SIGNALS
    }
    result = evaluate_chunk(
        compiled,
        signals,
        limit=np.array([a.limit for a in batch], dtype=np.int64),
        status=np.array([STATUS_CODES[a.status] for a in batch], dtype=np.int64),
        in_cooldown=np.array([a.in_cooldown for a in batch], dtype=np.bool_),
        good_cycles=np.array([a.good_cycles for a in batch], dtype=np.int64),
        cycle=cycle,
        days_since_restoration=np.array([a.days_since_restoration for a in batch], dtype=np.int64),
    )
    return [
        result.outcome(row, compiled, limit=a.limit, status=a.status) for row, a in enumerate(batch)
    ]


def band_index(compiled: CompiledRules, outcome: Outcome) -> int:
    return [band.name for band in compiled.rules.bands].index(outcome.band)


def ceiling_of(compiled: CompiledRules, outcome: Outcome) -> int:
    return compiled.band_ceilings[band_index(compiled, outcome)]


def expected_reasons(
    compiled: CompiledRules, account: Account, outcome: Outcome
) -> tuple[str, ...]:
    """Adverse-action reasons recomputed here, not by principal_reasons: the rule whose
    figure is lowest first, then the other triggers, then the material scorecard reasons."""
    cut_pct = {
        "OVERDUE_NOW": compiled.rules.overdue_reduce_pct,
        "MULTI_LENDING": compiled.rules.multi_lending_reduce_pct,
        "HIGH_UTILIZATION": compiled.rules.utilization_reduce_pct,
        "LINKED_RISK": compiled.rules.linked_risk_reduce_pct,
    }
    first: list[str] = []
    if outcome.action == CLOSE:
        first = [
            next(
                c
                for c in ("INELIGIBLE", "SERIOUS_OVERDUE", "PUBLIC_RECORD")
                if c in outcome.triggers
            )
        ]
    elif outcome.action == REDUCE:
        figure = {
            code: account.limit * (100 - cut_pct[code]) / 100
            if code in cut_pct
            else ceiling_of(compiled, outcome)
            for code in outcome.triggers
            if code in cut_pct or code in ("BAND_CEILING", "PORTFOLIO_OVERLAY")
        }
        lowest = min(figure.values())
        first = [
            next(
                c
                for c in TRIGGER_ORDER
                if figure.get(c) is not None and int(figure[c]) == int(lowest)
            )
        ]
    fired = [*first, *(c for c in TRIGGER_ORDER if c in outcome.triggers and c not in first)]
    lost: dict[str, int] = {}
    first_seen: dict[str, int] = {}
    for position, characteristic in enumerate(SCORECARD):
        if not characteristic.adverse:
            continue
        best = max(characteristic.points)
        shortfall = best - outcome.contributions[characteristic.signal]
        lost[characteristic.reason] = lost.get(characteristic.reason, 0) + shortfall
        first_seen.setdefault(characteristic.reason, position)
    floor = max(compiled.rules.reason_min_points, 1)
    ranked = sorted(
        (code for code, points in lost.items() if points >= floor),
        key=lambda code: (-lost[code], first_seen[code]),
    )
    return tuple([*fired, *(c for c in ranked if c not in fired)][:MAX_REASONS])


# A healthy, eligible account: score 745, band B under DEFAULT_POLICY.
HEALTHY: dict[str, Any] = {
    "credit_score": 720,
    "days_past_due": 0,
    "overdue_count_12m": 0,
    "max_dpd_12m": 0,
    "on_time_ratio": Decimal("1.0000"),
    "lender_applications_30d": 0,
    "lender_applications_90d": 0,
    "external_debt_to_income": Decimal("0.2000"),
    "utilization": Decimal("0.2000"),
    "months_high_utilization": 0,
    "consumption_amount_90d": Decimal("6000.00"),
    "repayment_amount_90d": Decimal("6000.00"),
    "active_days_90d": 60,
    "tenure_months": 30,
    "phone_changes_90d": 0,
    "device_changes_90d": 0,
    "address_changes_90d": 0,
    "linked_bad_share": Decimal("0.0000"),
    "verified_monthly_income": None,
    "provident_fund_verified": False,
    "verified_assets": None,
    "bad_public_records": 0,
    "age": 30,
    "real_name_verified": True,
    "bank_card_bound": True,
}


def healthy(**changes: Any) -> dict[str, Any]:
    signals = {**HEALTHY, **changes}
    assert not range_problems(signals)
    return signals


def story(signals: dict[str, Any], **account: Any) -> Outcome:
    state: dict[str, Any] = {
        "limit": 800_000,
        "status": "active",
        "in_cooldown": False,
        "good_cycles": 0,
    }
    state.update(account)
    return evaluate(DEFAULT, signals, **state)


# --------------------------------------------------------------------------
# 1. One result, two ways to compute it
# --------------------------------------------------------------------------


@pytest.mark.parametrize("cycle", [True, False])
@pytest.mark.parametrize("name", list(NAMED_POLICIES))
@CHUNKY
@given(batch=st.lists(accounts(closed_at_zero=False), min_size=1, max_size=50))
def test_vectorised_evaluation_equals_per_account_evaluation(name, cycle, batch):
    compiled = compile_rules(parse_policy(NAMED_POLICIES[name]))
    assert run_chunk(compiled, batch, cycle) == [
        run_one(compiled, account, cycle) for account in batch
    ]


@pytest.mark.parametrize("cycle", [True, False])
@CHUNKY
@given(
    compiled=compiled_policies,
    batch=st.lists(accounts(closed_at_zero=False), min_size=1, max_size=50),
)
def test_both_paths_agree_on_random_policies_and_restorations(compiled, cycle, batch):
    """Random decrease_protection_days against random days since a restoration."""
    assert run_chunk(compiled, batch, cycle) == [
        run_one(compiled, account, cycle) for account in batch
    ]


@MEDIUM
@given(account=accounts(closed_at_zero=False))
def test_between_cycles_bad_news_acts_but_nothing_is_raised_reopened_or_counted(account):
    """A re-score on a signal change between scheduled runs: gradual restoration is
    per cycle, so it neither raises nor reopens nor counts a good cycle; a cut,
    a closure and a reset of the good cycles happen as in a cycle."""
    between, scheduled = run_one(DEFAULT, account, False), run_one(DEFAULT, account, True)
    if scheduled.action in {"raise", "reopen"}:
        assert (between.action, between.new_limit) == ("keep", account.limit)
    else:
        assert (between.action, between.new_limit, between.new_status) == (
            scheduled.action,
            scheduled.new_limit,
            scheduled.new_status,
        )
    good = scheduled.good_cycles > 0  # the default policy counts up to 3
    assert between.good_cycles == (min(account.good_cycles, 3) if good else 0)
    assert between.score == scheduled.score and between.triggers == scheduled.triggers


# --------------------------------------------------------------------------
# 2. Monotonicity
# --------------------------------------------------------------------------

# Direction in which each input signal gets worse. repayment_amount_90d is not
# read by the policy and has no adverse direction.
WORSE_UP = (
    "days_past_due",
    "overdue_count_12m",
    "max_dpd_12m",
    "lender_applications_30d",
    "lender_applications_90d",
    "external_debt_to_income",
    "utilization",
    "months_high_utilization",
    "phone_changes_90d",
    "device_changes_90d",
    "address_changes_90d",
    "linked_bad_share",
    "bad_public_records",
)
WORSE_DOWN = (
    "credit_score",
    "on_time_ratio",
    "consumption_amount_90d",
    "active_days_90d",
    "tenure_months",
    "verified_monthly_income",
    "verified_assets",
    # Age is not scored and eligibility is not monotone in it over a lifetime;
    # only a lower age is tried, which can only make the customer ineligible.
    "age",
)
WORSE_FALSE = ("provident_fund_verified", "real_name_verified", "bank_card_bound")


def _between(spec: SignalSpec, low: Any, high: Any) -> st.SearchStrategy[Any]:
    """Values of the signal's kind in [low, high], the ends favoured."""
    inside: st.SearchStrategy[Any]
    if spec.kind == "int":
        inside = st.integers(int(low), int(high))
    elif spec.kind == "ratio":
        inside = st.integers(int(low * 10000), int(high * 10000)).map(_ratio)
    else:
        inside = st.integers(int(low * 100), int(high * 100)).map(_money)
    return st.one_of(st.just(low), st.just(high), inside)


def _worse_options(signals: dict[str, Any]) -> dict[str, st.SearchStrategy[Any]]:
    """For each signal that can get strictly worse on its own (ranges and the
    cross-field rules kept), a strategy for its worse value."""
    options: dict[str, st.SearchStrategy[Any]] = {}
    for name in WORSE_UP:
        spec = SIGNALS_BY_NAME[name]
        current, top = signals[name], _upper(spec)
        if name == "days_past_due":  # max_dpd_12m >= days_past_due
            top = signals["max_dpd_12m"]
        elif name == "lender_applications_30d":  # 90-day count >= 30-day count
            top = min(top, signals["lender_applications_90d"])
        if current + _step(spec) <= top:
            options[name] = _between(spec, current + _step(spec), top)
    for name in WORSE_DOWN:
        spec = SIGNALS_BY_NAME[name]
        current = signals[name]
        if current is None:
            continue
        choices = [st.none()] if spec.nullable else []
        if current - _step(spec) >= spec.minimum:
            choices.append(_between(spec, spec.minimum, current - _step(spec)))
        if choices:
            options[name] = st.one_of(choices)
    for name in WORSE_FALSE:
        if signals[name]:
            options[name] = st.just(False)
    return options


@MEDIUM
@given(compiled=compiled_policies, account=accounts(), data=st.data())
def test_a_worse_signal_never_raises_the_limit(compiled, account, data):
    options = _worse_options(account.signals)
    assume(options)
    name = data.draw(st.sampled_from(sorted(options)), label="worse signal")
    value = data.draw(options[name], label=f"worse {name}")
    worse_signals = {**account.signals, name: value}
    assert not range_problems(worse_signals)

    better = run_one(compiled, account)
    worse = run_one(compiled, account, signals=worse_signals)

    assert worse.new_limit <= better.new_limit, (name, value, better, worse)


@CHEAP
@given(account=accounts(), age=st.integers(0, 17))
def test_an_under_age_customer_is_never_raised(account, age):
    outcome = run_one(DEFAULT, account, signals={**account.signals, "age": age})
    assert outcome.new_limit <= account.limit
    assert outcome.action in (KEEP, CLOSE)
    assert INELIGIBLE in outcome.triggers


# --------------------------------------------------------------------------
# 3. Hysteresis
# --------------------------------------------------------------------------


@MEDIUM
@given(compiled=compiled_policies, account=accounts())
def test_no_change_is_smaller_than_the_hysteresis_step(compiled, account):
    outcome = run_one(compiled, account)
    if outcome.action in (RAISE, REDUCE):
        step = abs(outcome.new_limit - outcome.old_limit) * 10000
        assert step >= outcome.old_limit * compiled.hysteresis_bp
        assert outcome.new_limit % compiled.unit == 0


_CUT_BP = {
    OVERDUE_NOW: "overdue_bp",
    MULTI_LENDING: "multi_lending_bp",
    HIGH_UTILIZATION: "utilization_bp",
    LINKED_RISK: "linked_bp",
}


@MEDIUM
@given(compiled=compiled_policies, account=accounts(statuses=("active",)))
def test_a_proposed_change_below_the_hysteresis_step_keeps_the_limit(compiled, account):
    outcome = run_one(compiled, account)
    assume(not set(outcome.triggers) & set(CLOSE_TRIGGERS))
    limit, unit, ceiling = account.limit, compiled.unit, ceiling_of(compiled, outcome)
    step = limit * compiled.hysteresis_bp

    cuts = [code for code in outcome.triggers if code in REDUCE_TRIGGERS]
    down = min(
        [limit, ceiling]
        + [limit * (10000 - getattr(compiled, _CUT_BP[code])) // 10000 for code in cuts]
    )
    if down < limit:  # only a cut is rounded (see the odd-limit tests below)
        down = down // unit * unit
    if down < limit:  # the policy proposes a cut
        if (limit - down) * 10000 < step:
            assert outcome.action == KEEP
            assert outcome.new_limit == limit
        return

    up = min(ceiling, limit * (10000 + compiled.raise_cap_bp) // 10000) // unit * unit
    if limit > 0 and up > limit and (up - limit) * 10000 < step:  # it would propose a raise
        assert outcome.action == KEEP
        assert outcome.new_limit == limit


def test_a_limit_a_little_above_the_ceiling_is_kept():
    # Band B's ceiling is 40,000 yuan; 41,000 is 2.4% above it, under the 5% step.
    outcome = story(healthy(), limit=4_100_000)
    assert outcome.band == "B"
    assert outcome.action == KEEP
    assert outcome.new_limit == 4_100_000
    # 45,000 is 11% above: it comes down to the ceiling.
    outcome = story(healthy(), limit=4_500_000)
    assert (outcome.action, outcome.new_limit) == (REDUCE, 4_000_000)


# --------------------------------------------------------------------------
# 4. Raises
# --------------------------------------------------------------------------


@MEDIUM
@given(
    compiled=compiled_policies,
    account=accounts(statuses=("active",), mix=(10, 9)),
    data=st.data(),
)
def test_an_increase_never_exceeds_the_per_cycle_cap_or_the_band_ceiling(compiled, account, data):
    # Most limits are put under the band ceiling, where raises happen.
    ceiling, unit = ceiling_of(compiled, run_one(compiled, account)), compiled.unit
    if data.draw(st.integers(0, 3), label="where the limit is") > 0:
        limit = data.draw(
            st.one_of(
                st.integers(0, ceiling // unit).map(lambda units: units * unit),
                st.integers(0, ceiling),
            ),
            label="limit under the ceiling",
        )
        account = replace(account, limit=limit)
    outcome = run_one(compiled, account)
    event(outcome.action)
    if outcome.action != RAISE:
        return
    old, new = outcome.old_limit, outcome.new_limit
    assert new > old
    assert new <= ceiling_of(compiled, outcome)
    if old > 0:
        assert new <= old * (10000 + compiled.raise_cap_bp) // 10000
    else:
        assert new <= compiled.reopen_limit
    assert account.good_cycles + 1 >= compiled.rules.raise_good_cycles
    assert outcome.triggers == ()
    assert outcome.reasons == (GOOD_HISTORY,)


def test_a_growth_overlay_lets_a_limit_above_the_band_ceiling_rise_without_a_ceiling_reason():
    """Found by the property above: with an overlay of 1.2, band D's ceiling is
    10,800, so a 9,100 limit (above the band's own 9,000) is not capped; it
    used to carry BAND_CEILING while being raised."""
    growth = compile_rules(parse_policy(NAMED_POLICIES["overlay-1.2"]))
    signals = healthy(
        credit_score=650,
        max_dpd_12m=1,
        on_time_ratio=Decimal("0.95"),
        lender_applications_90d=4,
        consumption_amount_90d=Decimal("500.00"),
        repayment_amount_90d=Decimal("0"),
        active_days_90d=20,
        tenure_months=6,
    )
    outcome = evaluate(
        growth, signals, limit=910_000, status="active", in_cooldown=False, good_cycles=2
    )
    assert (outcome.band, outcome.action, outcome.new_limit) == ("D", RAISE, 1_000_000)
    assert outcome.triggers == () and outcome.reasons == (GOOD_HISTORY,)
    # Capped for real: above the overlay's ceiling, the band ceiling is the reason.
    capped = evaluate(
        growth, signals, limit=2_000_000, status="active", in_cooldown=False, good_cycles=2
    )
    assert "BAND_CEILING" in capped.triggers


@CHEAP
@given(compiled=compiled_policies, account=accounts())
def test_only_a_trigger_free_account_with_enough_good_cycles_is_raised(compiled, account):
    outcome = run_one(compiled, account)
    # Cool-down, the portfolio overlay and a band ceiling are not about the
    # customer's behaviour: they do not break a run of good cycles.
    adverse = set(outcome.triggers) - {COOLDOWN, PORTFOLIO_OVERLAY, "BAND_CEILING"}
    if adverse or account.good_cycles + 1 < compiled.rules.raise_good_cycles:
        assert outcome.action not in (RAISE, REOPEN)
        assert outcome.new_limit <= account.limit
    if adverse:
        assert outcome.good_cycles == 0
    else:
        assert outcome.good_cycles == min(account.good_cycles + 1, compiled.rules.raise_good_cycles)


# --------------------------------------------------------------------------
# 5. and 7. Closed and frozen lines
# --------------------------------------------------------------------------


@CHEAP
@given(compiled=compiled_policies, account=accounts(statuses=("closed",), closed_at_zero=False))
def test_a_closed_account_in_cool_down_is_never_reopened_by_scoring(compiled, account):
    outcome = run_one(compiled, account, in_cooldown=True)
    assert outcome.action == KEEP
    assert outcome.new_status == "closed"
    assert outcome.new_limit == account.limit
    assert COOLDOWN in outcome.triggers or set(outcome.triggers) & set(CLOSE_TRIGGERS)


@CHEAP
@given(compiled=compiled_policies, account=accounts(statuses=("frozen",)))
def test_a_frozen_account_is_never_changed_by_scoring(compiled, account):
    outcome = run_one(compiled, account)
    assert outcome.action == KEEP
    assert outcome.new_status == "frozen"
    assert outcome.new_limit == account.limit


# --------------------------------------------------------------------------
# 6. Reasons and score
# --------------------------------------------------------------------------


@CHEAP
@given(compiled=compiled_policies, account=accounts())
def test_reasons_are_the_real_top_contributors(compiled, account):
    outcome = run_one(compiled, account)
    assert list(outcome.triggers) == [c for c in TRIGGER_ORDER if c in outcome.triggers]
    if outcome.action in (REDUCE, CLOSE):
        assert len(outcome.reasons) <= MAX_REASONS
        assert outcome.reasons == expected_reasons(compiled, account, outcome)
    elif outcome.action == RAISE:
        assert outcome.reasons == (GOOD_HISTORY,)
    elif outcome.action == REOPEN:
        assert outcome.reasons == (REOPENED, GOOD_HISTORY)
    else:
        assert outcome.reasons == outcome.triggers


@CHEAP
@given(account=accounts())
def test_the_score_is_the_clipped_sum_of_the_contributions(account):
    outcome = run_one(DEFAULT, account)
    assert set(outcome.contributions) == {c.signal for c in SCORECARD}
    total = BASE_SCORE + sum(outcome.contributions.values())
    assert outcome.score == min(max(total, MIN_SCORE), MAX_SCORE)
    for characteristic in SCORECARD:
        assert outcome.contributions[characteristic.signal] in characteristic.points


def test_a_cut_names_its_largest_scorecard_losses_after_the_trigger():
    signals = healthy(
        lender_applications_30d=12,  # MULTI_LENDING trigger, -60
        lender_applications_90d=25,  # -35
        phone_changes_90d=4,  # -25 INSTABILITY
        tenure_months=3,  # -35 against the best bin: LOW_ACTIVITY
    )
    outcome = story(signals)
    assert outcome.action == REDUCE
    assert outcome.reasons[0] == MULTI_LENDING
    account = Account(
        signals=signals, limit=800_000, status="active", in_cooldown=False, good_cycles=0
    )
    assert outcome.reasons == expected_reasons(DEFAULT, account, outcome)


# --------------------------------------------------------------------------
# 8. Stories under DEFAULT_POLICY
# --------------------------------------------------------------------------


def test_a_healthy_account_is_scored_into_band_b():
    outcome = story(healthy())
    assert (outcome.score, outcome.band) == (745, "B")
    assert outcome.action == KEEP
    assert outcome.triggers == ()


def test_many_applications_at_other_lenders_cut_the_limit_and_name_multi_lending_first():
    outcome = story(healthy(lender_applications_30d=12, lender_applications_90d=15), limit=800_000)
    assert outcome.triggers == (MULTI_LENDING,)
    assert outcome.action == REDUCE
    assert outcome.new_limit == 560_000  # 8,000 yuan less 30%
    assert outcome.new_status == "active"
    assert outcome.reasons[0] == MULTI_LENDING


def test_nine_applications_at_other_lenders_are_not_yet_a_trigger():
    outcome = story(healthy(lender_applications_30d=9, lender_applications_90d=9))
    assert MULTI_LENDING not in outcome.triggers


def test_ninety_days_past_due_closes_the_line():
    outcome = story(healthy(days_past_due=90, max_dpd_12m=120), limit=800_000)
    assert outcome.action == CLOSE
    assert (outcome.new_limit, outcome.new_status) == (0, "closed")
    assert outcome.reasons[0] == SERIOUS_OVERDUE
    assert OVERDUE_NOW in outcome.triggers


def test_eighty_nine_days_past_due_cuts_but_does_not_close():
    outcome = story(healthy(days_past_due=89, max_dpd_12m=89), limit=800_000)
    assert outcome.action == REDUCE
    assert outcome.new_status == "active"
    assert outcome.new_limit <= 640_000  # at least the 20% overdue cut
    # 89 days past due drops the score to band E: its ceiling (3,000) sets the limit,
    # lower than the overdue cut's 6,400, so it is named first.
    assert (outcome.band, outcome.new_limit) == ("E", 300_000)
    assert outcome.reasons[:2] == (BAND_CEILING, OVERDUE_NOW)


def test_a_public_record_closes_the_line():
    outcome = story(healthy(bad_public_records=1), limit=800_000)
    assert outcome.action == CLOSE
    assert (outcome.new_limit, outcome.new_status) == (0, "closed")
    assert outcome.reasons[0] == PUBLIC_RECORD


@pytest.mark.parametrize(
    "change",
    [{"age": 17}, {"real_name_verified": False}, {"bank_card_bound": False}],
    ids=["under-18", "no-real-name", "no-bank-card"],
)
def test_an_ineligible_customer_is_closed(change):
    outcome = story(healthy(**change), limit=800_000)
    assert outcome.action == CLOSE
    assert (outcome.new_limit, outcome.new_status) == (0, "closed")
    assert outcome.triggers == (INELIGIBLE,)
    assert outcome.reasons[0] == INELIGIBLE


def test_a_closed_account_after_cool_down_with_enough_good_cycles_reopens_small():
    outcome = story(healthy(), status="closed", limit=0, in_cooldown=False, good_cycles=2)
    assert outcome.action == REOPEN
    assert (outcome.new_limit, outcome.new_status) == (50_000, "active")  # 500 yuan
    assert outcome.reasons == (REOPENED, GOOD_HISTORY)
    assert outcome.good_cycles == 3


def test_a_closed_account_without_enough_good_cycles_stays_closed():
    outcome = story(healthy(), status="closed", limit=0, in_cooldown=False, good_cycles=1)
    assert outcome.action == KEEP
    assert (outcome.new_limit, outcome.new_status) == (0, "closed")
    assert outcome.good_cycles == 2


def test_a_closed_account_in_cool_down_stays_closed_however_good():
    outcome = story(healthy(), status="closed", limit=0, in_cooldown=True, good_cycles=10)
    assert outcome.action == KEEP
    assert outcome.triggers == (COOLDOWN,)
    assert outcome.new_status == "closed"


def test_a_healthy_account_with_good_cycles_gets_a_raise_capped_at_ten_percent():
    outcome = story(healthy(), limit=1_000_000, good_cycles=3)
    assert outcome.band == "B"
    assert outcome.action == RAISE
    assert outcome.new_limit == 1_100_000  # 10,000 -> 11,000 yuan
    assert outcome.reasons == (GOOD_HISTORY,)


def test_a_raise_stops_at_the_band_ceiling():
    outcome = story(healthy(), limit=3_700_000, good_cycles=3)
    assert (outcome.action, outcome.new_limit) == (RAISE, 4_000_000)  # not 40,700
    outcome = story(healthy(), limit=4_000_000, good_cycles=3)
    assert (outcome.action, outcome.new_limit) == (KEEP, 4_000_000)


def test_a_healthy_account_without_enough_good_cycles_is_not_raised():
    outcome = story(healthy(), limit=1_000_000, good_cycles=1)
    assert outcome.action == KEEP
    assert outcome.good_cycles == 2


def test_a_frozen_account_with_a_close_trigger_stays_frozen():
    outcome = story(healthy(days_past_due=200, max_dpd_12m=200), status="frozen")
    assert outcome.action == KEEP
    assert (outcome.new_limit, outcome.new_status) == (800_000, "frozen")
    assert SERIOUS_OVERDUE in outcome.triggers


# --------------------------------------------------------------------------
# Limits that are not a whole rounding unit (arbitrary cents)
# --------------------------------------------------------------------------
# The limit column holds cents, so a limit need not be a multiple of the
# policy's rounding unit (100 yuan by default). Rounding belongs to a new limit
# the policy sets, not to one it leaves alone.


@MEDIUM
@given(compiled=compiled_policies, account=accounts(statuses=("active",), mix=(10, 9)))
def test_an_account_without_triggers_at_or_below_its_ceiling_is_never_cut(compiled, account):
    """Only the band ceiling and the hard triggers cut a limit (module docstring,
    steps 3 and 4); rounding alone must not."""
    outcome = run_one(compiled, account)
    if not outcome.triggers and account.limit <= ceiling_of(compiled, outcome):
        assert outcome.action != REDUCE, outcome


def test_a_healthy_account_with_an_odd_limit_is_not_cut_by_rounding():
    outcome = story(healthy(), limit=15_000, good_cycles=0)  # 150.00 yuan, ceiling 40,000
    assert outcome.triggers == ()
    assert (outcome.action, outcome.new_limit) == (KEEP, 15_000)


def test_a_healthy_account_with_an_odd_limit_still_gets_its_raise():
    """Band B ceiling 40,000 yuan, three good cycles: +10% rounded down is 11,000."""
    outcome = story(healthy(), limit=1_000_050, good_cycles=3)  # 10,000.50 yuan
    assert outcome.action == RAISE
    assert outcome.new_limit == 1_100_000


# --------------------------------------------------------------------------
# 9. Policy validation
# --------------------------------------------------------------------------


def test_the_default_policy_parses_and_round_trips():
    rules = parse_policy(DEFAULT_POLICY)
    assert [band.name for band in rules.bands] == ["A", "B", "C", "D", "E"]
    assert rules.rounding == Decimal("100")
    assert parse_policy(rules.as_json()) == rules
    compiled = compile_rules(rules)
    assert compiled.band_ceilings == (12_000_000, 4_000_000, 2_000_000, 900_000, 300_000)
    assert (compiled.hysteresis_bp, compiled.raise_cap_bp) == (500, 1000)
    assert (compiled.reopen_limit, compiled.unit) == (50_000, 10_000)


@CHEAP
@given(data=policy_dicts())
def test_every_generated_policy_is_valid(data):
    assert parse_policy(data).overlay_rationale == "Random policy under test."


def _with_band(index: int, **changes: Any) -> dict[str, Any]:
    data = policy()
    data["bands"][index].update(changes)
    return data


def _without(name: str) -> dict[str, Any]:
    data = policy()
    del data[name]
    return data


INVALID_POLICIES = {
    "cut-offs-not-decreasing": (_with_band(1, min_score=750), "bands", "strictly decreasing"),
    "last-band-not-350": (_with_band(4, min_score=400), "bands", "350"),
    "percentage-over-100": (policy(overdue_reduce_pct="101"), "overdue_reduce_pct", "100"),
    "negative-ceiling": (_with_band(4, ceiling="-1"), "bands.4.ceiling", "negative"),
    "empty-rationale": (policy(overlay_rationale="   "), "overlay_rationale", "rationale"),
    "close-dpd-not-whole": (policy(close_dpd=90.5), "close_dpd", "whole number"),
    "close-dpd-text": (policy(close_dpd="90"), "close_dpd", "whole number"),
    "unknown-field": (policy(magic_boost="2"), "__all__", "magic_boost"),
    "missing-field": (_without("raise_cap_pct"), "raise_cap_pct", "required"),
    "overlay-out-of-range": (policy(overlay_factor="2"), "overlay_factor", "between"),
    "hysteresis-not-a-number": (policy(hysteresis_pct="five"), "hysteresis_pct", "number"),
}


@pytest.mark.parametrize(("data", "key", "words"), INVALID_POLICIES.values(), ids=INVALID_POLICIES)
def test_an_invalid_policy_names_the_field(data, key, words):
    with pytest.raises(PolicyError) as caught:
        parse_policy(data)
    errors = caught.value.errors
    assert key in errors, errors
    message = errors[key]
    assert words in message
    readable = ("must", "required", "unknown")
    assert any(word in message for word in readable), message
    assert key in str(caught.value)


def test_every_problem_is_named_at_once():
    data = policy(overdue_reduce_pct="101", close_dpd=0, overlay_rationale="")
    with pytest.raises(PolicyError) as caught:
        parse_policy(data)
    assert set(caught.value.errors) == {"overdue_reduce_pct", "close_dpd", "overlay_rationale"}


def test_a_band_ceiling_that_is_not_a_number_names_the_band():
    """A ceiling of "NaN" parses as a Decimal; it must be reported, not crash."""
    with pytest.raises(PolicyError) as caught:
        parse_policy(_with_band(4, ceiling="NaN"))
    assert "bands.4.ceiling" in caught.value.errors

"""The independent reason checker (decisions/fidelity.py) against the scoring code.

Every reason the policy states for a generated account must hold by the checker's
own reading of the numbers; and the checker must catch the wrong reasons the old
selection gave (a utilization of 35 % called high, the band ceiling left out).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import given

from decisions import fidelity
from demo.stories import STORY_ACCOUNTS
from scoring import (
    BAND_CEILING,
    HIGH_UTILIZATION,
    MULTI_LENDING,
    REDUCE_TRIGGERS,
    CompiledRules,
    Outcome,
    parse_policy,
)
from tests.decisions.test_policy import (
    CHEAP,
    DEFAULT,
    DEFAULT_POLICY,
    Account,
    accounts,
    compiled_policies,
    run_one,
    story,
)


def stated(compiled: CompiledRules, account: Account, outcome: Outcome) -> fidelity.Stated:
    return fidelity.Stated(
        action=outcome.action,
        reasons=outcome.reasons,
        inputs=account.signals,
        rules=compiled.rules,
        old_limit=Decimal(account.limit) / 100,
        new_limit=Decimal(outcome.new_limit) / 100,
        old_status=account.status,
        new_status=outcome.new_status,
        score=outcome.score,
        band=outcome.band,
        protected=account.days_since_restoration < compiled.rules.decrease_protection_days,
    )


@CHEAP
@given(compiled=compiled_policies, account=accounts())
def test_every_reason_the_policy_states_holds_for_the_accounts_numbers(compiled, account):
    outcome = run_one(compiled, account)
    if outcome.action == "keep":
        return
    assert fidelity.problems(stated(compiled, account, outcome)) == []


@CHEAP
@given(account=accounts(statuses=("active",), closed_at_zero=False))
def test_every_cut_names_the_rule_that_set_the_figure_first(account):
    outcome = run_one(DEFAULT, account)
    if outcome.action != "reduce":
        return
    assert outcome.reasons[0] in (*REDUCE_TRIGGERS, BAND_CEILING, "PORTFOLIO_OVERLAY")
    assert fidelity.problems(stated(DEFAULT, account, outcome)) == []


# LD-CASE-A of the demo: 14 applications in 30 days, utilization 35 %, 30 months old.
_STORY = next(story for story in STORY_ACCOUNTS if story.reference == "LD-CASE-A")
CASE_A: dict[str, Any] = {**_STORY.signals, "tenure_months": _STORY.tenure_months}


def case_a() -> tuple[Account, Outcome]:
    account = Account(
        signals=CASE_A, limit=800_000, status="active", in_cooldown=False, good_cycles=0
    )
    return account, story(CASE_A, limit=800_000)


def test_a_band_ceiling_that_sets_the_limit_is_named_first():
    account, outcome = case_a()
    assert outcome.action == "reduce"
    assert outcome.band == "E" and outcome.new_limit == 300_000
    assert outcome.reasons[:2] == (BAND_CEILING, MULTI_LENDING)
    assert HIGH_UTILIZATION not in outcome.reasons  # 35 % loses 5 points: not material
    assert fidelity.problems(stated(DEFAULT, account, outcome)) == []


def test_the_checker_refuses_the_reasons_the_old_selection_gave():
    account, outcome = case_a()
    facts = stated(DEFAULT, account, outcome)
    old = fidelity.Stated(
        **{
            **facts.__dict__,
            "reasons": (MULTI_LENDING, "OVERDUE_HISTORY", "SCORE_LOW", HIGH_UTILIZATION),
        }
    )
    found = fidelity.problems(old)
    assert any(p.startswith("HIGH_UTILIZATION does not hold") for p in found), found
    assert any("set by BAND_CEILING" in p and "MULTI_LENDING is named first" in p for p in found)


def test_a_policy_without_a_materiality_floor_names_any_loss():
    rules = parse_policy({**DEFAULT_POLICY, "reason_min_points": 0})
    account, _outcome = case_a()
    facts = stated(DEFAULT, account, story(CASE_A, limit=800_000))
    with_any_loss = fidelity.Stated(
        **{**facts.__dict__, "rules": rules, "reasons": (BAND_CEILING, HIGH_UTILIZATION)}
    )
    assert fidelity.problems(with_any_loss) == []
    assert fidelity.problems(fidelity.Stated(**{**with_any_loss.__dict__, "rules": DEFAULT.rules}))


def test_a_stated_score_or_limit_that_the_inputs_do_not_give_is_reported():
    account, outcome = case_a()
    facts = stated(DEFAULT, account, outcome)
    assert fidelity.problems(fidelity.Stated(**{**facts.__dict__, "score": 700}))
    assert fidelity.problems(fidelity.Stated(**{**facts.__dict__, "new_limit": Decimal(2000)}))

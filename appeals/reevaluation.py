"""Re-evaluation of an appeal with verified evidence. Pure Python.

A customer sends proof of capacity (salary flow, provident-fund record, proof of
assets). The handler enters the verified values; the account is scored again by
the active policy as if the contested decision had not happened: from the limit
and status before it. What the policy gives from there, when it is above the
limit now, is the restoration; otherwise the decision stands.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext as _

import scoring
from accounts.signal_spec import SIGNALS_BY_NAME

VERIFIABLE = scoring.VERIFIABLE


class EvidenceValueError(ValueError):
    pass


def _amount(raw: Any, name: str) -> Decimal | None:
    if raw is None or str(raw).strip() == "":
        return None
    label = SIGNALS_BY_NAME[name].label
    try:
        amount = Decimal(str(raw).strip().replace(",", ""))
    except InvalidOperation:
        amount = Decimal("NaN")
    spec = SIGNALS_BY_NAME[name]
    if (
        not amount.is_finite()
        or not Decimal(spec.minimum or 0) <= amount <= Decimal(spec.maximum or 0)
        or amount != amount.quantize(Decimal("0.01"))
    ):
        raise EvidenceValueError(
            _("Enter the %(label)s as an amount in yuan, e.g. 12000.00.") % {"label": label}
        )
    return amount.quantize(Decimal("0.01"))


def verified_values(
    *, monthly_income: Any = None, provident_fund: bool = False, assets: Any = None
) -> dict[str, Any]:
    """The verified values a handler entered, checked; at least one is needed."""
    values: dict[str, Any] = {}
    income = _amount(monthly_income, "verified_monthly_income")
    if income is not None:
        values["verified_monthly_income"] = income
    if provident_fund:
        values["provident_fund_verified"] = True
    total = _amount(assets, "verified_assets")
    if total is not None:
        values["verified_assets"] = total
    if not values:
        raise EvidenceValueError(
            _(
                "Enter what the evidence verifies: the monthly income, the provident fund "
                "or the assets."
            )
        )
    return values


def as_json(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: str(v) if isinstance(v, Decimal) else v for k, v in values.items()}


def from_json(values: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: v if SIGNALS_BY_NAME[k].kind == "bool" else Decimal(str(v))
        for k, v in values.items()
        if k in VERIFIABLE
    }


@dataclass(frozen=True)
class Reevaluation:
    signals: dict[str, Any]  # the account's signals with the verified values
    score_before: int
    band_before: str
    start_limit: Decimal  # the limit the policy was applied to (before the contested decision)
    outcome: scoring.Outcome
    target: Decimal | None  # the restored limit; None: the decision stands

    @property
    def raises(self) -> bool:
        """The policy's raise rule went beyond the limit before the contested decision."""
        return self.target is not None and self.target > self.start_limit


def reevaluate(
    compiled: scoring.CompiledRules,
    signals: Mapping[str, Any],
    verified: Mapping[str, Any],
    *,
    score_before: int,
    band_before: str,
    start_limit: Decimal,
    start_status: str,
    limit_now: Decimal,
    good_cycles: int,
    days_since_restoration: int = scoring.NEVER_RESTORED,
) -> Reevaluation:
    """`days_since_restoration`: the account's, now (an earlier appeal's restoration
    still protects it from score-based cuts; docs/architecture.md, "Decrease protection")."""
    seen = {**signals, **verified}
    outcome = scoring.evaluate(
        compiled,
        seen,
        limit=scoring.cents(start_limit),
        status=start_status,
        in_cooldown=False,
        good_cycles=good_cycles,
        days_since_restoration=days_since_restoration,
    )
    proposed = outcome.new_limit_decimal if outcome.new_status == "active" else Decimal("0.00")
    target = proposed.quantize(Decimal("0.01")) if proposed > limit_now else None
    return Reevaluation(seen, score_before, band_before, start_limit, outcome, target)


def deciding_rule_of(result: Reevaluation, rules: scoring.PolicyRules) -> str | None:
    """The rule that set the re-evaluation's limit, as a decision's explanation names it."""
    scored = result.outcome
    return scoring.deciding_rule(
        scored.action,
        scored.triggers,
        limit=scored.old_limit,
        band_index=[band.name for band in rules.bands].index(scored.band),
        compiled=scoring.compile_rules(rules),
    )

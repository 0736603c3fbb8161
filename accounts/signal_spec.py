"""The account signals (docs/architecture.md, "Signals"), their ranges and their
parser. Pure Python.

One table serves the model validators, the database check constraints, the
demo generator and (later) the scorecard, so a range is written once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Literal

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

Kind = Literal["int", "ratio", "money", "bool"]
# The column type of each kind, for temporary tables of signal values.
SQL_TYPES = {"int": "integer", "ratio": "numeric(9,4)", "money": "numeric(14,2)", "bool": "boolean"}


@dataclass(frozen=True)
class SignalSpec:
    name: str
    kind: Kind
    group: str
    label: StrOrPromise
    minimum: Decimal | int | None = None
    maximum: Decimal | int | None = None
    nullable: bool = False


def _int(name: str, group: str, label: StrOrPromise, maximum: int, minimum: int = 0) -> SignalSpec:
    return SignalSpec(name, "int", group, label, minimum, maximum)


def _ratio(name: str, group: str, label: StrOrPromise, maximum: str = "1") -> SignalSpec:
    return SignalSpec(name, "ratio", group, label, Decimal("0"), Decimal(maximum))


def _money(name: str, group: str, label: StrOrPromise, nullable: bool = False) -> SignalSpec:
    return SignalSpec(
        name, "money", group, label, Decimal("0"), Decimal("9999999999.99"), nullable=nullable
    )


def _bool(name: str, group: str, label: StrOrPromise) -> SignalSpec:
    return SignalSpec(name, "bool", group, label)


SIGNALS: tuple[SignalSpec, ...] = (
    _int("credit_score", "score", _("credit bureau score"), 950, minimum=350),
    _int("days_past_due", "repayment", _("days past due now"), 3650),
    _int("overdue_count_12m", "repayment", _("overdue episodes in 12 months"), 366),
    _int("max_dpd_12m", "repayment", _("worst days past due in 12 months"), 3650),
    _ratio("on_time_ratio", "repayment", _("on-time repayment ratio")),
    _int(
        "lender_applications_30d",
        "multi_lending",
        _("applications at other lenders in 30 days"),
        500,
    ),
    _int(
        "lender_applications_90d",
        "multi_lending",
        _("applications at other lenders in 90 days"),
        1500,
    ),
    _ratio("external_debt_to_income", "multi_lending", _("external debt to income"), maximum="100"),
    _ratio("utilization", "reliance", _("utilization (balance / limit)"), maximum="2"),
    _int(
        "months_high_utilization",
        "reliance",
        _("months with utilization of 90 percent or more"),
        120,
    ),
    _money("consumption_amount_90d", "activity", _("consumption in 90 days")),
    _money("repayment_amount_90d", "activity", _("repayments in 90 days")),
    _int("active_days_90d", "activity", _("active days in 90 days"), 90),
    _int("tenure_months", "activity", _("months since the line was opened"), 600),
    _int("phone_changes_90d", "stability", _("phone number changes in 90 days"), 100),
    _int("device_changes_90d", "stability", _("device changes in 90 days"), 100),
    _int("address_changes_90d", "stability", _("address changes in 90 days"), 100),
    _ratio("linked_bad_share", "linked", _("share of linked accounts in bad standing")),
    _money("verified_monthly_income", "capacity", _("verified monthly income"), nullable=True),
    _bool("provident_fund_verified", "capacity", _("provident fund verified")),
    _money("verified_assets", "capacity", _("verified assets"), nullable=True),
    _int(
        "bad_public_records", "public_record", _("court judgments / dishonest-debtor entries"), 50
    ),
    _int("age", "eligibility", _("age in years"), 120),
    _bool("real_name_verified", "eligibility", _("real-name verified")),
    _bool("bank_card_bound", "eligibility", _("bank card bound")),
)

SIGNALS_BY_NAME = {spec.name: spec for spec in SIGNALS}
DECIMAL_PLACES = {"ratio": Decimal("0.0001"), "money": Decimal("0.01")}


def value_problem(spec: SignalSpec, value: int | Decimal) -> str | None:
    """What is wrong with a typed value of this signal (range, decimal places), or None."""
    low, high = spec.minimum, spec.maximum
    if (low is not None and value < low) or (high is not None and value > high):
        return str(_("must be between %(low)s and %(high)s") % {"low": low, "high": high})
    places = DECIMAL_PLACES.get(spec.kind)
    if places is not None and value != Decimal(value).quantize(places):
        return str(_("has too many decimal places"))
    return None


def range_problems(values: dict[str, object]) -> dict[str, StrOrPromise]:
    """Cross-field rules that single-field ranges cannot express."""
    problems: dict[str, StrOrPromise] = {}
    dpd, max_dpd = values.get("days_past_due"), values.get("max_dpd_12m")
    if isinstance(dpd, int) and isinstance(max_dpd, int) and max_dpd < dpd:
        problems["max_dpd_12m"] = _(
            "The worst days past due in 12 months (%(worst)s) cannot be lower "
            "than the days past due now (%(now)s)."
        ) % {"worst": max_dpd, "now": dpd}
    apps_30, apps_90 = values.get("lender_applications_30d"), values.get("lender_applications_90d")
    if isinstance(apps_30, int) and isinstance(apps_90, int) and apps_90 < apps_30:
        problems["lender_applications_90d"] = _(
            "Applications in 90 days (%(in_90)s) cannot be fewer than "
            "applications in 30 days (%(in_30)s)."
        ) % {"in_90": apps_90, "in_30": apps_30}
    return problems


TRUE, FALSE = {"true", "1", "yes", "t"}, {"false", "0", "no", "f"}


def _from_text(spec: SignalSpec, text: str) -> Any:
    """A CSV cell as the JSON value an integration would send for it."""
    text = text.strip()
    if text == "":
        return None
    if spec.kind == "bool":
        word = text.lower()
        return True if word in TRUE else False if word in FALSE else text
    if spec.kind == "int":
        return int(text) if re.fullmatch(r"-?[0-9]{1,9}", text) else text
    return text


def parse_value(spec: SignalSpec, raw: Any, *, text: bool = False) -> Any:
    """One signal's typed value, or ValueError with the reason: from JSON as an
    integration sends it, or from a CSV cell (`text`). The only signal parser."""
    if text:
        raw = _from_text(spec, str(raw))
    if raw is None:
        if spec.nullable:
            return None
        raise ValueError(gettext("may not be empty"))
    if spec.kind == "bool":
        if not isinstance(raw, bool):
            raise ValueError(gettext("must be true or false"))
        return raw
    if spec.kind == "int":
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise ValueError(gettext("must be a whole number"))
        value: Any = raw
    else:
        if isinstance(raw, bool) or not isinstance(raw, (int, str, float)):
            raise ValueError(gettext("must be a number"))
        try:
            value = Decimal(str(raw))
        except InvalidOperation:
            raise ValueError(gettext("must be a number")) from None
        if not value.is_finite():
            raise ValueError(gettext("must be a number"))
    problem = value_problem(spec, value)
    if problem:
        raise ValueError(problem)
    return value


def parse_signals(raw: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """(values, errors by signal name); an unknown name is an error too."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    if not raw:
        errors["signals"] = gettext("name at least one signal")
    for name, given in raw.items():
        spec = SIGNALS_BY_NAME.get(name)
        if spec is None:
            errors[name] = gettext("is not a signal Limit Desk knows")
            continue
        try:
            values[name] = parse_value(spec, given)
        except ValueError as error:
            errors[name] = str(error)
    return values, errors

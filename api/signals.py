"""Signal values as integrations send them, checked against their
ranges (accounts.signal_spec). Pure, no ORM."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext as _

from accounts.signal_spec import SIGNALS_BY_NAME, SignalSpec, value_problem


def _value(spec: SignalSpec, raw: Any) -> Any:
    """The typed value, or ValueError with the reason."""
    if raw is None:
        if spec.nullable:
            return None
        raise ValueError(_("may not be empty"))
    if spec.kind == "bool":
        if not isinstance(raw, bool):
            raise ValueError(_("must be true or false"))
        return raw
    if spec.kind == "int":
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise ValueError(_("must be a whole number"))
        value: Any = raw
    else:
        if isinstance(raw, bool) or not isinstance(raw, (int, str, float)):
            raise ValueError(_("must be a number"))
        try:
            value = Decimal(str(raw))
        except InvalidOperation:
            raise ValueError(_("must be a number")) from None
        if not value.is_finite():
            raise ValueError(_("must be a number"))
    problem = value_problem(spec, value)
    if problem:
        raise ValueError(problem)
    return value


def parse_signals(raw: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """(values, errors by signal name); an unknown name is an error too."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    if not raw:
        errors["signals"] = _("name at least one signal")
    for name, given in raw.items():
        spec = SIGNALS_BY_NAME.get(name)
        if spec is None:
            errors[name] = _("is not a signal Limit Desk knows")
            continue
        try:
            values[name] = _value(spec, given)
        except ValueError as error:
            errors[name] = str(error)
    return values, errors

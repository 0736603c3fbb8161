from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django import template
from django.utils.formats import number_format

register = template.Library()


@register.filter
def minutes(value: timedelta | None) -> int:
    """Whole minutes of a duration, rounded up."""
    if value is None:
        return 0
    return -(-int(value.total_seconds()) // 60)


@register.filter
def money(value: Decimal | int | None) -> str:
    """¥1,234.00 with grouping; money is Decimal end to end."""
    if value is None:
        return "—"
    amount = Decimal(value)
    sign = "−" if amount < 0 else ""
    return (
        sign + "¥" + number_format(abs(amount), decimal_pos=2, use_l10n=True, force_grouping=True)
    )


@register.filter
def cents_money(value: int | None) -> str:
    """An amount kept in integer cents (run and simulation counts), as money."""
    if value is None:
        return "—"
    return money(Decimal(value) / 100)


@register.filter
def seconds_until(start: datetime | None, end: datetime | None) -> str:
    """The time between two moments, as "12.3 s" (for run timings)."""
    if start is None or end is None:
        return "—"
    return f"{(end - start).total_seconds():.1f} s"


@register.filter
def index(sequence: list[Any], position: int) -> Any:
    """The item at `position` (for tables built from parallel lists)."""
    try:
        return sequence[position]
    except (IndexError, TypeError):
        return ""

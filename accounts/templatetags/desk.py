from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

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
    return "¥" + number_format(Decimal(value), decimal_pos=2, use_l10n=True, force_grouping=True)

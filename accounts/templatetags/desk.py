from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django import template
from django.urls import reverse
from django.utils.formats import number_format
from django.utils.translation import gettext

from accounts import selectors
from accounts.forms import REVEAL_PURPOSES
from accounts.signal_spec import SIGNALS_BY_NAME

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
def percent(value: Decimal | float | str) -> str:
    """A ratio as a percentage for people: 0.3500 → "35 %", 0.3333 → "33.3 %"."""
    share = (Decimal(str(value)) * 100).quantize(Decimal("0.1"))
    places = 0 if share == share.to_integral_value() else 1
    return number_format(share, decimal_pos=places, use_l10n=True, force_grouping=True) + " %"


@register.filter
def signal_value(value: Any, name: str) -> str:
    """A signal's value as the pages show it (docs/architecture.md, "Signals"): ratios as
    percentages, money as money, counts grouped, yes/no; "—" when there is none."""
    if value is None or value == "":
        return "—"
    spec = SIGNALS_BY_NAME.get(name)
    kind = spec.kind if spec is not None else None
    try:
        if kind == "bool":
            truthy = value if isinstance(value, bool) else str(value).lower() in {"true", "1"}
            return gettext("yes") if truthy else gettext("no")
        if kind == "ratio":
            return percent(value)
        if kind == "money":
            return money(Decimal(str(value)))
        if kind == "int":
            return number_format(int(value), use_l10n=True, force_grouping=True)
    except (ArithmeticError, TypeError, ValueError):
        pass
    return str(value)


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


# The URL name of each list page that keeps saved filters (docs/architecture.md, "Lists").
LIST_PAGE_URLS = {
    "accounts": "accounts:list",
    "appeals": "appeals:queue",
    "reveals": "decisions:audit",
}


@register.simple_tag(takes_context=True)
def saved_filters_of(context: template.Context, page: str) -> list[dict[str, Any]]:
    """The signed-in person's saved filters of a list page, each with its link."""
    request = context.get("request")
    user = getattr(request, "user", None)
    base = reverse(LIST_PAGE_URLS[page])
    return [
        {"filter": saved, "url": f"{base}?{saved.query}" if saved.query else base}
        for saved in selectors.saved_filters(user, page)
    ]


@register.filter
def reveal_purpose(purpose: str) -> str:
    """A reveal's purpose as stored, its common purpose (English words) translated."""
    for text in REVEAL_PURPOSES.values():
        if purpose == text or purpose.startswith(f"{text}: "):
            return gettext(text) + purpose[len(text) :]
    return purpose

"""Figures of the Monitoring page as people read them (docs/architecture.md, "The
Monitoring page and drift alerts")."""

from __future__ import annotations

from django import template
from django.utils.formats import number_format
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

register = template.Library()
NONE = "—"


@register.filter
def share(value: float | None) -> str:
    """A ratio as a percentage with one decimal: 0.1234 → "12.3 %"; "—" for none."""
    if value is None:
        return NONE
    return number_format(round(float(value) * 100, 1), decimal_pos=1, use_l10n=True) + " %"


@register.filter
def points(value: float | None) -> str:
    """A change in percentage points with its sign, "+1.2 pts" (a minus sign when it
    fell); "—" for none."""
    if value is None:
        return NONE
    rounded = round(float(value), 1)
    sign = "+" if rounded > 0 else "−" if rounded < 0 else "±"
    return _("%(sign)s%(value)s pts") % {
        "sign": sign,
        "value": number_format(abs(rounded), decimal_pos=1, use_l10n=True),
    }


@register.filter
def measure(value: float | None, places: int = 3) -> str:
    """An index or a ratio (PSI, KS, Gini, AIR) to `places` decimals; "—" for none."""
    if value is None:
        return NONE
    return number_format(round(float(value), places), decimal_pos=places, use_l10n=True)


@register.filter
def stability_badge(band: str) -> SafeString:
    """The reading of a PSI or CSI as a badge: stable, watch (amber) or act (red)."""
    labels = {"stable": (_("stable"), "badge"), "watch": (_("watch"), "badge warn")}
    label, css = labels.get(band, (_("act"), "badge bad"))
    return format_html('<span class="{}">{}</span>', css, label)

"""Reason codes as people read them on the pages (decisions/reason_labels.py)."""

from __future__ import annotations

from collections.abc import Iterable

from django import template

from decisions.reason_labels import reason_label

register = template.Library()


@register.filter(name="reason_label")
def reason_label_filter(code: str) -> str:
    return reason_label(code)


@register.filter
def reason_labels(codes: Iterable[str] | None) -> list[str]:
    """The short labels of a decision's reason codes, in order."""
    return [reason_label(code) for code in codes or ()]

"""Filters for an appeal's timeline: recorded step and state names as words."""

from __future__ import annotations

from django import template

from appeals import states

register = template.Library()


@register.filter
def event_label(move: str) -> str:
    """AppealEvent.move ("claim", "received", …) in the reader's language."""
    return states.event_label(move)


@register.filter
def state_label(state: str) -> str:
    """AppealEvent.from_state / to_state ("in_review", …) in the reader's language."""
    return states.state_label(state)

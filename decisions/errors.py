"""What the decisions services raise for a person to read."""

from __future__ import annotations


class DecisionError(Exception):
    """A limit change that cannot be made; the message says why, for the user."""


class StaleAccount(DecisionError):
    """Someone else changed the account since the caller read it."""

"""Masking of personal data for display, and what a phone search may ask. Pure functions."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass


def mask_name(name: str) -> str:
    """Keep the family name (first character): 张** / J*** ."""
    name = name.strip()
    if not name:
        return ""
    if " " in name:  # Latin-script names: keep the initial of each part
        return " ".join(part[0] + "*" * (len(part) - 1) for part in name.split())
    return name[0] + "*" * max(len(name) - 1, 1)


def mask_phone(phone: str) -> str:
    """138****5678: the carrier prefix and the last four digits stay."""
    digits = phone.strip()
    if len(digits) <= 7:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def mask_national_id(national_id: str) -> str:
    """1101**********123X: region prefix and last four characters stay."""
    value = national_id.strip()
    if len(value) <= 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


# What a search for a phone may ask without the permission to reveal personal data:
# no more digits than `mask_phone` shows (docs/architecture.md, "Personal data").
SHOWN_PREFIX, SHOWN_SUFFIX = 3, 4
FULL_PHONE_DIGITS = 11
_MASKED_QUERY = re.compile(r"^(\d*)\*+(\d+)$")


class PhoneQuery(enum.Enum):
    WITHIN_MASK = "within mask"  # the last four digits, or 138****5678
    FULL = "full number"  # a caller's whole number: matched exactly
    BEYOND_MASK = "beyond mask"  # any other part of a number


@dataclass(frozen=True)
class PhoneSearch:
    kind: PhoneQuery
    prefix: str  # leading digits to match ("" for none)
    suffix: str  # trailing digits to match; the whole number for FULL


def phone_search(query: str) -> PhoneSearch | None:
    """How a search text asks for phones; None when it is not a phone search
    (fewer than four digits, or not digits)."""
    text = query.strip().replace(" ", "")
    masked = _MASKED_QUERY.match(text)
    if masked:
        prefix, suffix = masked.groups()
        within = len(prefix) in (0, SHOWN_PREFIX) and len(suffix) == SHOWN_SUFFIX
        return PhoneSearch(
            PhoneQuery.WITHIN_MASK if within else PhoneQuery.BEYOND_MASK, prefix, suffix
        )
    if not text.isdigit() or len(text) < SHOWN_SUFFIX:
        return None
    if len(text) == SHOWN_SUFFIX:
        return PhoneSearch(PhoneQuery.WITHIN_MASK, "", text)
    if len(text) >= FULL_PHONE_DIGITS:
        return PhoneSearch(PhoneQuery.FULL, "", text)
    return PhoneSearch(PhoneQuery.BEYOND_MASK, "", text)

"""Short labels of reason codes, for lists and exports where the catalogue's sentence
(`ReasonCode.text`) is too long. Pure: no ORM. The code stays the key everywhere;
a code without a label here is shown as itself."""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

REASON_LABELS: dict[str, Promise] = {
    "SCORE_LOW": _("Low bureau score"),
    "OVERDUE_NOW": _("Overdue now"),
    "OVERDUE_HISTORY": _("Late repayments"),
    "SERIOUS_OVERDUE": _("Serious overdue"),
    "MULTI_LENDING": _("Multi-lending"),
    "HIGH_UTILIZATION": _("High utilization"),
    "LOW_ACTIVITY": _("Low activity"),
    "INSTABILITY": _("Changed details"),
    "LINKED_RISK": _("Linked accounts at risk"),
    "PUBLIC_RECORD": _("Public record"),
    "INELIGIBLE": _("Not eligible"),
    "CAPACITY": _("Capacity"),
    "VERIFIED_CAPACITY": _("Verified capacity"),
    "BAND_CEILING": _("Band ceiling"),
    "PORTFOLIO_OVERLAY": _("Portfolio overlay"),
    "GOOD_HISTORY": _("Good history"),
    "REOPENED": _("Reopened"),
    "COOLDOWN": _("Cool-down"),
    "FROZEN": _("Frozen"),
    "UNFROZEN": _("Unfrozen"),
    "MANUAL_OVERRIDE": _("Manual override"),
    "APPEAL_OUTCOME": _("Appeal outcome"),
    "INCIDENT_REVERT": _("Incident revert"),
}


def reason_label(code: str) -> str:
    """The short label of a reason code in the active language; the code itself when
    it has none."""
    label = REASON_LABELS.get(code)
    return str(label) if label is not None else code

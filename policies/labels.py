"""What each threshold of a policy version is called on the pages (the Policy page,
the draft form, a simulation's list of changed thresholds)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _lazy

RULE_LABELS: dict[str, Any] = {
    "close_dpd": _lazy("Close the line at days past due of at least"),
    "close_on_public_record": _lazy("Close on a bad public record"),
    "min_age": _lazy("Minimum age"),
    "overdue_reduce_pct": _lazy("Cut while overdue (%)"),
    "multi_lending_applications_30d": _lazy("Multi-lending: applications in 30 days of at least"),
    "multi_lending_reduce_pct": _lazy("Multi-lending cut (%)"),
    "utilization_threshold": _lazy("High utilisation: utilisation of at least"),
    "utilization_months": _lazy("High utilisation: for at least (months)"),
    "utilization_reduce_pct": _lazy("High-utilisation cut (%)"),
    "linked_risk_threshold": _lazy("Linked risk: share of bad linked accounts of at least"),
    "linked_risk_reduce_pct": _lazy("Linked-risk cut (%)"),
    "hysteresis_pct": _lazy("Hysteresis: no change smaller than (%)"),
    "raise_cap_pct": _lazy("A raise is at most (% per cycle)"),
    "raise_good_cycles": _lazy("Good cycles needed before a raise"),
    "reopen_limit": _lazy("Limit of a reopened line"),
    "cooldown_days": _lazy("Cool-down after a closure (days)"),
    "overlay_factor": _lazy("Portfolio overlay factor"),
    "overlay_rationale": _lazy("Overlay rationale"),
    "breaker_max_accounts_cut_pct": _lazy("Circuit breaker: accounts cut above (%)"),
    "breaker_max_exposure_cut_pct": _lazy("Circuit breaker: exposure removed above (%)"),
    "rounding": _lazy("Cuts are rounded down to a multiple of"),
    "reason_min_points": _lazy("A score factor is a reason from (points lost)"),
}

"""What each threshold of a policy version is called on the pages (the Policy page,
the draft form, a simulation's list of changed thresholds)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy

RULE_LABELS: dict[str, Any] = {
    "close_dpd": gettext_lazy("Close the line at days past due of at least"),
    "close_on_public_record": gettext_lazy("Close on a bad public record"),
    "min_age": gettext_lazy("Minimum age"),
    "overdue_reduce_pct": gettext_lazy("Cut while overdue (%)"),
    "multi_lending_applications_30d": gettext_lazy(
        "Multi-lending: applications in 30 days of at least"
    ),
    "multi_lending_reduce_pct": gettext_lazy("Multi-lending cut (%)"),
    "utilization_threshold": gettext_lazy("High utilisation: utilisation of at least"),
    "utilization_months": gettext_lazy("High utilisation: for at least (months)"),
    "utilization_reduce_pct": gettext_lazy("High-utilisation cut (%)"),
    "linked_risk_threshold": gettext_lazy("Linked risk: share of bad linked accounts of at least"),
    "linked_risk_reduce_pct": gettext_lazy("Linked-risk cut (%)"),
    "hysteresis_pct": gettext_lazy("Hysteresis: no change smaller than (%)"),
    "raise_cap_pct": gettext_lazy("A raise is at most (% per cycle)"),
    "raise_good_cycles": gettext_lazy("Good cycles needed before a raise"),
    "reopen_limit": gettext_lazy("Limit of a reopened line"),
    "cooldown_days": gettext_lazy("Cool-down after a closure (days)"),
    "overlay_factor": gettext_lazy("Portfolio overlay factor"),
    "overlay_rationale": gettext_lazy("Overlay rationale"),
    "breaker_max_accounts_cut_pct": gettext_lazy("Circuit breaker: accounts cut above (%)"),
    "breaker_max_exposure_cut_pct": gettext_lazy("Circuit breaker: exposure removed above (%)"),
    "rounding": gettext_lazy("Cuts are rounded down to a multiple of"),
    "decrease_protection_days": gettext_lazy(
        "After an appeal restores a limit, no score-based cut for (days)"
    ),
    "breaker_max_psi": gettext_lazy("Circuit breaker: score population shift (PSI) above"),
    "reason_min_points": gettext_lazy("A score factor is a reason from (points lost)"),
}

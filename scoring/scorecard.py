"""The scorecard: characteristics, bins and points, the reason codes, the signals it reads."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from typing import Any

SCORECARD_VERSION = "sc-1"
BASE_SCORE = 650
MIN_SCORE, MAX_SCORE = 350, 950
MAX_REASONS = 4

# Actions a scoring evaluation can propose.
KEEP, RAISE, REDUCE, CLOSE, REOPEN = "keep", "raise", "reduce", "close", "reopen"
ACTIONS = (KEEP, RAISE, REDUCE, CLOSE, REOPEN)

# Trigger reason codes, most severe first: the order principal reasons take.
INELIGIBLE = "INELIGIBLE"
SERIOUS_OVERDUE = "SERIOUS_OVERDUE"
PUBLIC_RECORD = "PUBLIC_RECORD"
COOLDOWN = "COOLDOWN"
OVERDUE_NOW = "OVERDUE_NOW"
MULTI_LENDING = "MULTI_LENDING"
HIGH_UTILIZATION = "HIGH_UTILIZATION"
LINKED_RISK = "LINKED_RISK"
PORTFOLIO_OVERLAY = "PORTFOLIO_OVERLAY"
BAND_CEILING = "BAND_CEILING"
GOOD_HISTORY = "GOOD_HISTORY"
REOPENED = "REOPENED"
CLOSE_TRIGGERS = (INELIGIBLE, SERIOUS_OVERDUE, PUBLIC_RECORD)
REDUCE_TRIGGERS = (OVERDUE_NOW, MULTI_LENDING, HIGH_UTILIZATION, LINKED_RISK)
TRIGGER_ORDER = (*CLOSE_TRIGGERS, COOLDOWN, *REDUCE_TRIGGERS, PORTFOLIO_OVERLAY, BAND_CEILING)


@dataclass(frozen=True)
class Characteristic:
    """One signal binned into points. Bin i holds values in [edges[i-1], edges[i])."""

    signal: str
    edges: tuple[float, ...]
    points: tuple[int, ...]
    reason: str
    # Capacity evidence (income, assets) adds points but its absence is not
    # an adverse reason to tell a customer.
    adverse: bool = True

    def __post_init__(self) -> None:
        if len(self.points) != len(self.edges) + 1:
            raise ValueError(f"{self.signal}: need one more points value than edges")
        if list(self.edges) != sorted(self.edges):
            raise ValueError(f"{self.signal}: edges must ascend")

    @property
    def best(self) -> int:
        return max(self.points)

    def points_for(self, value: float) -> int:
        return self.points[bisect_right(self.edges, value)]


def _score_bins() -> Characteristic:
    edges = tuple(float(edge) for edge in range(375, 950, 25))
    points = tuple(lower - BASE_SCORE for lower in (350, *range(375, 950, 25)))
    return Characteristic("credit_score", edges, points, "SCORE_LOW")


SCORECARD: tuple[Characteristic, ...] = (
    _score_bins(),
    Characteristic("days_past_due", (1, 8, 31, 61), (0, -40, -90, -160, -240), "OVERDUE_NOW"),
    Characteristic("overdue_count_12m", (1, 2, 4), (5, -10, -25, -45), "OVERDUE_HISTORY"),
    Characteristic("max_dpd_12m", (1, 31, 91), (0, -10, -30, -60), "OVERDUE_HISTORY"),
    Characteristic("on_time_ratio", (0.8, 0.95, 1.0), (-30, -10, 0, 10), "OVERDUE_HISTORY"),
    Characteristic(
        "lender_applications_30d", (2, 4, 8, 13), (0, -10, -30, -60, -90), "MULTI_LENDING"
    ),
    Characteristic("lender_applications_90d", (4, 10, 20), (0, -10, -20, -35), "MULTI_LENDING"),
    Characteristic("external_debt_to_income", (0.5, 1.0, 2.0), (0, -15, -35, -60), "MULTI_LENDING"),
    Characteristic("utilization", (0.3, 0.7, 0.9), (5, 0, -15, -30), "HIGH_UTILIZATION"),
    Characteristic("months_high_utilization", (1, 3, 6), (0, -10, -25, -40), "HIGH_UTILIZATION"),
    Characteristic("active_days_90d", (5, 20, 45), (-20, -5, 0, 10), "LOW_ACTIVITY"),
    Characteristic("tenure_months", (6, 24, 60), (-15, 0, 10, 20), "LOW_ACTIVITY"),
    Characteristic("consumption_amount_90d", (500, 5000), (-10, 0, 5), "LOW_ACTIVITY"),
    Characteristic("phone_changes_90d", (1, 3), (0, -10, -25), "INSTABILITY"),
    Characteristic("device_changes_90d", (2, 4), (0, -10, -25), "INSTABILITY"),
    Characteristic("address_changes_90d", (1, 3), (0, -5, -15), "INSTABILITY"),
    Characteristic("linked_bad_share", (0.1, 0.3), (0, -25, -60), "LINKED_RISK"),
    Characteristic("bad_public_records", (1,), (0, -200), "PUBLIC_RECORD"),
    Characteristic(
        "verified_monthly_income", (1, 10000, 30000), (0, 10, 20, 30), "CAPACITY", False
    ),
    Characteristic("provident_fund_verified", (0.5,), (0, 15), "CAPACITY", False),
    Characteristic("verified_assets", (1, 100000, 1000000), (0, 5, 15, 25), "CAPACITY", False),
)
SCORED_SIGNALS = tuple(c.signal for c in SCORECARD)
# Signals the rules read besides the scorecard.
RULE_SIGNALS = ("age", "real_name_verified", "bank_card_bound")
INPUT_SIGNALS = (*SCORED_SIGNALS, *RULE_SIGNALS)
# The signals an appeal's evidence can verify (docs/architecture.md, "Signals").
VERIFIABLE = ("verified_monthly_income", "provident_fund_verified", "verified_assets")


def as_number(value: Any) -> float:
    """The one conversion of a signal value used by both evaluation paths."""
    if value is None:
        return 0.0
    return float(value)

"""The scorecard and the limit policy. Pure Python and numpy: no ORM, no I/O.

Two ways to evaluate, one result: `evaluate()` for one account, and
`evaluate_chunk()` for whole arrays of accounts (the re-scoring runs). Both
work in integer cents and basis points so they agree to the cent; a property
test holds them to it.

How a limit moves (all thresholds come from the `PolicyRules` of the active
policy version, never from code):

1. Eligibility, serious overdue and public records close the line.
2. A closed line stays closed through its cool-down; afterwards it reopens at
   a small limit once the account has had enough good cycles.
3. The score band sets a ceiling (times the portfolio overlay factor); a limit
   above it comes down to it.
4. Hard triggers cut by a percentage: overdue now, many applications at other
   lenders, long high utilization, linked accounts in bad standing.
5. No change smaller than the hysteresis step.
6. Increases only after enough consecutive good cycles, at most +k% a cycle,
   never above the ceiling.
"""

from __future__ import annotations

from scoring.evaluation import (
    NEVER_RESTORED,
    Crossed,
    Outcome,
    crossed_thresholds,
    deciding_rule,
    evaluate,
    material_reasons,
    principal_reasons,
    reasons_of,
)
from scoring.rollout import (
    ROLLOUT_BUCKET_SQL,
    ROLLOUT_BUCKETS,
    rollout_bucket,
    rollout_cutoff,
    score_with_rollout,
)
from scoring.rules import (
    DEFAULT_POLICY,
    READ_AS_DEFAULT,
    BandRule,
    CompiledRules,
    PolicyError,
    PolicyRules,
    basis_points,
    cents,
    compile_rules,
    parse_policy,
    ratio_basis_points,
)
from scoring.scorecard import (
    ACTIONS,
    BAND_CEILING,
    BASE_SCORE,
    CLOSE,
    CLOSE_TRIGGERS,
    COOLDOWN,
    GOOD_HISTORY,
    HIGH_UTILIZATION,
    INELIGIBLE,
    INPUT_SIGNALS,
    KEEP,
    LINKED_RISK,
    MAX_REASONS,
    MAX_SCORE,
    MIN_SCORE,
    MULTI_LENDING,
    OVERDUE_NOW,
    PORTFOLIO_OVERLAY,
    PUBLIC_RECORD,
    RAISE,
    REDUCE,
    REDUCE_TRIGGERS,
    REOPEN,
    REOPENED,
    RULE_SIGNALS,
    SCORECARD,
    SCORECARD_VERSION,
    SCORED_SIGNALS,
    SERIOUS_OVERDUE,
    TRIGGER_ORDER,
    VERIFIABLE,
    Characteristic,
    as_number,
)
from scoring.vectorised import (
    ACTION_CODES,
    STATUS_CODES,
    STATUS_NAMES,
    TRIGGER_BITS,
    ChunkInput,
    ChunkResult,
    IntArray,
    evaluate_chunk,
    score_chunk,
)

__all__ = [
    "ACTIONS",
    "ACTION_CODES",
    "BAND_CEILING",
    "BASE_SCORE",
    "CLOSE",
    "CLOSE_TRIGGERS",
    "COOLDOWN",
    "DEFAULT_POLICY",
    "GOOD_HISTORY",
    "HIGH_UTILIZATION",
    "INELIGIBLE",
    "INPUT_SIGNALS",
    "KEEP",
    "LINKED_RISK",
    "MAX_REASONS",
    "MAX_SCORE",
    "MIN_SCORE",
    "MULTI_LENDING",
    "NEVER_RESTORED",
    "OVERDUE_NOW",
    "PORTFOLIO_OVERLAY",
    "PUBLIC_RECORD",
    "RAISE",
    "READ_AS_DEFAULT",
    "REDUCE",
    "REDUCE_TRIGGERS",
    "REOPEN",
    "REOPENED",
    "ROLLOUT_BUCKETS",
    "ROLLOUT_BUCKET_SQL",
    "RULE_SIGNALS",
    "SCORECARD",
    "SCORECARD_VERSION",
    "SCORED_SIGNALS",
    "SERIOUS_OVERDUE",
    "STATUS_CODES",
    "STATUS_NAMES",
    "TRIGGER_BITS",
    "TRIGGER_ORDER",
    "VERIFIABLE",
    "BandRule",
    "Characteristic",
    "ChunkInput",
    "ChunkResult",
    "CompiledRules",
    "Crossed",
    "IntArray",
    "Outcome",
    "PolicyError",
    "PolicyRules",
    "as_number",
    "basis_points",
    "cents",
    "compile_rules",
    "crossed_thresholds",
    "deciding_rule",
    "evaluate",
    "evaluate_chunk",
    "material_reasons",
    "parse_policy",
    "principal_reasons",
    "ratio_basis_points",
    "reasons_of",
    "rollout_bucket",
    "rollout_cutoff",
    "score_chunk",
    "score_with_rollout",
]

"""The audit chain's links written in a period, checked. Pure: no ORM, no I/O
(docs/architecture.md, "Evidence pack").

`decisions.chain.verify_chain` walks an account's whole chain from its first
decision; a pack checks the part written in its period: each decision follows the
one before it in sequence, points at its hash (the decision before the period for
the first one), and still hashes as it did (`decisions.chain.decision_hash`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from decisions.chain import decision_hash


@dataclass(frozen=True)
class SegmentBreak:
    account_id: int
    sequence: int
    decision_id: int
    problem: str


def verify_segment(
    account_id: int, before: str | None, rows: Sequence[Mapping[str, Any]]
) -> SegmentBreak | None:
    """The first broken link of one account's decisions of the period (in sequence
    order); `before` is the hash of the decision just before the first ("" when the
    first is the account's first decision, None when that decision is missing)."""
    if not rows:
        return None
    first = rows[0]
    if before is None:
        return SegmentBreak(
            account_id,
            first["sequence"],
            first["id"],
            f"decision #{first['sequence'] - 1}, the one before it, is missing",
        )
    prev_hash, expected = before, first["sequence"]
    for row in rows:
        if row["sequence"] != expected:
            return SegmentBreak(
                account_id,
                row["sequence"],
                row["id"],
                f"sequence {row['sequence']} follows {expected - 1}: a decision is missing",
            )
        if row["prev_hash"] != prev_hash:
            return SegmentBreak(
                account_id,
                row["sequence"],
                row["id"],
                "it does not point at the previous decision's hash",
            )
        if decision_hash(prev_hash, row) != row["hash"]:
            return SegmentBreak(
                account_id,
                row["sequence"],
                row["id"],
                "its content no longer matches its hash: the row was changed",
            )
        prev_hash, expected = row["hash"], expected + 1
    return None

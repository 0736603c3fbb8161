"""The hash chain of limit decisions. Pure: no ORM, no I/O.

Each decision's hash covers its own content and the previous decision's hash
of the same account, so editing or deleting any row breaks every later link.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

# The fields a hash covers, in the order they are named (order does not
# matter to the hash: the JSON is written with sorted keys).
HASHED_FIELDS = (
    "account_id",
    "sequence",
    "action",
    "source",
    "old_limit",
    "new_limit",
    "old_status",
    "new_status",
    "score_before",
    "score_after",
    "band_before",
    "band_after",
    "contributions",
    "triggers",
    "reasons",
    "inputs",
    "policy_version",
    "scorecard_version",
    "run_id",
    "actor_id",
    "justification",
    "approver_id",
    "reverts_id",
    "idempotency_key",
    "created_at",
)


def _canonical(value: Any) -> str:
    """The JSON text of a value that json cannot write by itself."""
    if isinstance(value, Decimal):
        return f"{value:.2f}" if value == value.quantize(Decimal("0.01")) else str(value)
    if isinstance(value, datetime):
        return value.isoformat(timespec="microseconds")
    raise TypeError(f"cannot hash a {type(value).__name__}")


def to_json(value: Any) -> str:
    """Canonical JSON: the one encoding for stored JSON columns and for hashes,
    so a value read back from the database hashes the same."""
    return json.dumps(
        value, default=_canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )


def decision_hash(prev_hash: str, fields: Mapping[str, Any]) -> str:
    text = to_json({name: fields.get(name) for name in HASHED_FIELDS})
    return hashlib.sha256(f"{prev_hash}\n{text}".encode()).hexdigest()


@dataclass(frozen=True)
class BrokenLink:
    account_id: int
    sequence: int
    decision_id: int
    problem: str


def verify_chain(account_id: int, rows: Iterable[Mapping[str, Any]]) -> BrokenLink | None:
    """Walk one account's decisions in sequence order; the first broken link, if any."""
    prev_hash = ""
    expected_sequence = 1
    for row in rows:
        if row["sequence"] != expected_sequence:
            return BrokenLink(
                account_id,
                row["sequence"],
                row["id"],
                f"sequence {row['sequence']} follows {expected_sequence - 1}: "
                "a decision is missing",
            )
        if row["prev_hash"] != prev_hash:
            return BrokenLink(
                account_id,
                row["sequence"],
                row["id"],
                "it does not point at the previous decision's hash",
            )
        if decision_hash(prev_hash, row) != row["hash"]:
            return BrokenLink(
                account_id,
                row["sequence"],
                row["id"],
                "its content no longer matches its hash: the row was changed",
            )
        prev_hash = row["hash"]
        expected_sequence += 1
    return None

"""The body of a customer notice as delivered: canonical JSON bytes. Pure, no ORM
(docs/architecture.md, "Notices: the outbox and the receiver").

The same notice always gives the same bytes (sorted keys, no whitespace, UTF-8, amounts
as strings), so the SHA-256 recorded on delivery is the hash of exactly what the
messaging service received, and can be recomputed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

# A decision's action as the notice names it.
ACTIONS = {"reduce": "decrease", "close": "closure"}


@dataclass(frozen=True)
class NoticeReason:
    code: str
    text: str  # the customer's text, in the notice's language
    facts: tuple[str, ...] = ()  # the account's own figures behind it
    suggestion: str = ""


def timestamp(moment: datetime) -> str:
    """UTC, to the microsecond, with a `Z`: one spelling per instant."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def amount(value: Decimal) -> str:
    return str(Decimal(value).quantize(Decimal("0.01")))


def notice_body(
    *,
    account: str,
    decision_id: int,
    action: str,
    old_limit: Decimal,
    new_limit: Decimal,
    reasons: Sequence[NoticeReason],
    decided_at: datetime,
    due_by: datetime,
    idempotency_key: str,
    language: str,
    kind: str,
) -> bytes:
    document: dict[str, Any] = {
        "account": account,
        "decision": decision_id,
        "action": ACTIONS.get(action, action),
        "old_limit": amount(old_limit),
        "new_limit": amount(new_limit),
        "reasons": [
            {
                "code": reason.code,
                "text": reason.text,
                "facts": list(reason.facts),
                "suggestion": reason.suggestion,
            }
            for reason in reasons
        ],
        "decided_at": timestamp(decided_at),
        "due_by": timestamp(due_by),
        "idempotency_key": idempotency_key,
        "language": language,
        "classification": kind,
    }
    return canonical(document)


def canonical(document: Any) -> bytes:
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()

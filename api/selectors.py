"""Reads of the integration API."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db.models import Count, F, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone, translation

from accounts.models import Account
from api.models import KEY_PREFIX, ApiCall, ApiKey, key_hash
from decisions.explanations import reason_catalogue, reason_rows, restoration_text
from decisions.models import LimitDecision

# A decision is in the feed once its transaction has surely committed: ids are
# taken at insert, so a long transaction could commit a lower id after a
# consumer has read past it. Run chunks commit within seconds.
FEED_SETTLE = timedelta(seconds=10)


def api_key_for(token: str) -> ApiKey | None:
    """The live key this token is, or None."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX:
        return None
    key = ApiKey.objects.filter(prefix=parts[1], revoked_at__isnull=True).first()
    if key is None or not hmac.compare_digest(key.key_hash, key_hash(token)):
        return None
    return key


@dataclass(frozen=True)
class Explanation:
    account: Account
    decision: LimitDecision | None
    reasons: list[dict[str, Any]]
    restoration: str  # what would have kept or restored the limit; "" when nothing applies


def customer_explanation(reference: str, *, language: str) -> Explanation | None:
    """The latest decision's reasons in the customer's words, with the account's own
    figures behind each (docs/architecture.md, "Reasons"), or None for no account."""
    account = Account.objects.filter(reference=reference).first()
    if account is None:
        return None
    decision = account.decisions.select_related("policy").order_by("-sequence").first()
    if decision is None:
        return Explanation(account, None, [], "")
    with translation.override(language):
        rows = reason_rows(decision, reason_catalogue(decision.reasons), language)
        restoration = restoration_text(decision)
    reasons = [
        {
            "code": row.code,
            "text": row.customer,
            "suggestion": row.suggestion,
            "facts": list(row.facts),
        }
        for row in rows
        if row.customer
    ]
    return Explanation(account, decision, reasons, restoration)


def decision_feed(*, after: int, limit: int) -> list[dict[str, Any]]:
    """Decisions with an id above `after`, oldest first, settled ones only."""
    rows = (
        LimitDecision.objects.filter(pk__gt=after, created_at__lt=timezone.now() - FEED_SETTLE)
        .order_by("pk")
        .values(
            "pk",
            "account__reference",
            "sequence",
            "action",
            "source",
            "old_limit",
            "new_limit",
            "old_status",
            "new_status",
            "reasons",
            "policy_version",
            "created_at",
        )[:limit]
    )
    return [dict(row) for row in rows]


@dataclass(frozen=True)
class KeyRow:
    key: ApiKey
    calls_24h: int
    errors_24h: int  # answered 4xx or 5xx
    last_call: Any  # datetime | None


def api_keys_overview() -> list[KeyRow]:
    """Every key, live ones first, with its use over the last 24 hours. Each figure
    is a subquery on the (key, -at) index, not a join over the whole call log."""
    since = timezone.now() - timedelta(hours=24)

    def calls(**more: Any) -> Any:
        counted = (
            ApiCall.objects.filter(key=OuterRef("pk"), at__gte=since, **more)
            .order_by()
            .values("key")
            .annotate(n=Count("*"))
            .values("n")
        )
        return Coalesce(Subquery(counted), 0)

    keys = (
        ApiKey.objects.select_related("created_by", "revoked_by")
        .annotate(
            calls_24h=calls(),
            errors_24h=calls(status__gte=400),
            last_call=Subquery(
                ApiCall.objects.filter(key=OuterRef("pk")).order_by("-at").values("at")[:1]
            ),
        )
        .order_by(F("revoked_at").desc(nulls_first=True), "name", "-created_at")
    )
    return [KeyRow(k, k.calls_24h, k.errors_24h, k.last_call) for k in keys]


def api_calls_recent(*, limit: int = 50) -> list[ApiCall]:
    """The latest calls, with the key's name as logged (blank when no key was valid)."""
    return list(ApiCall.objects.order_by("-at", "-id")[:limit])

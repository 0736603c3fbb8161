"""Notices made by hand for the tests: a real decision through the decision writer, then
its notice set to what the test needs (whether or not the decision writer made one)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import Account
from decisions import services
from decisions.models import LimitDecision, Notice
from tests.base import make_account, make_signals


def cut(
    account: Account | None = None,
    *,
    new_limit: str = "3000.00",
    reasons: tuple[str, ...] = ("MANUAL_OVERRIDE",),
    at: datetime | None = None,
    action: str = "reduce",
) -> LimitDecision:
    """A decrease (or closure) of the account's limit, written by the decision writer."""
    if account is None:
        account = make_account(current_limit=Decimal("8000.00"))
        make_signals(account)
    account.refresh_from_db()
    change = services.Change(
        account_id=account.pk,
        action=action,
        source="override",
        new_limit=Decimal(new_limit),
        new_status="closed" if action == "close" else "active",
        reasons=reasons,
        idempotency_key=f"test-{uuid.uuid4().hex}",
        expected_version=account.version,
        justification="Cut after the bureau check.",
    )
    with transaction.atomic():  # the writer works in its caller's transaction
        result = services.decisions_write(
            [change], cooldown_days=30, **({"at": at} if at is not None else {})
        )
    assert result.written == 1
    return LimitDecision.objects.get(idempotency_key=change.idempotency_key)


def notice_for(decision: LimitDecision, **fields: Any) -> Notice:
    """The decision's notice with `fields` (pending, due in 30 days, by default)."""
    values: dict[str, Any] = {
        "account": decision.account,
        "kind": Notice.Kind.INDIVIDUAL,
        "language": decision.account.language,
        "reasons": list(decision.reasons),
        "created_at": decision.created_at,
        "due_by": decision.created_at + timedelta(days=30),
        "state": Notice.State.PENDING,
        "attempts": 0,
        "next_attempt_at": None,
        "last_error": "",
        "idempotency_key": f"notice-{uuid.uuid4().hex}",
        "content_sha256": "",
        "delivered_at": None,
    }
    values.update(fields)
    notice, _created = Notice.objects.update_or_create(decision=decision, defaults=values)
    return notice


def pending_notice(**fields: Any) -> Notice:
    """A fresh account cut, with its notice pending."""
    account_fields = {key: fields.pop(key) for key in ("reference", "language") if key in fields}
    account = make_account(current_limit=Decimal("8000.00"), **account_fields)
    make_signals(account)
    return notice_for(cut(account), **fields)


def now() -> datetime:
    return timezone.now()

"""A small book with a month of history, for the evidence pack's tests: decisions before,
in and after March 2025, their notices, an appeal, a kill-switch event."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction

from accounts import roles
from accounts.models import Account
from appeals.models import Appeal
from compliance import services
from compliance.models import EvidencePack
from compliance.pack import Period
from decisions import services as decision_services
from decisions.models import LimitDecision, Notice
from policies.models import PolicyEvent
from tests.base import make_account, make_signals, make_user

MARCH = Period(date(2025, 3, 1), date(2025, 3, 31))


def at(day: int, month: int = 3, hour: int = 10) -> datetime:
    return datetime(2025, month, day, hour, 0, tzinfo=UTC)


def decide(
    account: Account,
    when: datetime,
    *,
    action: str = "reduce",
    new_limit: str = "3000.00",
    reasons: tuple[str, ...] = ("MULTI_LENDING", "SCORE_LOW"),
    justification: str = "Cut after the bureau check.",
) -> LimitDecision:
    account.refresh_from_db()
    change = decision_services.Change(
        account_id=account.pk,
        action=action,
        source="override",
        new_limit=Decimal(new_limit),
        new_status="closed" if action == "close" else "active",
        reasons=reasons,
        idempotency_key=f"pack-test-{uuid.uuid4().hex}",
        expected_version=account.version,
        justification=justification,
    )
    with transaction.atomic():  # the writer works in its caller's transaction
        result = decision_services.decisions_write([change], cooldown_days=30, at=when)
    assert result.written == 1
    return LimitDecision.objects.get(idempotency_key=change.idempotency_key)


def notice(decision: LimitDecision, **fields: Any) -> Notice:
    """The decision's notice, dated with it, with `fields`."""
    values: dict[str, Any] = {
        "account": decision.account,
        "kind": Notice.Kind.INDIVIDUAL,
        "language": "zh-hans",
        "reasons": list(decision.reasons),
        "created_at": decision.created_at,
        "due_by": decision.created_at + timedelta(days=30),
        "state": Notice.State.PENDING,
        "idempotency_key": f"notice-{decision.pk}",
        "delivered_at": None,
        **fields,
    }
    found, _created = Notice.objects.update_or_create(decision=decision, defaults=values)
    return found


@dataclass
class Book:
    first: Account
    second: Account
    third: Account
    pending_notice: Notice
    frank: Any


def march_book(auditor: str = "frank-pack") -> Book:
    frank = make_user(auditor, roles.AUDITOR)
    dave = make_user("dave-pack", roles.POLICY_ADMIN)
    first, second, third = (make_account(current_limit=Decimal("8000.00")) for _ in range(3))
    for account in (first, second, third):
        make_signals(account)
    cut = decide(first, at(5))
    notice(cut, state=Notice.State.DELIVERED, delivered_at=at(6), attempts=1)
    decide(first, at(2, month=4), action="raise", new_limit="4000.00", reasons=("GOOD_HISTORY",))
    closed = decide(second, at(10), action="close", new_limit="0.00", reasons=("SERIOUS_OVERDUE",))
    notice(closed, state=Notice.State.DEAD, attempts=5, last_error="HTTP 500")
    decide(third, at(20, month=2))  # before the period: its link is checked from March
    later = decide(third, at(15), new_limit="2000.00", reasons=("HIGH_UTILIZATION",))
    pending = notice(later, due_by=at(25))  # pending, due before the period ended
    Appeal.objects.create(
        account=first,
        decision=cut,
        channel="hotline",
        category="misjudged",
        statement="I only compared rates.",
        sla_due=at(9),
        state="decided",
        outcome="upheld",
        decided_at=at(8),
        created_at=at(6),
    )
    PolicyEvent.objects.create(
        action=PolicyEvent.Action.PAUSED,
        actor=dave,
        comment='=HYPERLINK("http://x") macro tightening',
        at=at(12),
    )
    return Book(first, second, third, pending, frank)


def built(period: Period, user: Any) -> EvidencePack:
    """A pack of the period built here, as the worker builds it."""
    queued = EvidencePack.objects.create(
        period_from=period.first, period_to=period.last, started_by=user, steps_total=9
    )
    assert services.pack_build(pack_id=queued.pk)
    queued.refresh_from_db()
    assert queued.state == EvidencePack.State.DONE, queued.error
    return queued

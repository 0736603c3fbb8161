"""What must hold after any fault, checked straight off the tables (apart from the
code that writes them)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db import connection
from django.db.models import Count, Max

from accounts.models import Account
from decisions import services
from decisions.audit_trail import audit_chain_report, audit_checkpoint_check
from decisions.models import LimitDecision, RescoreRun

# A run in any other state is moving: after a fault has settled none may be left so.
# Waiting (a person approves or discards it) and failed (a person retries or reverts
# it) have their way out on the run's page (docs/architecture.md, "Runs").
SETTLED = {"done", "failed", "discarded", "reverted", "waiting"}


@dataclass(frozen=True)
class Book:
    """Every account's limit and status, and the last decision, before the fault."""

    accounts: dict[int, tuple[Decimal, str]]
    last_decision: int


def book() -> Book:
    """The accounts as they are, and a signed checkpoint of the chain (checked after)."""
    services.audit_checkpoint_write()
    return Book(
        accounts={
            pk: (limit, status)
            for pk, limit, status in Account.objects.values_list("pk", "current_limit", "status")
        },
        last_decision=LimitDecision.objects.aggregate(last=Max("pk"))["last"] or 0,
    )


def check(before: Book) -> None:
    """Decisions = accounts changed, no duplicate, the chain intact and matching the
    checkpoint taken before the fault, no run stuck."""
    connection.close()  # a connection of this process may have died in the fault
    now = dict(before.accounts)
    rows = Account.objects.values_list("pk", "current_limit", "status")
    now.update({pk: (limit, status) for pk, limit, status in rows})
    written = LimitDecision.objects.filter(pk__gt=before.last_decision).order_by("pk")
    last = {}
    for account, limit, status in written.values_list("account_id", "new_limit", "new_status"):
        last[account] = (limit, status)
    changed = {pk for pk, state in before.accounts.items() if now[pk] != state}
    assert changed <= set(last), f"{len(changed - set(last))} accounts changed without a decision"
    wrong = [pk for pk, state in last.items() if now[pk] != state]
    assert not wrong, f"{len(wrong)} accounts differ from their latest decision: {wrong[:5]}"

    twice = (
        LimitDecision.objects.filter(pk__gt=before.last_decision, run__isnull=False)
        .values("run", "account")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
    )
    assert not twice.exists(), f"accounts decided twice by one run: {list(twice[:5])}"
    for run in RescoreRun.objects.all():
        stored = LimitDecision.objects.filter(run=run, source="run").count()
        assert stored == run.decisions_written, (
            f"run {run.pk} says {run.decisions_written} decisions, the table has {stored}"
        )
    stuck = RescoreRun.objects.exclude(state__in=SETTLED).values_list("pk", "state")
    assert not stuck.exists(), f"runs left moving: {list(stuck)}"

    report = audit_chain_report()
    assert report.broken == [], f"the audit chain is broken: {report.broken[:3]}"
    anchored = audit_checkpoint_check()
    assert anchored.checkpoint is not None and not anchored.broken, (
        f"the chain does not match the checkpoint before the fault: {anchored.problem} "
        f"{anchored.mismatches[:3]}"
    )

"""Reads of the decisions app for pages."""

from __future__ import annotations

from dataclasses import astuple, dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.utils import timezone

from accounts.models import Account
from accounts.signal_spec import SIGNALS_BY_NAME
from decisions import chain, policy
from decisions.models import (
    LimitDecision,
    OverrideRequest,
    ReasonCode,
    RescoreRun,
    WorkerHeartbeat,
)


@dataclass(frozen=True)
class WorkerStatus:
    last: WorkerHeartbeat | None
    healthy: bool


def worker_status() -> WorkerStatus:
    """The latest heartbeat; healthy when it is newer than two beat intervals."""
    last = WorkerHeartbeat.objects.order_by("-recorded_at").first()
    healthy = (
        last is not None and last.recorded_at >= timezone.now() - 2 * settings.HEARTBEAT_INTERVAL
    )
    return WorkerStatus(last=last, healthy=healthy)


@dataclass(frozen=True)
class NamedBrokenLink:
    reference: str
    account_id: int
    sequence: int
    decision_id: int
    problem: str


@dataclass(frozen=True)
class ChainReport:
    accounts: int
    decisions: int
    broken: list[NamedBrokenLink]


def audit_chain_report(*, account_reference: str | None = None) -> ChainReport:
    """Recompute every decision's hash, account by account, streaming the table.

    Also checks that each account's chain head is its last decision's hash, so
    a deleted latest decision is caught too.
    """
    decisions = LimitDecision.objects.order_by("account_id", "sequence")
    accounts = Account.objects.exclude(chain_head="")
    if account_reference:
        decisions = decisions.filter(account__reference=account_reference)
        accounts = Account.objects.filter(reference=account_reference)
    heads = dict(accounts.values_list("pk", "chain_head"))
    references = dict(accounts.values_list("pk", "reference"))
    fields = ["id", "prev_hash", "hash", *chain.HASHED_FIELDS]
    broken: list[NamedBrokenLink] = []
    count = 0
    seen: set[int] = set()

    def check(account_id: int, rows: list[dict[str, Any]]) -> None:
        seen.add(account_id)
        link = chain.verify_chain(account_id, rows)
        if link is None and rows and heads.get(account_id) != rows[-1]["hash"]:
            link = chain.BrokenLink(
                account_id, rows[-1]["sequence"] + 1, 0,
                "the account's latest decision is missing",
            )  # fmt: skip
        if link is not None:
            reference = references.get(account_id) or str(account_id)
            broken.append(NamedBrokenLink(reference, *astuple(link)))

    current: int | None = None
    rows: list[dict[str, Any]] = []
    for row in decisions.values(*fields).iterator(chunk_size=5000):
        count += 1
        if row["account_id"] != current:
            if current is not None:
                check(current, rows)
            current, rows = row["account_id"], []
        rows.append(row)
    if current is not None:
        check(current, rows)
    for account_id in heads.keys() - seen:
        broken.append(NamedBrokenLink(
            references[account_id], account_id, 1, 0,
            "the account has a chain head but its decisions are gone",
        ))  # fmt: skip
    return ChainReport(accounts=len(seen | heads.keys()), decisions=count, broken=broken)


def recent_runs(limit: int = 50) -> list[RescoreRun]:
    return list(
        RescoreRun.objects.select_related("policy", "started_by", "account").order_by(
            "-created_at"
        )[:limit]
    )


@dataclass(frozen=True)
class ContributionRow:
    signal: str
    label: Any
    points: int
    lost: int  # points below the signal's best bin


@dataclass(frozen=True)
class ReasonRow:
    code: str
    staff: str
    customer: str
    suggestion: str


@dataclass(frozen=True)
class InputRow:
    label: Any
    then: Any
    now: Any
    changed: bool


@dataclass(frozen=True)
class Explanation:
    decision: LimitDecision
    reasons: list[ReasonRow]
    contributions: list[ContributionRow]
    inputs: list[InputRow]


def decision_explanation(
    decision: LimitDecision,
    *,
    language: str,
    current_signals: dict[str, Any] | None,
    catalogue: dict[str, ReasonCode] | None = None,
) -> Explanation:
    """Why a decision moved the limit: reasons in words, points per signal, inputs then vs now.

    Pass `catalogue` (ReasonCode by code) to explain one decision in several languages
    with one query."""
    if catalogue is None:
        catalogue = reason_catalogue(decision.reasons)
    reasons = [
        ReasonRow(
            code=code,
            staff=catalogue[code].text("staff", language) if code in catalogue else code,
            customer=catalogue[code].text("customer", language) if code in catalogue else "",
            suggestion=catalogue[code].text("suggestion", language) if code in catalogue else "",
        )
        for code in decision.reasons
    ]
    best = {c.signal: c.best for c in policy.SCORECARD}
    contributions = sorted(
        (
            ContributionRow(
                signal=name,
                label=SIGNALS_BY_NAME[name].label if name in SIGNALS_BY_NAME else name,
                points=points,
                lost=best.get(name, points) - points,
            )
            for name, points in decision.contributions.items()
        ),
        key=lambda row: (-row.lost, row.signal),
    )
    inputs = []
    for name, then in decision.inputs.items():
        now = (current_signals or {}).get(name)
        now_text = "" if now is None else str(now)
        inputs.append(
            InputRow(
                label=SIGNALS_BY_NAME[name].label if name in SIGNALS_BY_NAME else name,
                then=then,
                now=now_text,
                changed=current_signals is not None and _differs(then, now),
            )
        )
    return Explanation(decision, reasons, contributions, inputs)


def _differs(then: Any, now: Any) -> bool:
    try:
        return float(then if then is not None else 0) != float(now if now is not None else 0)
    except (TypeError, ValueError):
        return str(then) != str(now)


def account_timeline(account_id: int, *, limit: int = 20) -> list[LimitDecision]:
    return list(
        LimitDecision.objects.filter(account_id=account_id)
        .select_related("actor", "approver", "run")
        .order_by("-sequence")[:limit]
    )


def pending_overrides(account_id: int) -> list[OverrideRequest]:
    return list(
        OverrideRequest.objects.filter(account_id=account_id, state=OverrideRequest.State.PENDING)
        .select_related("requested_by")
        .order_by("created_at")
    )


def override_approvers() -> list[str]:
    """Who may approve an override (by role), for the "pending approval" note."""
    return list(
        User.objects.filter(is_active=True, groups__permissions__codename="approve_override")
        .distinct()
        .order_by("username")
        .values_list("username", flat=True)
    )


def decision_with_links(decision_id: int) -> LimitDecision | None:
    return (
        LimitDecision.objects.select_related(
            "account__signals", "actor", "approver", "run", "reverts"
        )
        .filter(pk=decision_id)
        .first()
    )


def decision_neighbour(decision: LimitDecision, *, before: bool) -> LimitDecision | None:
    """The previous (or next) link in the account's chain."""
    sequence = decision.sequence - 1 if before else decision.sequence + 1
    return LimitDecision.objects.filter(account_id=decision.account_id, sequence=sequence).first()


def reason_catalogue(codes: list[str]) -> dict[str, ReasonCode]:
    return ReasonCode.objects.in_bulk(list(codes))

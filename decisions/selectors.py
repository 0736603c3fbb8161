"""Reads of the decisions app for pages."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any

import numpy as np
from django.conf import settings
from django.db.models import Count, Min, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

import scoring
from accounts.models import Account
from accounts.selectors import portfolio_figures, users_with_permission
from decisions import notices
from decisions.chunk_data import chunk_arrays
from decisions.errors import DecisionError
from decisions.explanations import reason_catalogue
from decisions.models import (
    DecisionTally,
    LimitDecision,
    Notice,
    OverrideRequest,
    RescoreRequest,
    RescoreRun,
    WorkerHeartbeat,
)
from policies import selectors as policy_selectors
from policies.models import Policy


def require_active_policy() -> Policy:
    """The active version (policies.selectors.active_policy); none is a DecisionError."""
    found = policy_selectors.active_policy()
    if found is None:
        raise DecisionError(_("No policy version is active."))
    return found


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
class RunWorker:
    name: str  # Celery's node name: worker@host
    scored: int  # chunks
    written: int  # chunks


def run_workers(run: RescoreRun) -> list[RunWorker]:
    """Which workers scored and wrote the run's chunks, the busiest first."""
    scored: Counter[str] = Counter()
    written: Counter[str] = Counter()
    pairs = run.chunks.values_list("computed_by", "applied_by").annotate(n=Count("pk")).order_by()
    for computed_by, applied_by, n in pairs:
        scored[computed_by] += n
        written[applied_by] += n
    names = sorted((scored.keys() | written.keys()) - {""}, key=lambda n: (-scored[n], n))
    return [RunWorker(name, scored.get(name, 0), written.get(name, 0)) for name in names]


def run_detail(run_id: int) -> RescoreRun | None:
    return (
        RescoreRun.objects.select_related(
            "policy", "candidate", "started_by", "account", "decided_by"
        )
        .filter(pk=run_id)
        .first()
    )


@dataclass(frozen=True)
class PreviewAction:
    action: str
    label: Any
    accounts: int
    amount: Decimal  # limit added (positive) or removed (negative)


@dataclass(frozen=True)
class PreviewCut:
    reference: str
    action: Any  # its label
    old_limit: Decimal
    new_limit: Decimal


@dataclass(frozen=True)
class RunPreview:
    actions: list[PreviewAction]
    largest_cuts: list[PreviewCut]


def run_preview(run: RescoreRun, *, top: int = 10) -> RunPreview:
    """What a computed run would do: accounts and amounts per action, and the
    largest cuts; read from the chunks' stored results, nothing applied."""
    codes = scoring.ACTION_CODES
    counts = np.zeros(len(codes), dtype=np.int64)
    amounts = np.zeros(len(codes), dtype=np.int64)
    candidates: list[np.ndarray] = []  # rows of (cut, id, old, new, action), cents
    blobs = run.chunks.filter(state="computed").order_by("index").values_list("result", flat=True)
    for blob in blobs.iterator(chunk_size=4):
        if blob is None:
            continue
        arrays = chunk_arrays(bytes(blob))
        action = arrays["action"].astype(np.int64)
        old, new = arrays["old_limit"].astype(np.int64), arrays["new_limit"].astype(np.int64)
        counts += np.bincount(action, minlength=len(codes))
        amounts += np.bincount(action, weights=new - old, minlength=len(codes)).astype(np.int64)
        cuts = np.flatnonzero(new < old)
        if len(cuts) > top:
            cuts = cuts[np.argpartition(new[cuts] - old[cuts], top)[:top]]
        candidates.append(
            np.stack(
                [new[cuts] - old[cuts], arrays["ids"][cuts], old[cuts], new[cuts], action[cuts]],
                axis=1,
            )
        )
    labels = dict(LimitDecision.Action.choices)
    largest: list[PreviewCut] = []
    if candidates:
        rows = np.concatenate(candidates)
        rows = rows[np.lexsort((rows[:, 1], rows[:, 0]))][:top]
        references = dict(
            Account.objects.filter(pk__in=[int(r[1]) for r in rows]).values_list("pk", "reference")
        )
        names = list(codes)
        largest = [
            PreviewCut(
                reference=references.get(int(row[1]), str(row[1])),
                action=labels.get(names[int(row[4])], names[int(row[4])]),
                old_limit=Decimal(int(row[2])) / 100,
                new_limit=Decimal(int(row[3])) / 100,
            )
            for row in rows
        ]
    actions = [
        PreviewAction(
            action=name,
            label=labels.get(name, name),
            accounts=int(counts[code]),
            amount=Decimal(int(amounts[code])) / 100,
        )
        for name, code in codes.items()
        if name != scoring.KEEP
    ]
    return RunPreview(actions=actions, largest_cuts=largest)


@dataclass(frozen=True)
class RunStop:
    """Where a failed run stopped, and what it had written by then."""

    phase: str  # "compute" (nothing applied) or "apply"
    chunks_total: int
    chunks_applied: int
    chunks_left: int  # what Retry takes up
    written: list[tuple[Any, int]]  # (action label, decisions) written before it stopped


def run_stop(run: RescoreRun) -> RunStop:
    states = dict(run.chunks.values_list("state").annotate(n=Count("id")).order_by())
    applied = states.get("applied", 0)
    apply_phase = run.apply_started_at is not None and not states.get("pending")
    labels = dict(LimitDecision.Action.choices)
    written = (
        LimitDecision.objects.filter(run=run)
        .values_list("action")
        .annotate(n=Count("id"))
        .order_by("action")
    )
    return RunStop(
        phase="apply" if apply_phase else "compute",
        chunks_total=run.chunks_total,
        chunks_applied=applied,
        chunks_left=states.get("computed" if apply_phase else "pending", 0),
        written=[(labels.get(action, action), n) for action, n in written],
    )


@dataclass(frozen=True)
class PortfolioRunPlan:
    """What a whole-portfolio run started now would do, for its confirmation."""

    accounts: int
    active_accounts: int
    exposure: Decimal
    policy: Policy
    candidate: Policy | None
    breaker_accounts_pct: Decimal
    breaker_exposure_pct: Decimal
    breaker_max_psi: Decimal
    reductions_paused: bool
    busy: RescoreRun | None  # a portfolio run already under way: no second one


def portfolio_run_plan() -> PortfolioRunPlan:
    figures = portfolio_figures()
    active = require_active_policy()
    rules = scoring.parse_policy(active.rules)
    busy = (
        RescoreRun.objects.filter(account__isnull=True, state__in=RescoreRun.MOVING)
        .order_by("-created_at")
        .first()
    )
    return PortfolioRunPlan(
        accounts=figures.accounts,
        active_accounts=figures.by_status.get(Account.Status.ACTIVE, 0),
        exposure=figures.exposure,
        policy=active,
        candidate=policy_selectors.version_in_rollout(),
        breaker_accounts_pct=rules.breaker_max_accounts_cut_pct,
        breaker_exposure_pct=rules.breaker_max_exposure_cut_pct,
        breaker_max_psi=rules.breaker_max_psi,
        reductions_paused=policy_selectors.reductions_paused(),
        busy=busy,
    )


def recent_runs(*, signals: bool = False, limit: int = 50) -> list[RescoreRun]:
    """The latest runs: with `signals`, the batches of signal re-scores; without, the
    others (portfolio runs and single-account re-scores)."""
    runs = RescoreRun.objects.select_related("policy", "candidate", "started_by", "account")
    batches = Q(trigger=RescoreRun.Trigger.SIGNAL, account__isnull=True)
    runs = runs.filter(batches) if signals else runs.exclude(batches)
    return list(runs.order_by("-created_at")[:limit])


@dataclass(frozen=True)
class SignalRescores:
    runs: int
    accounts: int
    raised: int
    reduced: int
    closed: int
    reopened: int
    held_cuts: int
    waiting: int  # accounts whose re-score is asked for and not yet done
    oldest_wait: datetime | None


def signal_rescores(*, since: datetime) -> SignalRescores:
    """What the signal re-scores did since `since`, and what waits."""
    done = RescoreRun.objects.filter(
        trigger=RescoreRun.Trigger.SIGNAL, account__isnull=True, created_at__gte=since
    ).aggregate(
        runs=Count("id"),
        accounts=Sum("accounts_total"),
        raised=Sum("raised"),
        reduced=Sum("reduced"),
        closed=Sum("closed"),
        reopened=Sum("reopened"),
        held_cuts=Sum("held_cuts"),
    )
    waiting = RescoreRequest.objects.aggregate(
        accounts=Count("account_id", distinct=True), oldest=Min("requested_at")
    )
    return SignalRescores(
        **{name: value or 0 for name, value in done.items()},
        waiting=waiting["accounts"],
        oldest_wait=waiting["oldest"],
    )


@dataclass(frozen=True)
class TimelinePage:
    decisions: list[LimitDecision]
    older: int | None  # the `before` of the next page, None when this is the oldest


def account_timeline(
    account_id: int, *, before: int | None = None, limit: int = 20
) -> TimelinePage:
    """One page of the account's decisions, newest first, by chain sequence (keyset)."""
    decisions = LimitDecision.objects.filter(account_id=account_id)
    if before is not None:
        decisions = decisions.filter(sequence__lt=before)
    rows = list(
        decisions.select_related("actor", "approver", "run", "policy").order_by("-sequence")[
            : limit + 1
        ]
    )
    older = rows[limit - 1].sequence if len(rows) > limit else None
    return TimelinePage(decisions=rows[:limit], older=older)


@dataclass(frozen=True)
class TrendPoint:
    """The account's figures from `at` on: after a decision, or before the oldest shown."""

    at: datetime
    score: int | None
    limit: Decimal
    action: str  # "" for the starting point (the figures before the oldest decision)


TREND_DECISIONS = 200


def score_limit_trend(account_id: int, *, limit: int = TREND_DECISIONS) -> list[TrendPoint]:
    """Score and limit over time from the latest `limit` decisions, oldest first by
    time: the figures before the oldest shown, then after each decision. One indexed
    query (account, sequence); docs/architecture.md, "The account page on a call"."""
    rows = list(
        LimitDecision.objects.filter(account_id=account_id)
        .order_by("-sequence")
        .values_list(
            "created_at", "sequence", "score_before", "score_after", "old_limit", "new_limit",
            "action",
        )[:limit]
    )  # fmt: skip
    if not rows:
        return []
    rows.sort(key=lambda row: (row[0], row[1]))  # by time; the chain's order on a tie
    at, _seq, score_before, _after, old_limit, _new, _action = rows[0]
    points = [TrendPoint(at, score_before, old_limit, "")]
    points += [
        TrendPoint(at, score_after, new_limit, action)
        for at, _seq, _before, score_after, _old, new_limit, action in rows
    ]
    return points


def pending_overrides(account_id: int) -> list[OverrideRequest]:
    return list(
        OverrideRequest.objects.filter(account_id=account_id, state=OverrideRequest.State.PENDING)
        .select_related("requested_by")
        .order_by("created_at")
    )


def override_request_of_account(account_id: int, request_id: int) -> bool:
    """Whether the override request belongs to this account (a URL's account must own
    the request it names)."""
    return OverrideRequest.objects.filter(pk=request_id, account_id=account_id).exists()


def override_approvers() -> list[str]:
    """Who may approve an override (by role), for the "pending approval" note."""
    return list(users_with_permission("approve_override").values_list("username", flat=True))


def decision_with_links(decision_id: int) -> LimitDecision | None:
    return (
        LimitDecision.objects.select_related(
            "account__signals", "actor", "approver", "run", "reverts", "policy"
        )
        .filter(pk=decision_id)
        .first()
    )


def decision_neighbour(decision: LimitDecision, *, before: bool) -> LimitDecision | None:
    """The previous (or next) link in the account's chain."""
    sequence = decision.sequence - 1 if before else decision.sequence + 1
    return (
        LimitDecision.objects.filter(account_id=decision.account_id, sequence=sequence)
        .order_by()
        .first()
    )


def latest_decision(account_id: int) -> LimitDecision | None:
    return (
        LimitDecision.objects.filter(account_id=account_id)
        .select_related("actor", "approver", "run", "policy")
        .order_by("-sequence")
        .first()
    )


@dataclass(frozen=True)
class DayCounts:
    days: list[str]  # ISO dates, oldest first
    by_action: list[tuple[str, Any, list[int]]]  # (action, label, count per day)
    total: int


def changes_per_day(*, days: int = 30) -> DayCounts:
    """Limit decisions per day and action over the last `days` days, from the tally."""
    today = timezone.localdate()
    first = today - timedelta(days=days - 1)
    rows = (
        DecisionTally.objects.filter(day__gte=first, reason="")
        .values_list("day", "action")
        .annotate(n=Sum("count"))
        .order_by()
    )
    counts: dict[str, dict[date, int]] = {}
    for day, action, n in rows:
        counts.setdefault(action, {})[day] = n
    labels = dict(LimitDecision.Action.choices)
    span = [first + timedelta(days=i) for i in range(days)]
    by_action = [
        (action, labels.get(action, action), [counts[action].get(day, 0) for day in span])
        for action in LimitDecision.Action.values
        if action in counts
    ]
    return DayCounts(
        days=[day.isoformat() for day in span],
        by_action=by_action,
        total=sum(sum(series) for _a, _l, series in by_action),
    )


@dataclass(frozen=True)
class ReasonCount:
    code: str
    text: str
    count: int


def top_reasons(*, days: int = 7, limit: int = 8, language: str) -> list[ReasonCount]:
    """The reasons named most often by the decisions of the last `days` days."""
    first = timezone.localdate() - timedelta(days=days - 1)
    rows = list(
        DecisionTally.objects.filter(day__gte=first)
        .exclude(reason="")
        .values_list("reason")
        .annotate(n=Sum("count"))
        .order_by("-n", "reason")[:limit]
    )
    catalogue = reason_catalogue([code for code, _n in rows])
    return [
        ReasonCount(code, catalogue[code].text("staff", language) if code in catalogue else code, n)
        for code, n in rows
    ]


def runs_in_progress() -> list[RescoreRun]:
    return list(
        RescoreRun.objects.filter(
            state__in=["queued", "computing", "waiting", "applying", "reverting"],
            account__isnull=True,
        )
        .select_related("policy", "started_by")
        .order_by("-created_at")[:5]
    )


@dataclass(frozen=True)
class WatchRow:
    account: Account
    cutoff: int
    band_below: str


def watch_list(*, margin: int = 10, limit: int = 10) -> list[WatchRow]:
    """Active accounts scoring within `margin` points above a band cut-off of the
    active policy: one bad signal moves them to a lower band and ceiling.
    Largest limits first."""
    active = Policy.objects.filter(state="active").only("rules").first()
    if active is None:
        return []
    bands = scoring.parse_policy(active.rules).bands
    edges = [(band.min_score, lower.name) for band, lower in pairwise(bands)]
    near = Q()
    for cutoff, _lower in edges:
        near |= Q(score__gte=cutoff, score__lt=cutoff + margin)
    if not edges:
        return []
    accounts = (
        Account.objects.filter(near, status=Account.Status.ACTIVE)
        .only("reference", "score", "band", "current_limit", "status")
        .order_by("-current_limit", "id")[:limit]
    )
    rows = []
    for account in accounts:
        cutoff, lower = next(
            (c, name) for c, name in edges if c <= (account.score or 0) < c + margin
        )
        rows.append(WatchRow(account, cutoff, lower))
    return rows


def latest_account_run(
    account_id: int, *, within: timedelta = timedelta(minutes=10)
) -> RescoreRun | None:
    """The latest single-account re-score of this account, if started recently."""
    return (
        RescoreRun.objects.filter(account_id=account_id, created_at__gte=timezone.now() - within)
        .order_by("-created_at")
        .first()
    )


def account_decision(account_id: int, decision_id: int) -> LimitDecision | None:
    """A decision of this account (None when it belongs to another)."""
    return (
        LimitDecision.objects.filter(account_id=account_id, pk=decision_id)
        .select_related("actor", "approver", "run", "policy")
        .first()
    )


@dataclass(frozen=True)
class NoticeStatus:
    """What the register says of one decision's customer notice (docs/architecture.md,
    "Notices: the register")."""

    owed: bool  # the decision lowered the limit or closed the line
    notice: Notice | None  # None: owed none, or decided before the register existed
    late: bool  # delivered after its due-by date, or still undelivered past it


def decision_notice(decision: LimitDecision, *, now: datetime | None = None) -> NoticeStatus:
    owed = notices.needs_notice(
        old_limit=decision.old_limit,
        new_limit=decision.new_limit,
        old_status=decision.old_status,
        new_status=decision.new_status,
    )
    notice = Notice.objects.filter(decision_id=decision.pk).first() if owed else None
    late = False
    if notice is not None and notice.state != Notice.State.NOT_REQUIRED:
        if notice.delivered_at is not None:
            late = notice.delivered_at > notice.due_by
        else:
            late = (now or timezone.now()) > notice.due_by
    return NoticeStatus(owed=owed, notice=notice, late=late)


@dataclass(frozen=True)
class RescoreBacklog:
    accounts: int  # accounts whose signals changed and that wait for their re-score
    oldest: datetime | None  # the oldest waiting request
    runs_moving: int  # runs queued, scoring or applying


def rescore_backlog() -> RescoreBacklog:
    """What waits for the workers, as a monitoring system sees it (desk.metrics)."""
    waiting = RescoreRequest.objects.aggregate(
        accounts=Count("account_id", distinct=True), oldest=Min("requested_at")
    )
    return RescoreBacklog(
        accounts=waiting["accounts"],
        oldest=waiting["oldest"],
        runs_moving=RescoreRun.objects.filter(state__in=RescoreRun.MOVING).count(),
    )

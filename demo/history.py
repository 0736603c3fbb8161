"""The demo's history: twelve monthly portfolio snapshots generated behind the demo
book, so that monitoring, back-tests and the rollout readout have something to read
the first time the demo is opened (docs/architecture.md, "The demo's history").

Pure numpy month by month, then written as any run writes a snapshot: the rows by
COPY (history.snapshots) and the distributions by history.stats. Every month is
scored by the policy versions in force then (scoring.score_chunk), so the scores,
bands, actions and limits in the snapshots are what the engine would have done.

What the months show, on purpose:

* Delinquency driven by risk: each month an account on time may slip into arrears
  with a chance that falls as its score rises, and an account in arrears rolls one
  bucket further (or cures) likewise, so low scores really go 30+ and 90+ more often.
* One drifted signal: in the last five months applications at other lenders rise,
  mostly among young borrowers (18-24 or the "young" segment); the score population
  moves into the "watch" band and the youngest cohort is cut often enough that its
  adverse impact ratio falls below 0.8.
* A staged rollout that works: from about seven months ago a challenger version scores
  a quarter of the accounts. It cuts multi-lenders at six applications in 30 days
  where the active version waits for ten, and cuts for linked accounts only when half
  of them are in bad standing (those cuts fell mostly on customers who kept paying).
  Over-extended borrowers (many applications, or long high utilisation) slip into
  arrears far more often, unless their line was cut for it in the last three months:
  a cut line can no longer be drawn to service the other lenders. Both versions live
  by that same rule; the challenger wins only because it cuts the multi-lenders
  earlier, before the arrears come, without cutting more good customers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Max, Min
from django.utils import timezone

import scoring
from accounts import book
from accounts.models import Account
from history import drift, performance, snapshots, stats
from history.models import Snapshot
from policies.models import Policy, PolicyEvent

MONTHS = 12
CHUNK = 50_000  # accounts simulated together: memory stays flat for any book size
ROLLOUT_SHARE = 25  # percent of the accounts (by reference) the challenger scores
DRIFT_MONTHS = 5  # the last months in which lender applications rise
# Credit bureau scores were this much higher a year before the latest month.
BUREAU_DECLINE = 14
# The share of young borrowers who took to applying at many lenders by the end.
YOUNG_SHOPPERS = 0.42
# Monthly chance of slipping into arrears: logit = SLIP - (score - 650) / SLIP_SCALE,
# plus OVER_EXTENDED for an over-extended account whose line was not cut for it.
SLIP, SLIP_SCALE = -5.1, 90.0
ROLL, ROLL_SCALE = -1.5, 120.0
OVER_EXTENDED = 3.0
# What the score does not see: each account's own propensity, in the same logits.
UNSEEN = 1.4
CURE_90 = 0.25  # monthly chance that an account 90+ days past due repays

_SIGNAL = {name: i for i, name in enumerate(scoring.INPUT_SIGNALS)}
_REDUCE, _CLOSE = scoring.ACTION_CODES[scoring.REDUCE], scoring.ACTION_CODES[scoring.CLOSE]
_ACTIVE, _CLOSED = scoring.STATUS_CODES["active"], scoring.STATUS_CODES["closed"]
_OVER_EXTENSION_BITS = (
    scoring.TRIGGER_BITS[scoring.MULTI_LENDING] | scoring.TRIGGER_BITS[scoring.HIGH_UTILIZATION]
)
_YOUNG_SEGMENT = book.SEGMENTS.index("young") if "young" in book.SEGMENTS else -1

CHALLENGER_CHANGES: dict[str, Any] = {
    "multi_lending_applications_30d": 6,
    "multi_lending_reduce_pct": "40",
    "linked_risk_threshold": "0.5",
    # Decrease protection (docs/architecture.md): the first version written with it; the
    # story account LD-PARTIAL, in the rollout share, shows it on its page.
    "decrease_protection_days": 90,
}
CHALLENGER_RATIONALE = (
    "Over-extended borrowers slip into arrears months after they start applying at many "
    "lenders: cut at six applications in 30 days (40 %), before the arrears come. Linked "
    "accounts cut mostly customers who went on paying: cut for them only when half are "
    "in bad standing."
)


@dataclass(frozen=True)
class DemoHistoryResult:
    snapshots: int
    accounts: int
    seconds: float


@dataclass(frozen=True)
class _Versions:
    active: Policy
    candidate: Policy | None
    # The first month (index) the candidate scored its share in.
    candidate_from: int
    share: int


def history_months(today: date, months: int) -> list[date]:
    """The first day of each of the `months` months before `today`'s, oldest first."""
    first = today.replace(day=1)
    out = []
    for _ in range(months):
        first = (first - timedelta(days=1)).replace(day=1)
        out.append(first)
    return out[::-1]


def _at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def demo_history_load(
    *, months: int = MONTHS, seed: int = 2026, today: date | None = None
) -> DemoHistoryResult:
    """Write `months` complete monthly snapshots of the book behind the demo, in one
    transaction. Does nothing when a snapshot is already dated in or after the first
    of those months: the history is loaded once, and never behind a real run's."""
    if months < 1:
        raise ValueError("The history needs at least one month.")
    started = time.perf_counter()
    days = history_months(today or timezone.now().date(), months)
    with transaction.atomic(durable=True):
        if Snapshot.objects.filter(taken_on__gte=days[0]).exists():
            return DemoHistoryResult(0, 0, time.perf_counter() - started)
        versions = _versions_ensure(days)
        compiled_active = scoring.compile_rules(scoring.parse_policy(versions.active.rules))
        compiled_candidate = (
            scoring.compile_rules(scoring.parse_policy(versions.candidate.rules))
            if versions.candidate is not None
            else None
        )
        band_names = [band.name for band in compiled_active.rules.bands]
        for day in days:
            snapshots.partition_ensure(day)
        month_stats: list[list[dict[str, Any]]] = [[] for _ in days]
        bounds = Account.objects.aggregate(low=Min("id"), high=Max("id"))
        total = 0
        if bounds["low"] is not None:
            for index, first in enumerate(range(bounds["low"], bounds["high"] + 1, CHUNK)):
                data = book.load_chunk(
                    first, min(first + CHUNK - 1, bounds["high"]), band_names, buckets=True
                )
                if not len(data.ids):
                    continue
                total += len(data.ids)
                rng = np.random.default_rng([seed, index])
                for month, (rows, triggers) in enumerate(
                    _simulate(data, days, versions, compiled_active, compiled_candidate, rng)
                ):
                    snapshots.snapshot_rows_write(days[month], rows)
                    month_stats[month].append(
                        stats.row_stats(rows, book.SEGMENTS, triggers=triggers)
                    )
        for month, day in enumerate(days):
            in_rollout = versions.candidate is not None and month >= versions.candidate_from
            Snapshot.objects.create(
                taken_on=day,
                policy_version=versions.active.version,
                candidate_version=versions.candidate.version
                if in_rollout and versions.candidate
                else None,
                rollout_share=versions.share if in_rollout else 0,
                state=Snapshot.State.COMPLETE,
                accounts=total,
                stats=stats.merge(month_stats[month]),
                created_at=_at(day, 2),
                completed_at=_at(day, 3),
            )
    return DemoHistoryResult(len(days), total, time.perf_counter() - started)


def demo_history_derive() -> tuple[int, int]:
    """What the monitor would find by itself later (the daily derivation, the hourly
    drift check), at once: the outcomes of the months and the drift alerts of the
    latest. Returns (snapshots derived, alerts raised)."""
    derived = performance.derive_outcomes()
    raised = drift.check_drift()
    return len(derived), len(raised)


def _versions_ensure(days: list[date]) -> _Versions:
    """The versions in force over the months. On the demo as migrated (only the first
    version, never changed) the first version is dated as activated early in the
    history, so that the monitor finds its baseline snapshot, and dave's challenger
    goes into a staged rollout that erin approved about seven months ago. Otherwise
    the versions as they stand: the active one, and the one in rollout since its
    rollout began."""
    active = Policy.objects.filter(state=Policy.State.ACTIVE).order_by("-version").first()
    if active is None:
        raise ValueError("No policy version is active; migrate the database first.")
    pristine = (
        Policy.objects.count() == 1 and not PolicyEvent.objects.filter(policy=active).exists()
    )
    people = {user.username: user for user in User.objects.filter(username__in=["dave", "erin"])}
    if pristine and len(people) == 2 and len(days) >= 4:
        base = 1 if len(days) >= 6 else 0
        active.activated_at = _at(days[base], 12)
        active.created_at = min(active.created_at, active.activated_at - timedelta(days=14))
        active.save(update_fields=["activated_at", "created_at"])
        start = max(base + 1, len(days) - 7)  # the first month the challenger scores
        rollout_at = _at(days[start - 1], 10) + timedelta(days=18)
        return _Versions(
            active, _challenger_create(active, people, rollout_at), start, ROLLOUT_SHARE
        )
    candidate = Policy.objects.filter(state=Policy.State.ROLLOUT).first()
    if candidate is None:
        return _Versions(active, None, len(days), 0)
    began = (
        (
            PolicyEvent.objects.filter(policy=candidate, action=PolicyEvent.Action.ROLLOUT)
            .order_by("at")
            .values_list("at", flat=True)
            .first()
        )
        or candidate.reviewed_at
        or timezone.now()
    )
    start = sum(1 for day in days if day <= began.date())
    return _Versions(active, candidate, start, candidate.rollout_share)


def _challenger_create(active: Policy, people: dict[str, User], rollout_at: datetime) -> Policy:
    """dave's version, submitted, approved by erin for a staged share: the policy and its
    events as policies.services writes them, dated when they happened."""
    rules = scoring.parse_policy(
        {**scoring.READ_AS_DEFAULT, **active.rules, **CHALLENGER_CHANGES}
    ).as_json()
    dave, erin = people["dave"], people["erin"]
    drafted = rollout_at - timedelta(days=12)
    submitted = rollout_at - timedelta(days=5)
    comment = "Impact checked on the portfolio; start with a quarter of the accounts."
    challenger = Policy.objects.create(
        version=(Policy.objects.aggregate(top=Max("version"))["top"] or 0) + 1,
        state=Policy.State.ROLLOUT,
        rules=rules,
        rationale=CHALLENGER_RATIONALE,
        author=dave,
        approver=erin,
        created_at=drafted,
        submitted_at=submitted,
        reviewed_at=rollout_at,
        review_comment=comment,
        rollout_share=ROLLOUT_SHARE,
    )
    events = [
        (PolicyEvent.Action.DRAFTED, dave, None, f"from v{active.version}", drafted),
        (PolicyEvent.Action.SUBMITTED, dave, None, CHALLENGER_RATIONALE, submitted),
        (PolicyEvent.Action.APPROVED, erin, ROLLOUT_SHARE, comment, rollout_at),
        (PolicyEvent.Action.ROLLOUT, erin, ROLLOUT_SHARE, "", rollout_at),
    ]
    for action, actor, share, text, at in events:
        PolicyEvent.objects.create(
            policy=challenger, action=action, actor=actor, share=share, comment=text, at=at
        )
    return challenger


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _simulate(
    data: scoring.ChunkInput,
    days: list[date],
    versions: _Versions,
    active: scoring.CompiledRules,
    candidate: scoring.CompiledRules | None,
    rng: np.random.Generator,
) -> Any:
    """Yield (rows, triggers) for each month, oldest first, for the accounts of `data`
    (the book as it is now, which the months lead up to)."""
    n, last = len(data.ids), len(days) - 1
    now = data.signals
    s = _SIGNAL
    segment = data.segment.astype(np.int64) if data.segment is not None else np.zeros(n, np.int64)
    young = (now[:, s["age"]] < 25) | (segment == _YOUNG_SEGMENT)
    # Young borrowers who take to applying at many lenders in the drift, and how far.
    shopper = young & (rng.random(n) < YOUNG_SHOPPERS)
    shopping = rng.uniform(5.0, 16.0, n)
    in_share = data.bucket < scoring.rollout_cutoff(versions.share)
    bureau_noise = rng.normal(0, 6, n)
    unseen = rng.normal(0, UNSEEN, n)

    # The state a year back: the lines as they are now (closed ones closed some months
    # before), arrears as they are now.
    status = data.status.astype(np.int64).copy()
    limit = np.where(status == _CLOSED, 0, data.limit.astype(np.int64))
    closed_month = np.where(status == _CLOSED, -rng.integers(1, 7, n), -100)
    good_cycles = np.minimum(data.good_cycles.astype(np.int64), active.rules.raise_good_cycles)
    dpd = now[:, s["days_past_due"]].astype(np.int64).copy()
    worst = now[:, s["max_dpd_12m"]].astype(np.int64).copy()
    episodes = now[:, s["overdue_count_12m"]].astype(np.int64).copy()
    on_time = now[:, s["on_time_ratio"]].copy()
    last_cut = np.full(n, -100, dtype=np.int64)
    restored = (
        data.days_since_restoration.astype(np.int64)
        if data.days_since_restoration is not None
        else np.full(n, scoring.NEVER_RESTORED, np.int64)
    )
    today = timezone.now().date()
    for month, day in enumerate(days):
        back = last - month  # months before the latest
        # Steep at first: the shoppers start applying all at once, then keep on.
        drift = float(np.clip((month - (last - DRIFT_MONTHS)) / DRIFT_MONTHS, 0.0, 1.0)) ** 0.5
        signals = now.copy()
        cs = now[:, s["credit_score"]] + BUREAU_DECLINE * back / max(last, 1) + bureau_noise
        signals[:, s["credit_score"]] = np.clip(np.rint(cs), 350, 950)
        # Applications: the book's own multi-lenders thinned before the drift, plus the
        # young shoppers as the drift grows.
        keep = 0.6 + 0.4 * drift
        extra = np.where(shopper, np.rint(drift * shopping), 0).astype(np.int64)
        apps30 = rng.binomial(now[:, s["lender_applications_30d"]].astype(np.int64), keep) + extra
        apps90 = rng.binomial(now[:, s["lender_applications_90d"]].astype(np.int64), keep)
        apps90 = np.maximum(apps90 + 2 * extra, apps30)
        signals[:, s["lender_applications_30d"]] = apps30
        signals[:, s["lender_applications_90d"]] = apps90
        high_months = np.maximum(now[:, s["months_high_utilization"]] - back // 2, 0)
        utilization = np.where(
            high_months > 0,
            now[:, s["utilization"]],
            np.clip(now[:, s["utilization"]] + rng.normal(0, 0.04, n), 0, 0.89),
        )
        # Young shoppers draw their lines harder as they borrow elsewhere.
        utilization = np.where(
            shopper & (high_months == 0),
            np.clip(utilization + 0.25 * drift, 0, 0.89),
            utilization,
        )
        signals[:, s["utilization"]] = np.round(utilization, 4)
        signals[:, s["months_high_utilization"]] = high_months
        signals[:, s["days_past_due"]] = dpd
        signals[:, s["max_dpd_12m"]] = np.maximum(worst, dpd)
        signals[:, s["overdue_count_12m"]] = episodes
        signals[:, s["on_time_ratio"]] = np.round(on_time, 4)

        # Days since an appeal restored the line, as of that month: none before it was.
        since = restored - (today - day).days
        since = np.where(
            (restored < scoring.NEVER_RESTORED) & (since >= 0), since, scoring.NEVER_RESTORED
        )
        in_cooldown = (status == _CLOSED) & (
            (month - closed_month) * 30 < active.rules.cooldown_days
        )
        chunk = scoring.ChunkInput(
            ids=data.ids,
            limit=limit,
            status=status,
            version=data.version,
            good_cycles=good_cycles,
            score=data.score,
            band=data.band,
            bucket=data.bucket,
            in_cooldown=in_cooldown,
            signals=signals,
            segment=segment,
            days_since_restoration=since,
        )
        result = scoring.score_chunk(active, chunk)
        version = np.full(n, versions.active.version, dtype=np.int64)
        if (
            candidate is not None
            and versions.candidate is not None
            and month >= versions.candidate_from
        ):
            other = scoring.score_chunk(candidate, chunk)
            for name in result.__dataclass_fields__:
                mine, theirs = getattr(result, name), getattr(other, name)
                mask = in_share[:, None] if mine.ndim == 2 else in_share
                setattr(result, name, np.where(mask, theirs, mine))
            version = np.where(in_share, versions.candidate.version, version)
        rows = snapshots.SnapshotRows(
            account_id=data.ids,
            segment=segment,
            status_before=status,
            limit_before=limit,
            good_cycles=good_cycles,
            in_cooldown=in_cooldown,
            days_since_restoration=since,
            days_past_due=dpd.copy(),
            score=result.score,
            band=result.band,
            policy_version=version,
            action=result.action,
            limit_after=result.new_limit,
            status_after=result.new_status,
            signals=signals,
        )
        yield rows, result.triggers

        # The month that follows: who slips into arrears, rolls further or cures.
        # A line cut for the over-extension itself (multi-lending, long high
        # utilisation) can no longer be drawn to service the other lenders: for three
        # months the over-extension adds no risk. Both versions live by this rule.
        cut = ((result.action == _REDUCE) | (result.action == _CLOSE)) & (
            (result.triggers & _OVER_EXTENSION_BITS) != 0
        )
        last_cut = np.where(cut, month, last_cut)
        closed_month = np.where(result.action == _CLOSE, month, closed_month)
        relieved = (month - last_cut < 3) | (result.new_status == _CLOSED)
        over = (apps30 >= 6) | (apps90 >= 10) | ((utilization >= 0.9) & (high_months >= 3))
        risk = (650.0 - result.score).astype(np.float64)
        lift = OVER_EXTENDED * (over & ~relieved) + unseen
        slip = _sigmoid(SLIP + risk / SLIP_SCALE + lift)
        roll = _sigmoid(ROLL + risk / ROLL_SCALE + lift)
        draw = rng.random(n)
        current, late, serious = dpd == 0, (dpd > 0) & (dpd < 90), dpd >= 90
        slips = current & (draw < slip)
        rolls = late & (draw < roll)
        cures = serious & (draw < CURE_90)
        # A payment missed early in the month is 30 days late by the next snapshot.
        dpd = np.where(slips, rng.integers(1, 45, n), dpd)
        dpd = np.where(late, np.where(rolls, dpd + 30, 0), dpd)
        dpd = np.where(serious, np.where(cures, 0, np.minimum(dpd + 30, 360)), dpd)
        worst = np.maximum(worst, dpd)
        episodes = episodes + slips
        on_time = np.clip(on_time - 0.04 * slips, 0, 1)
        status, limit = result.new_status.astype(np.int64), result.new_limit.astype(np.int64)
        good_cycles = result.good_cycles.astype(np.int64)

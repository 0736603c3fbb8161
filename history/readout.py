"""Champion-challenger readout of a staged rollout: the accounts the version in
rollout scored (the challenger) beside those the active version scored (the
champion) in the first snapshot after the rollout began, and how both fared in
the snapshots since, each rate with its 95 % interval, and a recommendation
(docs/architecture.md, "Champion-challenger readout").

`recommend` is pure; `arm_counts` is one aggregate query over the snapshot rows.
"""

from __future__ import annotations

import contextlib
from dataclasses import astuple, dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.core.cache import cache
from django.db import connection
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from redis.exceptions import RedisError

import scoring
from history.models import Snapshot
from history.performance import BAD_30, BAD_90, MATURITY_SLACK, add_months
from policies.models import Policy, PolicyEvent
from scoring import metrics

WIDEN, HOLD, ROLL_BACK = "widen", "hold", "rollback"
# Fewer months of outcomes, or fewer accounts judged in an arm, and nothing is decided.
MIN_MONTHS = 3
MIN_ACCOUNTS = 100
# Widen only when the interval rules out the challenger's 30+ days past due rate
# being worse by more than this (half a percentage point).
NON_INFERIORITY = 0.005
READOUT_CACHE_SECONDS = 6 * 3600


@dataclass(frozen=True)
class Rate:
    """A proportion with its Wilson 95 % interval (None without trials)."""

    part: int
    whole: int

    @property
    def value(self) -> float | None:
        return self.part / self.whole if self.whole else None

    @property
    def interval(self) -> tuple[float, float] | None:
        return metrics.wilson(self.part, self.whole) if self.whole else None


@dataclass(frozen=True)
class Difference:
    """Challenger minus champion, with Newcombe's 95 % interval."""

    value: float
    low: float
    high: float

    @classmethod
    def of(cls, challenger: Rate, champion: Rate) -> Difference | None:
        if not challenger.whole or not champion.whole:
            return None
        low, high = metrics.difference_interval(
            challenger.part, challenger.whole, champion.part, champion.whole
        )
        return cls(challenger.part / challenger.whole - champion.part / champion.whole, low, high)

    @property
    def worse(self) -> bool:
        """Higher, and the interval excludes no difference."""
        return self.low > 0


@dataclass(frozen=True)
class Arm:
    """One arm: the accounts a version scored in the first snapshot of the rollout,
    and what later snapshots showed of them. Money in cents."""

    version: int
    accounts: int
    judged: int  # seen by a later snapshot
    dpd30: int
    dpd90: int
    goods: int  # judged and stayed below 30 days past due
    goods_cut: int
    cut: int
    closed: int
    exposure_before: int
    exposure_after: int

    @property
    def dpd30_rate(self) -> Rate:
        return Rate(self.dpd30, self.judged)

    @property
    def dpd90_rate(self) -> Rate:
        return Rate(self.dpd90, self.judged)

    @property
    def cut_rate(self) -> Rate:
        return Rate(self.cut, self.accounts)

    @property
    def closure_rate(self) -> Rate:
        return Rate(self.closed, self.accounts)

    @property
    def goods_cut_rate(self) -> Rate:
        return Rate(self.goods_cut, self.goods)

    @property
    def exposure_change(self) -> Decimal:
        return Decimal(self.exposure_after - self.exposure_before) / 100

    @property
    def exposure_change_rate(self) -> float | None:
        if not self.exposure_before:
            return None
        return (self.exposure_after - self.exposure_before) / self.exposure_before


@dataclass(frozen=True)
class Recommendation:
    action: str  # WIDEN, HOLD or ROLL_BACK
    reasons: list[str]


def recommend(champion: Arm, challenger: Arm, months: int) -> Recommendation:
    """Roll back when the challenger's 30+ days past due rate, or its rate of good
    customers cut, is higher with the 95 % interval of the difference above 0; widen
    when its 30+ rate is no higher and the interval rules out a worsening of more than
    NON_INFERIORITY, its good customers cut not shown higher; else hold. Too few
    months of outcomes or accounts judged: hold."""
    if months < MIN_MONTHS:
        return Recommendation(
            HOLD,
            [
                ngettext(
                    "Only %(months)s month of outcomes so far; at least %(minimum)s are "
                    "needed to judge.",
                    "Only %(months)s months of outcomes so far; at least %(minimum)s are "
                    "needed to judge.",
                    months,
                )
                % {"months": months, "minimum": MIN_MONTHS}
            ],
        )
    small = [arm for arm in (champion, challenger) if arm.judged < MIN_ACCOUNTS]
    if small:
        return Recommendation(
            HOLD,
            [
                _("v%(version)s has %(n)s accounts with outcomes; at least %(minimum)s are needed.")
                % {"version": arm.version, "n": arm.judged, "minimum": MIN_ACCOUNTS}
                for arm in small
            ],
        )
    bad = Difference.of(challenger.dpd30_rate, champion.dpd30_rate)
    goods = Difference.of(challenger.goods_cut_rate, champion.goods_cut_rate)
    worse = []
    if bad is not None and bad.worse:
        worse.append(
            _(
                "Its 30+ days past due rate is higher by %(points)s points, and the interval "
                "(%(low)s to %(high)s) excludes no difference."
            )
            % _points(bad)
        )
    if goods is not None and goods.worse:
        worse.append(
            _(
                "It cuts or closes more good customers: higher by %(points)s points, interval "
                "%(low)s to %(high)s."
            )
            % _points(goods)
        )
    if worse:
        return Recommendation(ROLL_BACK, worse)
    if bad is not None and bad.value <= 0 and bad.high < NON_INFERIORITY:
        return Recommendation(
            WIDEN,
            [
                _(
                    "Its 30+ days past due rate is no higher (%(points)s points), and the "
                    "interval (%(low)s to %(high)s) rules out a worsening of more than half "
                    "a point."
                )
                % _points(bad)
            ],
        )
    return Recommendation(
        HOLD,
        [
            _(
                "The interval of the difference in 30+ days past due (%(low)s to %(high)s "
                "points) neither shows it worse nor rules out a worsening: wait for more outcomes."
            )
            % _points(bad)
            if bad is not None
            else _("No outcomes to compare yet.")
        ],
    )


def _points(difference: Difference) -> dict[str, str]:
    return {
        "points": f"{difference.value * 100:+.2f}",
        "low": f"{difference.low * 100:+.2f}",
        "high": f"{difference.high * 100:+.2f}",
    }


# --------------------------------------------------------------------------
# Reading the arms


def rollout_began(candidate: Policy) -> Any:
    """When the staged rollout of `candidate` began: its ROLLOUT event, else its review."""
    event = (
        PolicyEvent.objects.filter(policy=candidate, action=PolicyEvent.Action.ROLLOUT)
        .order_by("at", "id")
        .first()
    )
    return event.at if event is not None else candidate.reviewed_at or candidate.created_at


def first_snapshot(candidate: Policy, since: date) -> Snapshot | None:
    """The first complete snapshot taken since the rollout began that scored accounts
    with the candidate."""
    return (
        Snapshot.objects.filter(
            state=Snapshot.State.COMPLETE,
            taken_on__gte=since,
            candidate_version=candidate.version,
        )
        .order_by("taken_on")
        .first()
    )


def _stamp(first: Snapshot) -> str:
    """Names the snapshots a readout reads: the first's id, and the latest later one's
    id with how many there are."""
    later = Snapshot.objects.exclude(state=Snapshot.State.WRITING).filter(
        taken_on__gt=first.taken_on
    )
    newest = later.order_by("-id").values_list("id", flat=True).first()
    return f"{first.pk}-{newest}-{later.count()}"


def later_snapshots(first: Snapshot) -> list[date]:
    return list(
        Snapshot.objects.exclude(state=Snapshot.State.WRITING)
        .filter(taken_on__gt=first.taken_on)
        .order_by("taken_on")
        .values_list("taken_on", flat=True)
    )


def months_of_outcomes(first: date, later: list[date]) -> int:
    """Whole months after `first` that later snapshots cover (a month counts when a
    snapshot was taken at its end, within a week, or after)."""
    if not later:
        return 0
    latest, months = max(later), 0
    while add_months(first, months + 1) - MATURITY_SLACK <= latest:
        months += 1
    return months


_ARMS_SQL = """
    WITH later AS (
        SELECT l.account_id, max(l.days_past_due) AS worst
        FROM history_accountsnapshot l
        JOIN history_snapshot s ON s.taken_on = l.taken_on AND s.state <> 'writing'
        WHERE l.taken_on > %(first)s
        GROUP BY l.account_id
    )
    SELECT a.policy_version,
        count(*),
        count(later.account_id),
        count(*) FILTER (WHERE later.worst >= %(bad30)s),
        count(*) FILTER (WHERE later.worst >= %(bad90)s),
        count(*) FILTER (WHERE later.worst < %(bad30)s),
        count(*) FILTER (WHERE later.worst < %(bad30)s AND a.action IN (%(cut)s, %(close)s)),
        count(*) FILTER (WHERE a.action = %(cut)s),
        count(*) FILTER (WHERE a.action = %(close)s),
        COALESCE(sum(a.limit_before) FILTER (WHERE a.status_before = %(active)s), 0),
        COALESCE(sum(a.limit_after) FILTER (WHERE a.status_after = %(active)s), 0)
    FROM history_accountsnapshot a LEFT JOIN later ON later.account_id = a.account_id
    WHERE a.taken_on = %(first)s AND a.policy_version IN (%(challenger)s, %(champion)s)
    GROUP BY a.policy_version
"""


def arm_counts(first: date, *, challenger: int, champion: int, stamp: str = "") -> tuple[Arm, Arm]:
    """(champion, challenger) as the snapshot of `first` and every later one show them.
    With `stamp` (naming the snapshots read), kept in the cache: complete snapshots never
    change, so the figures change only when a snapshot is added."""
    key = f"limitdesk:readout:{first}:{challenger}:{champion}:{stamp}" if stamp else ""
    with contextlib.suppress(RedisError):
        cached = cache.get(key) if key else None
        if cached is not None:
            return Arm(*cached[0]), Arm(*cached[1])
    with connection.cursor() as cursor:
        cursor.execute(
            _ARMS_SQL,
            {
                "first": first,
                "bad30": BAD_30,
                "bad90": BAD_90,
                "cut": scoring.ACTION_CODES[scoring.REDUCE],
                "close": scoring.ACTION_CODES[scoring.CLOSE],
                "active": scoring.STATUS_CODES["active"],
                "challenger": challenger,
                "champion": champion,
            },
        )
        found = {row[0]: row[1:] for row in cursor.fetchall()}

    def arm(version: int) -> Arm:
        values = [int(v) for v in found.get(version, (0,) * 10)]
        return Arm(version, *values)

    arms = arm(champion), arm(challenger)
    if key:
        with contextlib.suppress(RedisError):
            cache.set(key, [astuple(one) for one in arms], READOUT_CACHE_SECONDS)
    return arms


# --------------------------------------------------------------------------
# The page


@dataclass(frozen=True)
class ReadoutRow:
    label: Any
    champion: Rate
    challenger: Rate
    difference: Difference | None


@dataclass(frozen=True)
class Readout:
    candidate: Policy
    began: Any
    first: Snapshot | None
    later: list[date]
    months: int
    champion: Arm | None
    challenger: Arm | None
    rows: list[ReadoutRow]
    recommendation: Recommendation | None


def readout(candidate: Policy) -> Readout:
    """The readout of the version in staged rollout."""
    began = rollout_began(candidate)
    first = first_snapshot(candidate, began.date())
    if first is None:
        return Readout(candidate, began, None, [], 0, None, None, [], None)
    later = later_snapshots(first)
    months = months_of_outcomes(first.taken_on, later)
    champion, challenger = arm_counts(
        first.taken_on,
        challenger=candidate.version,
        champion=first.policy_version,
        stamp=_stamp(first),
    )
    rows = [
        ReadoutRow(label, getattr(champion, rate), getattr(challenger, rate), None)
        for label, rate in (
            (_("30+ days past due since"), "dpd30_rate"),
            (_("90+ days past due since"), "dpd90_rate"),
            (_("Good customers cut or closed"), "goods_cut_rate"),
            (_("Cut in the first snapshot"), "cut_rate"),
            (_("Closed in the first snapshot"), "closure_rate"),
        )
    ]
    rows = [
        ReadoutRow(
            row.label, row.champion, row.challenger, Difference.of(row.challenger, row.champion)
        )
        for row in rows
    ]
    return Readout(
        candidate,
        began,
        first,
        later,
        months,
        champion,
        challenger,
        rows,
        recommend(champion, challenger, months),
    )

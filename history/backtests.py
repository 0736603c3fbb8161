"""Back-tests: a draft (or a version waiting for approval) and the active version
replayed on a past snapshot, each judged by what the accounts did in the months
after it (docs/architecture.md, "Back-testing a draft").

Vectorised: the snapshot is read id range by id range (`snapshot_load`), each range
scored with both versions by `scoring.score_chunk` and joined with
`outcomes_after` by account id in numpy; no per-account Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

import scoring
from accounts import permissions as perms
from accounts.book import SEGMENTS
from config import failures, queue
from config.queue import QUEUE_ERRORS
from history.models import Backtest, Snapshot
from history.performance import BAD_30, BAD_90, HORIZONS, MATURITY_SLACK, add_months
from history.snapshots import Outcomes, outcomes_after, snapshot_load
from policies.models import Policy
from policies.selectors import fairness_tables
from policies.services import PolicyAdminError, active_locked, locked, require
from scoring import cohorts

# The versions a back-test replays: the one under test and the one it would replace.
SIDES = ("draft", "base")
BACKTESTABLE = (Policy.State.DRAFT, Policy.State.PENDING)
# A back-test still queued or running after this long has lost its worker: another
# one of the same version may start (a back-test of the whole book takes about a minute).
STALLED_AFTER = timedelta(minutes=30)
_COUNTS = (
    "accounts",
    "cut",
    "closed",
    "goods_cut",
    "bads_caught",
    "bads_missed",
    "exposure_from_bads",
    "exposure_from_goods",
)


# --------------------------------------------------------------------------
# Which snapshots and windows may be chosen


@dataclass(frozen=True)
class SnapshotChoice:
    """A complete snapshot a back-test may replay, with its matured outcome windows."""

    snapshot: Snapshot
    matured: tuple[int, ...]  # months, of HORIZONS


def window_matured(taken_on: date, months: int, later: list[date]) -> bool:
    """A window has matured when a later snapshot was taken at its end (within a week)
    or after it (as history.performance judges its horizons)."""
    end = add_months(taken_on, months)
    return any(day >= end - MATURITY_SLACK for day in later)


def snapshot_choices() -> list[SnapshotChoice]:
    """Every complete snapshot with at least one matured window, newest first."""
    snapshots = list(Snapshot.objects.exclude(state=Snapshot.State.WRITING).order_by("-taken_on"))
    later_all = [s.taken_on for s in snapshots]
    choices = []
    for snapshot in snapshots:
        if snapshot.state != Snapshot.State.COMPLETE:
            continue
        later = [day for day in later_all if day > snapshot.taken_on]
        matured = tuple(m for m in HORIZONS if window_matured(snapshot.taken_on, m, later))
        if matured:
            choices.append(SnapshotChoice(snapshot, matured))
    return choices


def default_choice(choices: list[SnapshotChoice]) -> SnapshotChoice | None:
    """The latest snapshot whose 12-month window has matured, else the oldest."""
    for choice in choices:  # newest first
        if max(HORIZONS) in choice.matured:
            return choice
    return choices[-1] if choices else None


# --------------------------------------------------------------------------
# Start


def _whole(value: Any, message: str) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        raise PolicyAdminError(message) from None


def backtest_start(*, version: int, snapshot_id: Any, months: Any, actor: Any) -> Backtest:
    """Queue a back-test of a draft or pending version on a complete snapshot, over a
    matured outcome window, against the active version. Refused with the reason, and
    nothing created, for any other version, snapshot or window."""
    require(actor, perms.EDIT_POLICY, _("Your role cannot back-test policy versions."))
    chosen = _whole(snapshot_id, _("Choose a snapshot to replay."))
    window = _whole(months, _("Choose an outcome window of 3, 6 or 12 months."))
    if window not in HORIZONS:
        raise PolicyAdminError(_("Choose an outcome window of 3, 6 or 12 months."))
    with transaction.atomic(durable=True):
        target = locked(version)
        if target.state not in BACKTESTABLE:
            raise PolicyAdminError(
                _(
                    "Only a draft or a version waiting for approval is back-tested; "
                    "this one is %(state)s."
                )
                % {"state": target.get_state_display()}
            )
        try:
            scoring.parse_policy(target.rules)
        except scoring.PolicyError:
            raise PolicyAdminError(
                _("Fix the draft's thresholds before back-testing it.")
            ) from None
        choice = next((c for c in snapshot_choices() if c.snapshot.pk == chosen), None)
        if choice is None:
            raise PolicyAdminError(
                _("No complete snapshot with a matured outcome window has that date.")
            )
        if window not in choice.matured:
            raise PolicyAdminError(
                _(
                    "The %(months)s-month window after %(day)s has not matured: no snapshot "
                    "was taken at its end yet."
                )
                % {"months": window, "day": choice.snapshot.taken_on.isoformat()}
            )
        recent = timezone.now() - STALLED_AFTER  # older ones lost their worker
        if Backtest.objects.filter(
            policy=target, state__in=["queued", "running"], created_at__gte=recent
        ).exists():
            raise PolicyAdminError(_("A back-test of this version is already running."))
        base = active_locked()
        backtest = Backtest.objects.create(
            policy=target,
            base=base,
            rules=target.rules,
            snapshot=choice.snapshot,
            horizon_months=window,
            started_by=actor,
        )
    try:
        queue.send("history.tasks.run_backtest", backtest.pk)
    except QUEUE_ERRORS:
        Backtest.objects.filter(pk=backtest.pk).delete()
        raise PolicyAdminError(
            _("The task queue (Redis) is unavailable: nothing was started. Try again in a minute.")
        ) from None
    return backtest


# --------------------------------------------------------------------------
# Run


def backtest_run(*, backtest_id: int) -> bool:
    """Replay a queued back-test and store its results; False when it was not queued."""
    with transaction.atomic(durable=True):
        backtest = (
            Backtest.objects.select_for_update(of=("self",))
            .select_related("snapshot", "base")
            .filter(pk=backtest_id, state=Backtest.State.QUEUED)
            .first()
        )
        if backtest is None:
            return False
        backtest.state = Backtest.State.RUNNING
        backtest.save(update_fields=["state"])
    results = replay(
        taken_on=backtest.snapshot.taken_on,
        months=backtest.horizon_months,
        draft_rules=backtest.rules,
        base_rules=backtest.base.rules,
    )
    with transaction.atomic(durable=True):
        Backtest.objects.filter(pk=backtest_id).update(
            state=Backtest.State.DONE, results=results, error="", finished_at=timezone.now()
        )
    return True


def backtest_fail(*, backtest_id: int, error: BaseException) -> None:
    """Mark a back-test failed with what went wrong, in words a person can read."""
    record = failures.failure_record(error, phase="compute", chunk=None, at=timezone.now())
    with transaction.atomic(durable=True):
        Backtest.objects.filter(pk=backtest_id).exclude(state=Backtest.State.DONE).update(
            state=Backtest.State.FAILED, error=record["error"], finished_at=timezone.now()
        )


def _id_ranges(taken_on: date) -> list[tuple[int, int]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT min(account_id), max(account_id) FROM history_accountsnapshot "
            "WHERE taken_on = %s",
            [taken_on],
        )
        low, high = cursor.fetchone()
    if low is None:
        return []
    size = settings.RESCORE_CHUNK_SIZE
    return [(first, min(first + size - 1, high)) for first in range(low, high + 1, size)]


def replay(
    *, taken_on: date, months: int, draft_rules: dict[str, Any], base_rules: dict[str, Any]
) -> dict[str, Any]:
    """Both versions' figures on the snapshot of `taken_on`, judged over `months`."""
    compiled = {
        "draft": scoring.compile_rules(scoring.parse_policy(draft_rules)),
        "base": scoring.compile_rules(scoring.parse_policy(base_rules)),
    }
    later = outcomes_after(taken_on, months)
    totals: dict[str, Any] = {
        "snapshot": taken_on.isoformat(),
        "months": months,
        "window_end": add_months(taken_on, months).isoformat(),
        "accounts": 0,
        "unseen": 0,
        "goods": 0,
        "bads": 0,
        "versions": {side: {"cohorts": {}, **dict.fromkeys(_COUNTS, 0)} for side in SIDES},
    }
    for first, last in _id_ranges(taken_on):
        rows = snapshot_load(taken_on, first_id=first, last_id=last)
        if not len(rows):
            continue
        part = chunk_figures(rows.as_chunk_input(), later, compiled)
        for key in ("accounts", "unseen", "goods", "bads"):
            totals[key] += part[key]
        for side in SIDES:
            into, add = totals["versions"][side], part["versions"][side]
            for key in _COUNTS:
                into[key] += add[key]
            into["cohorts"] = cohorts.merge_counts(into["cohorts"], add["cohorts"])
    return totals


def chunk_figures(
    data: scoring.ChunkInput, later: Outcomes, compiled: dict[str, scoring.CompiledRules]
) -> dict[str, Any]:
    """One id range's figures. Accounts no later snapshot saw are left out (counted
    as `unseen`); a bad reached 90+ days past due in the window, a good stayed below 30."""
    ids = data.ids
    if len(later.account_id):
        position = np.minimum(np.searchsorted(later.account_id, ids), len(later.account_id) - 1)
        seen = later.account_id[position] == ids
        worst = np.where(seen, later.worst_dpd[position], 0)
    else:
        seen = np.zeros(len(ids), dtype=bool)
        worst = np.zeros(len(ids), dtype=np.int64)
    bad = seen & (worst >= BAD_90)
    good = seen & (worst < BAD_30)
    ages = data.signals[:, scoring.INPUT_SIGNALS.index("age")][seen]
    segments = data.segment[seen] if data.segment is not None else np.full(int(seen.sum()), -1)
    out: dict[str, Any] = {
        "accounts": int(seen.sum()),
        "unseen": int((~seen).sum()),
        "goods": int(good.sum()),
        "bads": int(bad.sum()),
        "versions": {},
    }
    codes = scoring.ACTION_CODES
    for side in SIDES:
        result = scoring.score_chunk(compiled[side], data, cycle=True)
        cut = seen & (result.action == codes[scoring.REDUCE])
        closed = seen & (result.action == codes[scoring.CLOSE])
        adverse = cut | closed
        removed = np.where(adverse, data.limit - result.new_limit, 0)
        out["versions"][side] = {
            "accounts": int(seen.sum()),
            "cut": int(cut.sum()),
            "closed": int(closed.sum()),
            "goods_cut": int((adverse & good).sum()),
            "bads_caught": int((adverse & bad).sum()),
            "bads_missed": int((bad & ~adverse).sum()),
            "exposure_from_bads": int(removed[bad].sum()),
            "exposure_from_goods": int(removed[good].sum()),
            "cohorts": {
                "age": cohorts.cohort_counts(
                    cohorts.age_index(ages), cohorts.AGE_LABELS, cut[seen], closed[seen]
                ),
                "segment": cohorts.cohort_counts(segments, SEGMENTS, cut[seen], closed[seen]),
            },
        }
    return out


# --------------------------------------------------------------------------
# The page


@dataclass(frozen=True)
class VersionFigures:
    """One version's figures in a back-test; money in yuan (Decimal)."""

    version: int
    accounts: int
    cut: int
    closed: int
    goods_cut: int
    bads_caught: int
    bads_missed: int
    exposure_from_bads: Decimal
    exposure_from_goods: Decimal

    @property
    def cut_or_closed(self) -> int:
        return self.cut + self.closed


@dataclass(frozen=True)
class ComparisonRow:
    label: Any
    attribute: str
    base: Any
    draft: Any
    difference: Any
    money: bool = False


@dataclass(frozen=True)
class BacktestView:
    backtest: Backtest
    draft: VersionFigures | None
    base: VersionFigures | None
    rows: list[ComparisonRow]
    fairness: list[Any]
    accounts: int  # judged: seen by a later snapshot
    unseen: int
    goods: int
    bads: int

    @property
    def running(self) -> bool:
        return self.backtest.state in {Backtest.State.QUEUED, Backtest.State.RUNNING}


def _figures(version: int, raw: dict[str, Any]) -> VersionFigures:
    return VersionFigures(
        version=version,
        accounts=raw["accounts"],
        cut=raw["cut"],
        closed=raw["closed"],
        goods_cut=raw["goods_cut"],
        bads_caught=raw["bads_caught"],
        bads_missed=raw["bads_missed"],
        exposure_from_bads=Decimal(raw["exposure_from_bads"]) / 100,
        exposure_from_goods=Decimal(raw["exposure_from_goods"]) / 100,
    )


def backtest_view(backtest: Backtest) -> BacktestView:
    """A back-test as its page shows it: both versions side by side, the differences
    (draft minus active) and the fairness of each cohort."""
    results = backtest.results or {}
    versions = results.get("versions", {})
    draft = _figures(backtest.policy.version, versions["draft"]) if "draft" in versions else None
    base = _figures(backtest.base.version, versions["base"]) if "base" in versions else None
    rows: list[ComparisonRow] = []
    if draft and base:
        for label, attribute, money in (
            (_("Accounts cut"), "cut", False),
            (_("Accounts closed"), "closed", False),
            (_("Good customers cut or closed"), "goods_cut", False),
            (_("Bad accounts caught (cut or closed)"), "bads_caught", False),
            (_("Bad accounts missed"), "bads_missed", False),
            (_("Exposure kept from bad accounts"), "exposure_from_bads", True),
            (_("Exposure taken from good customers"), "exposure_from_goods", True),
        ):
            before, after = getattr(base, attribute), getattr(draft, attribute)
            rows.append(ComparisonRow(label, attribute, before, after, after - before, money))
    return BacktestView(
        backtest=backtest,
        draft=draft,
        base=base,
        rows=rows,
        fairness=fairness_tables(
            versions.get("base", {}).get("cohorts", {}),
            versions.get("draft", {}).get("cohorts", {}),
        )
        if draft and base
        else [],
        accounts=results.get("accounts", 0),
        unseen=results.get("unseen", 0),
        goods=results.get("goods", 0),
        bads=results.get("bads", 0),
    )


def backtests_of(policy: Policy) -> list[Backtest]:
    return list(
        Backtest.objects.select_related("snapshot", "base", "started_by")
        .filter(policy=policy)
        .order_by("-created_at", "-id")[:20]
    )


def backtest_of(policy: Policy, backtest_id: int) -> Backtest | None:
    return (
        Backtest.objects.select_related("snapshot", "base", "policy", "started_by")
        .filter(policy=policy, pk=backtest_id)
        .first()
    )

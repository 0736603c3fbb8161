"""Reads of the portfolio history: which snapshots to compare, their stability,
drift, performance and fairness figures, and the open drift alerts
(docs/architecture.md, "The Monitoring page and drift alerts").

Everything here reads `Snapshot.stats` and `Snapshot.outcomes`, a few hundred
numbers per snapshot; nothing scans the snapshot rows.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.core.cache import cache
from django.db.models import F, JSONField, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.fields.json import KeyTransform
from django.utils.translation import gettext as _
from redis.exceptions import RedisError

import scoring
from accounts.models import Account
from accounts.signal_spec import SIGNALS_BY_NAME
from config import charts
from history import stats as history_stats
from history.models import DriftAlert, Snapshot
from policies.models import Policy
from scoring import metrics

# How many snapshots the run-over-run and performance tables show.
RECENT = 12
DRIFT_BANNER_CACHE_KEY = "limitdesk:drift-alerts"
DRIFT_BANNER_SECONDS = 300
REDUCE, CLOSE = scoring.REDUCE, scoring.CLOSE


def complete_snapshots() -> QuerySet[Snapshot]:
    """Complete snapshots, newest first."""
    return Snapshot.objects.filter(state=Snapshot.State.COMPLETE).order_by("-taken_on")


def latest_snapshot() -> Snapshot | None:
    return complete_snapshots().first()


def snapshot_on(day: date) -> Snapshot | None:
    """The complete snapshot taken on `day`."""
    return complete_snapshots().filter(taken_on=day).first()


def snapshot_dates() -> list[date]:
    """Dates of the complete snapshots, newest first (the page's pickers)."""
    return list(complete_snapshots().values_list("taken_on", flat=True))


def baseline_snapshot(current: Snapshot) -> Snapshot | None:
    """What `current` is compared with for stability: the latest complete snapshot
    taken before it and on or before the day its policy version was activated (the
    book the version was approved on); when there is none, the earliest complete
    snapshot before it; None when `current` is the first. The Monitoring page, the
    drift check and the circuit breaker all ask here; `current` may be unsaved (only
    its `taken_on` and `policy_version` are read)."""
    earlier = complete_snapshots().filter(taken_on__lt=current.taken_on)
    activated = (
        Policy.objects.filter(version=current.policy_version)
        .values_list("activated_at", flat=True)
        .first()
    )
    if activated is not None:
        found = earlier.filter(taken_on__lte=activated.date()).first()
        if found is not None:
            return found
    return earlier.order_by("taken_on").first()


def previous_snapshot(current: Snapshot) -> Snapshot | None:
    """The complete snapshot just before `current` (run over run)."""
    return complete_snapshots().filter(taken_on__lt=current.taken_on).first()


# --------------------------------------------------------------------------
# Stability


@dataclass(frozen=True)
class Index:
    """A PSI or CSI with its reading and the bins it was computed on."""

    name: str
    label: str
    value: float
    band: str  # "stable", "watch", "act" (scoring.metrics.stability)
    bins: list[dict[str, Any]] = field(default_factory=list)


def _bins(edges: tuple[float, ...], base: list[int], now: list[int]) -> list[dict[str, Any]]:
    base_total, now_total = sum(base) or 1, sum(now) or 1
    return [
        {
            "label": label,
            "baseline": b,
            "baseline_share": b / base_total,
            "current": c,
            "current_share": c / now_total,
        }
        for label, b, c in zip(history_stats.bin_labels(edges), base, now, strict=True)
    ]


def score_psi(current: Snapshot, baseline: Snapshot) -> Index | None:
    """The score's population stability index, current against baseline; None when
    either snapshot has no score counts."""
    base, now = baseline.stats.get("score_bins"), current.stats.get("score_bins")
    if not base or not now or not sum(base) or not sum(now) or len(base) != len(now):
        return None
    value = metrics.psi(base, now)
    return Index(
        "score",
        "score",
        value,
        metrics.stability(value),
        _bins(history_stats.SCORE_EDGES, base, now),
    )


def signal_csis(current: Snapshot, baseline: Snapshot) -> list[Index]:
    """Each signal's characteristic stability index, worst first."""
    base_all = baseline.stats.get("signal_bins") or {}
    now_all = current.stats.get("signal_bins") or {}
    out = []
    for name in scoring.INPUT_SIGNALS:
        base, now = base_all.get(name), now_all.get(name)
        if not base or not now or not sum(base) or not sum(now) or len(base) != len(now):
            continue
        value = metrics.psi(base, now)
        spec = SIGNALS_BY_NAME.get(name)
        out.append(
            Index(
                name,
                str(spec.label) if spec else name,
                value,
                metrics.stability(value),
                _bins(history_stats.signal_edges(name), base, now),
            )
        )
    return sorted(out, key=lambda index: (-index.value, index.name))


# --------------------------------------------------------------------------
# Run over run


def recent_snapshots(current: Snapshot, count: int = RECENT) -> list[Snapshot]:
    """The `count` complete snapshots up to and including `current`, oldest first."""
    found = list(complete_snapshots().filter(taken_on__lte=current.taken_on)[:count])
    return found[::-1]


def recent_figures(current: Snapshot, months: int, count: int = RECENT) -> list[Snapshot]:
    """As recent_snapshots, reading from each snapshot's figures only what the
    run-over-run and performance tables need (accounts, actions, reasons, the one
    outcome horizon), cut out by PostgreSQL: the snapshots come back partial, to be
    read, never saved."""
    found: list[Any] = list(
        complete_snapshots()
        .filter(taken_on__lte=current.taken_on)
        .defer("stats", "outcomes")
        .annotate(
            figures_accounts=KeyTransform("accounts", "stats"),
            figures_actions=KeyTransform("actions", "stats"),
            figures_reasons=KeyTransform("reasons", "stats"),
            # A key of digits would be read as an array index by KeyTransform.
            figures_outcomes=RawSQL(
                '"history_snapshot"."outcomes" -> %s', (str(months),), output_field=JSONField()
            ),
        )[:count]
    )
    for snapshot in found:
        snapshot.stats = {
            "accounts": snapshot.figures_accounts,
            "actions": snapshot.figures_actions or {},
            "reasons": snapshot.figures_reasons or {},
        }
        horizon = snapshot.figures_outcomes
        snapshot.outcomes = {str(months): horizon} if horizon else {}
    return found[::-1]


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _points(now: float | None, before: float | None) -> float | None:
    return None if now is None or before is None else (now - before) * 100


def run_rates(snapshot: Snapshot) -> dict[str, Any]:
    """A snapshot's cut and closure rates (shares of its accounts)."""
    accounts = int(snapshot.stats.get("accounts") or snapshot.accounts or 0)
    actions = snapshot.stats.get("actions") or {}
    cut, closed = int(actions.get(REDUCE, 0)), int(actions.get(CLOSE, 0))
    return {
        "taken_on": snapshot.taken_on,
        "accounts": accounts,
        "cut": cut,
        "closed": closed,
        "cut_rate": _rate(cut, accounts),
        "closure_rate": _rate(closed, accounts),
    }


def run_drift(snapshots: list[Snapshot]) -> list[dict[str, Any]]:
    """Cut and closure rates per snapshot (oldest first) with the change in
    percentage points against the snapshot before."""
    rows: list[dict[str, Any]] = []
    for snapshot in snapshots:
        row = run_rates(snapshot)
        before = rows[-1] if rows else None
        row["cut_change"] = _points(row["cut_rate"], before["cut_rate"]) if before else None
        row["closure_change"] = (
            _points(row["closure_rate"], before["closure_rate"]) if before else None
        )
        rows.append(row)
    return rows


def reason_shares(snapshot: Snapshot) -> dict[str, float]:
    """Each reason's share of the accounts cut or closed (an account may carry several
    reasons, so the shares may add up to more than 100 %)."""
    rates = run_rates(snapshot)
    adverse = rates["cut"] + rates["closed"]
    reasons = snapshot.stats.get("reasons") or {}
    return {code: n / adverse for code, n in reasons.items() if adverse}


def reason_mix(current: Snapshot, previous: Snapshot | None) -> list[dict[str, Any]]:
    """The reasons of the cuts and closures in `current` and `previous`, with the
    change in percentage points, largest move first."""
    now = reason_shares(current)
    before = reason_shares(previous) if previous is not None else {}
    codes = [code for code in scoring.TRIGGER_ORDER if code in now or code in before]
    rows = [
        {
            "code": code,
            "previous": before.get(code, 0.0) if previous is not None else None,
            "current": now.get(code, 0.0),
            "change": _points(now.get(code, 0.0), before.get(code, 0.0))
            if previous is not None
            else None,
        }
        for code in codes
    ]
    return sorted(rows, key=lambda row: -abs(row["change"] or 0.0))


# --------------------------------------------------------------------------
# Performance on realized outcomes


def performance_rows(snapshots: list[Snapshot], months: int) -> list[dict[str, Any]]:
    """Per snapshot (as given), the figures of its `months` horizon
    (history.performance), with rates; snapshots with none stored are left out."""
    out = []
    for snapshot in snapshots:
        figures = (snapshot.outcomes or {}).get(str(months))
        if not figures:
            continue
        seen = figures.get("seen") or 0
        out.append(
            {
                "taken_on": snapshot.taken_on,
                **figures,
                "bad30_rate": _rate(figures.get("bad30", 0), seen),
                "bad90_rate": _rate(figures.get("bad90", 0), seen),
                "bands": [
                    {
                        **band,
                        "bad30_rate": _rate(band["bad30"], band["seen"]),
                        "bad90_rate": _rate(band["bad90"], band["seen"]),
                    }
                    for band in figures.get("bands", [])
                ],
            }
        )
    return out


def latest_matured(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The newest row whose window has matured; else the newest row."""
    for row in reversed(rows):
        if row.get("matured"):
            return row
    return rows[-1] if rows else None


# --------------------------------------------------------------------------
# Fairness


def _segment_label(code: str) -> str:
    with contextlib.suppress(ValueError):
        return str(Account.Segment(code).label)
    return code


def fairness(snapshot: Snapshot) -> dict[str, list[dict[str, Any]]]:
    """Cut and closure rates per cohort (age band, segment) and each cohort's adverse
    impact ratio (scoring.metrics.adverse_impact, cut or closed being adverse)."""
    cohorts = (snapshot.stats.get("cohorts") or {}).copy()
    out: dict[str, list[dict[str, Any]]] = {}
    for kind in ("age", "segment"):
        groups: dict[str, dict[str, int]] = cohorts.get(kind) or {}
        if kind == "age":
            order = [label for label in history_stats.AGE_LABELS if label in groups]
        else:
            order = sorted(groups)
        impacts = metrics.adverse_impact(
            {label: (groups[label]["accounts"], groups[label]["cut"] + groups[label]["closed"])
             for label in order}
        )  # fmt: skip
        out[kind] = [
            {
                "cohort": impact.cohort,
                "label": _segment_label(impact.cohort) if kind == "segment" else impact.cohort,
                "accounts": impact.accounts,
                "cut": groups[impact.cohort]["cut"],
                "closed": groups[impact.cohort]["closed"],
                "cut_rate": _rate(groups[impact.cohort]["cut"], impact.accounts),
                "closure_rate": _rate(groups[impact.cohort]["closed"], impact.accounts),
                "ratio": impact.ratio,
                "flagged": impact.flagged,
            }
            for impact in impacts
        ]
    return out


# --------------------------------------------------------------------------
# Drift alerts


def open_alerts() -> QuerySet[DriftAlert]:
    """Alerts nobody has acknowledged, newest first."""
    return DriftAlert.objects.filter(acknowledged_at__isnull=True).select_related("snapshot")


def recent_alerts(limit: int = 20) -> list[DriftAlert]:
    """The latest alerts, those waiting for acknowledgement first; each with
    `subject_label`, its subject as people read it (a signal by its label)."""
    alerts = list(
        DriftAlert.objects.select_related("snapshot", "acknowledged_by").order_by(
            F("acknowledged_at").desc(nulls_first=True), "-raised_at", "-id"
        )[:limit]
    )
    for alert in alerts:
        alert.subject_label = _subject_label(alert)  # type: ignore[attr-defined]
    return alerts


def _subject_label(alert: DriftAlert) -> str:
    kind, subject = alert.kind, alert.subject
    if kind == DriftAlert.Kind.CSI and subject in SIGNALS_BY_NAME:
        return str(SIGNALS_BY_NAME[subject].label)
    if kind == DriftAlert.Kind.PSI:
        return _("score")
    if kind == DriftAlert.Kind.CUT_RATE:
        return _("share of accounts cut")
    if kind == DriftAlert.Kind.FAIRNESS and ": " in subject:
        cohort, label = subject.split(": ", 1)
        if cohort == "segment":
            return _("segment %(label)s") % {"label": _segment_label(label)}
        return _("age %(label)s") % {"label": label}
    return subject


def drift_banner() -> int:
    """How many drift alerts wait for acknowledgement: one count query, cached (the
    check and the acknowledgement clear the cache)."""
    try:
        cached = cache.get(DRIFT_BANNER_CACHE_KEY)
    except RedisError:
        cached = None
    if cached is None:
        cached = open_alerts().count()
        with contextlib.suppress(RedisError):
            cache.set(DRIFT_BANNER_CACHE_KEY, cached, DRIFT_BANNER_SECONDS)
    return int(cached)


def drift_banner_clear() -> None:
    with contextlib.suppress(RedisError):
        cache.delete(DRIFT_BANNER_CACHE_KEY)


# --------------------------------------------------------------------------
# The Monitoring page

HORIZON_CHOICES = (3, 6, 12)
BASELINE_COLOUR = charts.OKABE_ITO["blue"]
CURRENT_COLOUR = charts.OKABE_ITO["orange"]
CUT_COLOUR = charts.OKABE_ITO["orange"]
CLOSURE_COLOUR = charts.OKABE_ITO["vermillion"]


def _percent(share: float | None) -> float | None:
    return None if share is None else round(share * 100, 2)


def score_chart(index: Index) -> dict[str, Any]:
    """The two score distributions as shares of their snapshot (percent)."""
    return {
        "kind": "bar",
        "labels": [row["label"] for row in index.bins],
        "series": [
            {
                "label": _("Baseline (%)"),
                "data": [_percent(row["baseline_share"]) for row in index.bins],
                "color": BASELINE_COLOUR,
            },
            {
                "label": _("Current (%)"),
                "data": [_percent(row["current_share"]) for row in index.bins],
                "color": CURRENT_COLOUR,
            },
        ],
    }


def drift_chart(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Cut and closure rates per snapshot (percent of the accounts)."""
    return {
        "kind": "line",
        "labels": [row["taken_on"].isoformat() for row in rows],
        "series": [
            {
                "label": _("Cut rate (%)"),
                "data": [_percent(row["cut_rate"]) for row in rows],
                "color": CUT_COLOUR,
            },
            {
                "label": _("Closure rate (%)"),
                "data": [_percent(row["closure_rate"]) for row in rows],
                "color": CLOSURE_COLOUR,
            },
        ],
    }


def _parse_day(raw: str | None) -> date | None:
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


def monitoring(
    *, current_on: str | None = None, baseline_on: str | None = None, horizon: str | None = None
) -> dict[str, Any]:
    """Everything the Monitoring page shows, for the snapshots picked (ISO dates; the
    latest and its baseline by default) and the outcome horizon in months."""
    days = snapshot_dates()
    if not days:
        return {"empty": True, "dates": []}
    picked = _parse_day(current_on)
    current = (snapshot_on(picked) if picked else None) or latest_snapshot()
    if current is None:
        return {"empty": True, "dates": []}
    picked_base = _parse_day(baseline_on)
    baseline = snapshot_on(picked_base) if picked_base else None
    if baseline is None or baseline.pk == current.pk:
        baseline = baseline_snapshot(current)
    months = int(horizon) if horizon in {str(m) for m in HORIZON_CHOICES} else 12
    recent = recent_figures(current, months)
    previous = recent[-2] if len(recent) > 1 else None
    score = score_psi(current, baseline) if baseline is not None else None
    drift_rows = run_drift(recent)
    performance = performance_rows(recent, months)
    return {
        "empty": False,
        "dates": days,
        "current": current,
        "baseline": baseline,
        "previous": previous,
        "score": score,
        "score_chart": score_chart(score) if score is not None else None,
        "signals": signal_csis(current, baseline) if baseline is not None else [],
        "drift": drift_rows,
        "drift_chart": drift_chart(drift_rows),
        "reasons": reason_mix(current, previous),
        "horizon": months,
        "horizons": HORIZON_CHOICES,
        "performance": performance,
        "performance_detail": latest_matured(performance),
        "fairness": fairness(current),
        "air_flag": metrics.AIR_FLAG,
        "psi_watch": metrics.PSI_WATCH,
        "psi_act": metrics.PSI_ACT,
        "alerts": recent_alerts(),
    }

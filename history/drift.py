"""Drift alerts: the stability thresholds checked on the latest snapshot, and their
acknowledgement (docs/architecture.md, "The Monitoring page and drift alerts").

Idempotent: an alert is one row per kind, subject and snapshot (a unique
constraint), so running the check again raises nothing new.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from history import selectors
from history.models import DriftAlert, Snapshot
from scoring import metrics


def _threshold(name: str, default: float) -> float:
    return float(getattr(settings, name, default))


def drift_findings(current: Snapshot) -> list[tuple[str, str, float, float]]:
    """(kind, subject, value, threshold) of every threshold `current` crosses: score
    PSI and any CSI against the baseline, cut rate and reason shares moved run over
    run (percentage points), a cohort's adverse impact ratio below the flag."""
    found: list[tuple[str, str, float, float]] = []
    psi_at = _threshold("DRIFT_PSI_ALERT", metrics.PSI_ACT)
    csi_at = _threshold("DRIFT_CSI_ALERT", metrics.PSI_ACT)
    baseline = selectors.baseline_snapshot(current)
    if baseline is not None:
        score = selectors.score_psi(current, baseline)
        if score is not None and score.value >= psi_at:
            found.append((DriftAlert.Kind.PSI, "score", score.value, psi_at))
        found += [
            (DriftAlert.Kind.CSI, index.name, index.value, csi_at)
            for index in selectors.signal_csis(current, baseline)
            if index.value >= csi_at
        ]
    previous = selectors.previous_snapshot(current)
    if previous is not None:
        cut_points = _threshold("DRIFT_CUT_RATE_POINTS", 5.0)
        now, before = selectors.run_rates(current), selectors.run_rates(previous)
        if now["cut_rate"] is not None and before["cut_rate"] is not None:
            moved = (now["cut_rate"] - before["cut_rate"]) * 100
            if abs(moved) > cut_points:
                found.append((DriftAlert.Kind.CUT_RATE, "cut rate", moved, cut_points))
        mix_points = _threshold("DRIFT_REASON_MIX_POINTS", 10.0)
        found += [
            (DriftAlert.Kind.REASON_MIX, row["code"], row["change"], mix_points)
            for row in selectors.reason_mix(current, previous)
            if row["change"] is not None and abs(row["change"]) > mix_points
        ]
    air_below = _threshold("DRIFT_AIR_ALERT", metrics.AIR_FLAG)
    for kind, rows in selectors.fairness(current).items():
        found += [
            (DriftAlert.Kind.FAIRNESS, f"{kind}: {row['cohort']}", row["ratio"], air_below)
            for row in rows
            if row["ratio"] is not None and row["ratio"] < air_below
        ]
    return found


def check_drift() -> list[DriftAlert]:
    """Raise an alert for each threshold the latest complete snapshot crosses that
    has none yet; the alerts raised now."""
    current = selectors.latest_snapshot()
    if current is None:
        return []
    raised = []
    with transaction.atomic():
        for kind, subject, value, threshold in drift_findings(current):
            alert, created = DriftAlert.objects.get_or_create(
                kind=kind,
                subject=subject[:60],
                snapshot=current,
                defaults={
                    "value": _decimal(value),
                    "threshold": _decimal(threshold),
                },
            )
            if created:
                raised.append(alert)
    if raised:
        selectors.drift_banner_clear()
    return raised


def _decimal(value: Any) -> Decimal:
    return Decimal(f"{float(value):.4f}")


class AlertError(ValueError):
    """The alert cannot be acknowledged (already acknowledged)."""


def acknowledge_alert(*, alert_id: int, user: Any) -> DriftAlert:
    """Record that `user` has seen the alert and taken it in hand."""
    with transaction.atomic():
        alert = DriftAlert.objects.select_for_update().get(pk=alert_id)
        if alert.acknowledged_at is not None:
            raise AlertError(_("This alert was already acknowledged."))
        alert.acknowledged_by = user
        alert.acknowledged_at = timezone.now()
        alert.save(update_fields=["acknowledged_by", "acknowledged_at"])
    selectors.drift_banner_clear()
    return alert

"""Chart data for static/js/charts.js: plain dicts, no ORM.

Every chart on a page also has a table with the same figures (the
accessible alternative); these dicts only feed the drawing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.utils.translation import gettext as _

ACTION_COLOURS = {
    "raise": "#1d6b35",
    "reopen": "#2f8f5b",
    "restore": "#5a8fc2",
    "reduce": "#c26a00",
    "close": "#a4161a",
    "freeze": "#6b5a9e",
    "unfreeze": "#8c7fb8",
    "set": "#0b4f8a",
}


def contributions_chart(rows: Sequence[Any]) -> dict[str, Any]:
    """Points each signal lost against its best bin, largest loss first."""
    lost = [row for row in rows if row.lost]
    return {
        "kind": "bar",
        "horizontal": True,
        "labels": [str(row.label) for row in lost],
        "series": [
            {
                "label": _("Points below best"),
                "data": [-row.lost for row in lost],
                "color": "#c26a00",
            },
        ],
    }


def limit_history_chart(points: Sequence[Any], *, today: Any, limit_now: Any) -> dict[str, Any]:
    """The limit after each decision, with the line drawn on to today's limit."""
    labels = [point.at.strftime("%Y-%m-%d") for point in points]
    values = [float(point.limit) for point in points]
    if points and labels[-1] != today.strftime("%Y-%m-%d"):
        labels.append(today.strftime("%Y-%m-%d"))
        values.append(float(limit_now))
    return {
        "kind": "line",
        "stepped": True,
        "money": True,
        "labels": labels,
        "series": [{"label": _("Limit"), "data": values, "color": "#0b4f8a"}],
    }


def changes_per_day_chart(
    days: Sequence[str], series: Sequence[tuple[str, str, Sequence[int]]]
) -> dict[str, Any]:
    """series: (action, label, counts per day)."""
    return {
        "kind": "bar",
        "stacked": True,
        "labels": list(days),
        "series": [
            {
                "label": str(label),
                "data": list(counts),
                "color": ACTION_COLOURS.get(action, "#4f5b69"),
            }
            for action, label, counts in series
        ],
    }


def impact_chart(impacts: Sequence[Any]) -> dict[str, Any]:
    """Accounts cut or closed, and raised, per band: one bar per version (simulation)."""
    bands: list[str] = []
    for impact in impacts:
        bands += [row["band"] for row in impact.bands if row["band"] not in bands]
    colours = (("#8c6d46", "#7aa37f"), ("#c26a00", "#1d6b35"))
    series = []
    for impact, (down, up) in zip(impacts, colours, strict=False):
        per_band = {row["band"]: row for row in impact.bands}
        series.append(
            {
                "label": _("v%(version)s: cut or closed") % {"version": impact.version},
                "data": [
                    per_band.get(b, {}).get("down", 0) + per_band.get(b, {}).get("closed", 0)
                    for b in bands
                ],
                "color": down,
            }
        )
        series.append(
            {
                "label": _("v%(version)s: raised") % {"version": impact.version},
                "data": [per_band.get(b, {}).get("up", 0) for b in bands],
                "color": up,
            }
        )
    return {"kind": "bar", "labels": bands, "series": series}

"""Chart data for static/js/charts.js: plain dicts, no ORM.

Every chart on a page also has a table with the same figures (the
accessible alternative); these dicts only feed the drawing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.utils.translation import gettext as _

# The Okabe–Ito palette: eight colours that stay apart for people with protanopia,
# deuteranopia or tritanopia (tests/config/test_palette.py simulates each; a chart's
# series must stay pairwise distinguishable under all three).
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}
ACTION_COLOURS = {
    "raise": OKABE_ITO["bluish_green"],
    "reopen": OKABE_ITO["sky_blue"],
    "restore": OKABE_ITO["blue"],
    "reduce": OKABE_ITO["orange"],
    "close": OKABE_ITO["vermillion"],
    "freeze": OKABE_ITO["reddish_purple"],
    "unfreeze": OKABE_ITO["black"],
    "set": OKABE_ITO["yellow"],
}
LIMIT_COLOUR = OKABE_ITO["blue"]
SCORE_COLOUR = OKABE_ITO["vermillion"]
LOSS_COLOUR = OKABE_ITO["vermillion"]
# (cut or closed, raised) of the active version, then of the simulated one.
IMPACT_COLOURS = (
    (OKABE_ITO["orange"], OKABE_ITO["sky_blue"]),
    (OKABE_ITO["vermillion"], OKABE_ITO["blue"]),
)


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
                "color": LOSS_COLOUR,
            },
        ],
    }


def score_limit_trend_chart(
    points: Sequence[Any], *, now: Any, score_now: int | None, limit_now: Any
) -> dict[str, Any]:
    """Score and limit against time: x is milliseconds since the epoch (UTC) on a linear
    axis, so decisions months apart are drawn months apart; each line holds its value
    until the next point and is drawn on to `now` with the account's figures now."""

    def ms(at: Any) -> int:
        return int(at.timestamp() * 1000)

    limit = [{"x": ms(p.at), "y": float(p.limit)} for p in points]
    score = [{"x": ms(p.at), "y": p.score} for p in points if p.score is not None]
    if points and ms(now) > ms(points[-1].at):
        limit.append({"x": ms(now), "y": float(limit_now), "now": True})
        if score_now is not None:
            score.append({"x": ms(now), "y": score_now, "now": True})
    return {
        "kind": "time",
        "stepped": True,
        "series": [
            {"label": _("Limit"), "data": limit, "color": LIMIT_COLOUR, "axis": "money"},
            {"label": _("Score"), "data": score, "color": SCORE_COLOUR, "axis": "score"},
        ],
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
    colours = IMPACT_COLOURS
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


# Customer notices (docs/architecture.md, "Notices: timeliness"): on time, late, not yet
# due, failed, not required.
NOTICE_COLOURS = {
    "on_time": OKABE_ITO["bluish_green"],
    "late": OKABE_ITO["orange"],
    "pending": OKABE_ITO["sky_blue"],
    "failed": OKABE_ITO["vermillion"],
    "not_required": OKABE_ITO["black"],
}


def notice_timeliness_chart(days: Sequence[Any]) -> dict[str, Any]:
    """Notices per day of decision, stacked by how their delivery went; `days` are rows
    with `key` (the day) and a count per NOTICE_COLOURS name."""
    labels = {
        "on_time": _("Sent within the clock"),
        "late": _("Late"),
        "pending": _("Pending, not yet due"),
        "failed": _("Failed"),
        "not_required": _("Not required"),
    }
    return {
        "kind": "bar",
        "stacked": True,
        "labels": [row.key for row in days],
        "series": [
            {
                "label": str(label),
                "data": [getattr(row, name) for row in days],
                "color": NOTICE_COLOURS[name],
            }
            for name, label in labels.items()
        ],
    }

"""What a policy version would do to the portfolio, and who gets a version in
staged rollout. Pure (numpy, hashlib), no ORM.

A simulation scores every chunk of accounts with the draft and with the
active version (the compute phase of a run, decisions.runs); each chunk is
summed up here and the summaries are merged into the results page.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

import scoring
from scoring import cohorts

TOP_MOVERS = 20


def chunk_summary(
    ids: np.ndarray,
    old_limit: np.ndarray,
    old_status: np.ndarray,
    result: scoring.ChunkResult,
    rules: scoring.PolicyRules,
    *,
    ages: np.ndarray | None = None,
    segments: np.ndarray | None = None,
    segment_labels: Sequence[str] = (),
) -> dict[str, Any]:
    """One version's outcome on one chunk: counts per band and action, exposure
    before and after (active lines, in cents), reasons of the moves, the largest moves;
    with `ages` and `segments` (per account, indexes into `segment_labels`), cuts and
    closures per fairness cohort."""
    names = [band.name for band in rules.bands]
    action_names = np.asarray(scoring.ACTIONS)[result.action]
    band_names = np.asarray(names)[result.band]
    counts: dict[str, dict[str, int]] = {}
    for band, action in zip(band_names.tolist(), action_names.tolist(), strict=True):
        row = counts.setdefault(band, {})
        row[action] = row.get(action, 0) + 1
    active = scoring.STATUS_CODES["active"]
    exposure_before = int(old_limit[old_status == active].sum())
    exposure_after = int(result.new_limit[result.new_status == active].sum())
    moved = result.action != scoring.ACTION_CODES[scoring.KEEP]
    reasons: Counter[str] = Counter()
    for code in scoring.TRIGGER_ORDER:
        reasons[code] = int(((result.triggers & scoring.TRIGGER_BITS[code]) != 0)[moved].sum())
    reasons[scoring.GOOD_HISTORY] = int(
        (result.action == scoring.ACTION_CODES[scoring.RAISE]).sum()
    )
    reasons[scoring.REOPENED] = int((result.action == scoring.ACTION_CODES[scoring.REOPEN]).sum())
    change = result.new_limit - old_limit
    order = np.argsort(-np.abs(change), kind="stable")[:TOP_MOVERS]
    movers = [
        [int(ids[i]), int(old_limit[i]), int(result.new_limit[i]), str(action_names[i])]
        for i in order
        if change[i] != 0
    ]
    cut = result.action == scoring.ACTION_CODES[scoring.REDUCE]
    closed = result.action == scoring.ACTION_CODES[scoring.CLOSE]
    fairness: dict[str, Any] = {}
    if ages is not None:
        fairness["age"] = cohorts.cohort_counts(
            cohorts.age_index(ages), cohorts.AGE_LABELS, cut, closed
        )
    if segments is not None and segment_labels:
        fairness["segment"] = cohorts.cohort_counts(segments, segment_labels, cut, closed)
    return {
        "accounts": len(ids),
        "counts": counts,
        "cohorts": fairness,
        "exposure_before": exposure_before,
        "exposure_after": exposure_after,
        "reasons": {code: n for code, n in reasons.items() if n},
        "movers": movers,
    }


def merge_summaries(summaries: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    total: dict[str, Any] = {
        "accounts": 0,
        "counts": {},
        "exposure_before": 0,
        "exposure_after": 0,
        "reasons": {},
        "movers": [],
        "cohorts": {},
    }
    for part in summaries:
        total["cohorts"] = cohorts.merge_counts(total["cohorts"], part.get("cohorts", {}))
        total["accounts"] += part["accounts"]
        total["exposure_before"] += part["exposure_before"]
        total["exposure_after"] += part["exposure_after"]
        for band, row in part["counts"].items():
            into = total["counts"].setdefault(band, {})
            for action, n in row.items():
                into[action] = into.get(action, 0) + n
        for code, n in part["reasons"].items():
            total["reasons"][code] = total["reasons"].get(code, 0) + n
        total["movers"].extend(part["movers"])
    total["movers"].sort(key=lambda m: (-abs(m[2] - m[1]), m[0]))
    total["movers"] = total["movers"][:TOP_MOVERS]
    return total


def action_totals(summary: Mapping[str, Any]) -> dict[str, int]:
    """Accounts per outcome: up (raised, reopened), down (reduced), closed, unchanged."""
    totals = {"up": 0, "down": 0, "closed": 0, "unchanged": 0}
    for row in summary.get("counts", {}).values():
        for action, n in row.items():
            totals[_direction(action)] += n
    return totals


def band_rows(summary: Mapping[str, Any], bands: Sequence[str]) -> list[dict[str, Any]]:
    """Per band (in the version's order): up, down, closed, unchanged."""
    rows = []
    for band in bands:
        totals = {"band": band, "up": 0, "down": 0, "closed": 0, "unchanged": 0}
        for action, n in summary.get("counts", {}).get(band, {}).items():
            totals[_direction(action)] += n
        rows.append(totals)
    return rows


def _direction(action: str) -> str:
    if action in {scoring.RAISE, scoring.REOPEN}:
        return "up"
    if action == scoring.REDUCE:
        return "down"
    if action == scoring.CLOSE:
        return "closed"
    return "unchanged"


def rules_diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """(threshold, before, after) for every threshold that differs; bands as
    "bands.<name>.min_score" / ".ceiling", a band only on one side as missing."""
    changes: list[tuple[str, Any, Any]] = []
    for key in sorted(set(before) | set(after)):
        if key == "bands":
            continue
        if str(before.get(key)) != str(after.get(key)):
            changes.append((key, before.get(key), after.get(key)))
    old_bands = {b["name"]: b for b in before.get("bands", [])}
    new_bands = {b["name"]: b for b in after.get("bands", [])}
    for name in list(old_bands) + [n for n in new_bands if n not in old_bands]:
        for part in ("min_score", "ceiling"):
            old = old_bands.get(name, {}).get(part)
            new = new_bands.get(name, {}).get(part)
            if str(old) != str(new):
                changes.append((f"bands.{name}.{part}", old, new))
    return changes

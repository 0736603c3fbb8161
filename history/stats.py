"""The distributions a snapshot keeps beside its rows: score and signal bins,
bands, actions and cohorts. Pure numpy, no ORM (docs/architecture.md,
"Portfolio history").

Each chunk of a run computes `row_stats` of its rows; the snapshot's `stats` is
their `merge`. The monitor and the circuit breaker read these counts, never the
rows, so a PSI of the whole book costs microseconds.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

import scoring

# The fairness age bands live in scoring, where simulations read them too.
from scoring.cohorts import AGE_EDGES, AGE_LABELS, age_band  # noqa: F401

if TYPE_CHECKING:
    from history.snapshots import SnapshotRows

# Score bins for the population stability index: 350-399, 400-449, ..., 900-950.
SCORE_EDGES: tuple[float, ...] = tuple(float(edge) for edge in range(400, 950, 50))

_SCORECARD_EDGES = {c.signal: c.edges for c in scoring.SCORECARD}
# Signals the scorecard does not bin: the rules' own.
_RULE_EDGES: dict[str, tuple[float, ...]] = {
    "age": AGE_EDGES,
    "real_name_verified": (0.5,),
    "bank_card_bound": (0.5,),
}


def signal_edges(name: str) -> tuple[float, ...]:
    """A signal's bins for its characteristic stability index: the scorecard's own
    attributes where it scores the signal. Bin i holds [edges[i-1], edges[i])."""
    return _SCORECARD_EDGES.get(name) or _RULE_EDGES[name]


def bin_labels(edges: Iterable[float]) -> list[str]:
    """ "< 1", "1 to < 8", ..., ">= 61"."""
    bounds = [_plain(edge) for edge in edges]
    if not bounds:
        return ["all"]
    labels = [f"< {bounds[0]}"]
    labels += [f"{low} to < {high}" for low, high in itertools.pairwise(bounds)]
    return [*labels, f">= {bounds[-1]}"]


def _plain(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def counts(values: np.ndarray, edges: tuple[float, ...]) -> list[int]:
    """How many values fall in each bin (as Characteristic.points_for bins them)."""
    index = np.searchsorted(np.asarray(edges, dtype=np.float64), values, side="right")
    return np.bincount(index, minlength=len(edges) + 1).astype(int).tolist()


def row_stats(
    rows: SnapshotRows, segments: tuple[str, ...], triggers: np.ndarray | None = None
) -> dict[str, Any]:
    """The distributions of these snapshot rows; with `triggers` (scoring.TRIGGER_BITS
    per row, as ChunkResult.triggers), the reason mix of the cuts and closures."""
    codes = scoring.ACTION_CODES
    cut = rows.action == codes[scoring.REDUCE]
    closed = rows.action == codes[scoring.CLOSE]
    active = scoring.STATUS_CODES["active"]
    ages = rows.signals[:, scoring.INPUT_SIGNALS.index("age")]
    age_index = np.searchsorted(np.asarray(AGE_EDGES), ages, side="right")

    def cohort(index: np.ndarray, labels: tuple[str, ...]) -> dict[str, dict[str, int]]:
        out = {}
        for position, label in enumerate(labels):
            mine = index == position
            if mine.any():
                out[label] = {
                    "accounts": int(mine.sum()),
                    "cut": int((mine & cut).sum()),
                    "closed": int((mine & closed).sum()),
                }
        return out

    versions, bands = rows.policy_version.astype(np.int64), rows.band.astype(np.int64)
    band_counts: dict[str, int] = {}
    for version in np.unique(versions).tolist():
        mine = versions == version
        for band, n in enumerate(np.bincount(bands[mine & (bands >= 0)], minlength=0).tolist()):
            if n:
                band_counts[f"{version}:{band}"] = n
    reasons: dict[str, int] = {}
    if triggers is not None:
        adverse = np.asarray(triggers, dtype=np.int64)[cut | closed]
        for code in scoring.TRIGGER_ORDER:
            n = int(((adverse & scoring.TRIGGER_BITS[code]) != 0).sum())
            if n:
                reasons[code] = n
    return {
        "accounts": len(rows),
        "reasons": reasons,
        "score_bins": counts(rows.score.astype(np.float64), SCORE_EDGES),
        "signal_bins": {
            name: counts(rows.signals[:, i], signal_edges(name))
            for i, name in enumerate(scoring.INPUT_SIGNALS)
        },
        "actions": {
            name: int((rows.action == code).sum())
            for name, code in codes.items()
            if (rows.action == code).any()
        },
        "bands": band_counts,
        "cohorts": {
            "age": cohort(age_index, AGE_LABELS),
            "segment": cohort(rows.segment.astype(np.int64), segments),
        },
        "exposure_before": int(rows.limit_before[rows.status_before == active].sum()),
        "exposure_after": int(rows.limit_after[rows.status_after == active].sum()),
    }


def merge(parts: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The sum of several chunks' stats: numbers add, lists add by position,
    mappings merge key by key."""
    total: dict[str, Any] = {}
    for part in parts:
        total = _add(total, part)
    return total


def _add(into: Any, part: Any) -> Any:
    if isinstance(part, Mapping):
        out = dict(into) if isinstance(into, Mapping) else {}
        for key, value in part.items():
            out[key] = _add(out.get(key), value)
        return out
    if isinstance(part, list):
        base = list(into) if isinstance(into, list) else [0] * len(part)
        base += [0] * (len(part) - len(base))
        return [a + b for a, b in zip(base, part, strict=False)] + base[len(part) :]
    return (into or 0) + part

"""The incremental nightly run: which accounts a run advances without scoring them,
and the marks that say so (docs/architecture.md, "The incremental nightly run").

A portfolio run under one policy version marks each account it kept (no limit
change) as steady: scored again with the same signals, at the same version, under
the same policy and before a cool-down or decrease protection it was scored under
ends, it keeps its limit, score and band again, and its good cycles go one up (to
the policy's cap) or stay at 0. Only the step that brings the good cycles to the cap
can raise or reopen the line; that step is scored. So a nightly run scores the
accounts without a valid mark and advances the others here, by arithmetic on the
columns the account already holds, without reading its signals.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
from django.db import connection

import scoring
from accounts.book import SEGMENTS, load_chunk

# An account `a` of the id range (parameters 1 and 2, repeated so the marks are read
# by their key's range, not scanned whole) the run may advance without scoring:
# marked under this policy (3), at its present version, before the mark falls due
# (4), and not at the good-cycle step that reaches the cap (5) and may raise it.
STEADY_WHERE = """
EXISTS (
    SELECT 1 FROM decisions_steadyaccount AS m
    WHERE m.account_id = a.id AND m.account_id BETWEEN %s AND %s
      AND m.policy_id = %s AND m.version = a.version
      AND (m.due_at IS NULL OR m.due_at > %s)
      AND NOT (a.good_cycles > 0 AND a.good_cycles = %s - 1)
)
"""

_STEADY_ROWS_SQL = f"""
    SELECT a.id, (a.current_limit * 100)::int8,
           (CASE a.status WHEN 'active' THEN 0 WHEN 'frozen' THEN 1 ELSE 2 END),
           a.version, a.good_cycles, a.score,
           COALESCE(array_position(%s::text[], a.band::text), 0) - 1,
           COALESCE(array_position(%s::text[], a.segment::text), 0) - 1,
           (a.cooldown_until IS NOT NULL AND a.cooldown_until > %s)::int,
           COALESCE(EXTRACT(DAY FROM %s - a.restored_at)::int8, {scoring.NEVER_RESTORED})
    FROM accounts_account AS a
    WHERE a.id BETWEEN %s AND %s AND {STEADY_WHERE}
    ORDER BY a.id
"""  # noqa: S608 - constants from code, values are parameters

_MARK_SQL = """
    INSERT INTO decisions_steadyaccount (account_id, policy_id, version, due_at)
    SELECT a.id, %(policy)s, u.version,
           LEAST(
               CASE WHEN a.cooldown_until > %(since)s THEN a.cooldown_until END,
               CASE WHEN a.restored_at + make_interval(days => %(protection)s) > %(since)s
                    THEN a.restored_at + make_interval(days => %(protection)s) END
           )
    FROM unnest(%(ids)s::int8[], %(versions)s::int8[], %(rows)s::int8[])
         AS u (id, version, signals_row)
    JOIN accounts_account AS a ON a.id = u.id
    JOIN accounts_accountsignals AS s
      ON s.account_id = u.id AND s.xmin::text::int8 = u.signals_row
    ORDER BY a.id
    FOR SHARE OF s
    ON CONFLICT (account_id) DO UPDATE
    SET policy_id = EXCLUDED.policy_id, version = EXCLUDED.version, due_at = EXCLUDED.due_at
    WHERE (decisions_steadyaccount.policy_id, decisions_steadyaccount.version,
           decisions_steadyaccount.due_at)
          IS DISTINCT FROM (EXCLUDED.policy_id, EXCLUDED.version, EXCLUDED.due_at)
"""


def steady_where(
    *, span: tuple[int, int], policy_id: int, cap: int, now: datetime
) -> tuple[str, list[Any]]:
    """STEADY_WHERE with its parameters, for accounts.book.load_chunk's `unless`."""
    return STEADY_WHERE, [*span, policy_id, now, cap]


def _steady_part(
    compiled: scoring.CompiledRules,
    policy_id: int,
    span: tuple[int, int],
    bands: list[str],
    now: datetime,
) -> tuple[scoring.ChunkInput, scoring.ChunkResult]:
    """The steady accounts of an id range, advanced: what scoring them would give.

    Their signals are not read: the input's signals, the result's points and
    triggers are zeros, which a run reads only for accounts whose limit moves and
    for a snapshot's rows; a run writing a snapshot is never incremental."""
    rules = compiled.rules
    where = steady_where(span=span, policy_id=policy_id, cap=rules.raise_good_cycles, now=now)
    with connection.cursor() as cursor:
        cursor.execute(_STEADY_ROWS_SQL, [bands, list(SEGMENTS), now, now, *span, *where[1]])
        table = np.asarray(cursor.fetchall(), dtype=np.int64).reshape(-1, 10)
    ids, limit, status, version, good_cycles, score, band, segment, cooling, restored = table.T
    n = len(ids)
    data = scoring.ChunkInput(
        ids=ids,
        limit=limit,
        status=status,
        version=version,
        good_cycles=good_cycles,
        score=score,
        band=band,
        bucket=np.zeros(n, dtype=np.int64),
        in_cooldown=cooling.astype(bool),
        signals=np.zeros((n, len(scoring.INPUT_SIGNALS)), dtype=np.float64),
        segment=segment,
        days_since_restoration=restored,
        signals_row=np.zeros(n, dtype=np.int64),
    )
    result = scoring.ChunkResult(
        action=np.full(n, scoring.ACTION_CODES[scoring.KEEP], dtype=np.int64),
        new_limit=limit.copy(),
        new_status=status.copy(),
        score=score.copy(),
        band=band.copy(),
        points=np.zeros((n, len(scoring.SCORECARD)), dtype=np.int64),
        triggers=np.zeros(n, dtype=np.int64),
        # Good (a cycle ran, so at least 1): one more, to the cap; not good: 0 stays 0.
        good_cycles=np.where(
            good_cycles > 0, np.minimum(good_cycles + 1, rules.raise_good_cycles), 0
        ),
    )
    return data, result


def _joined(parts: list[Any]) -> Any:
    """The fields of these dataclass rows (ChunkInput or ChunkResult), one part after
    the other."""
    first = parts[0]
    fields: dict[str, Any] = {}
    for name in first.__dataclass_fields__:
        values = [getattr(part, name) for part in parts]
        fields[name] = None if any(v is None for v in values) else np.concatenate(values)
    return type(first)(**fields)


def score_incrementally(
    compiled: scoring.CompiledRules,
    policy_id: int,
    span: tuple[int, int],
    bands: list[str],
    now: datetime,
) -> tuple[scoring.ChunkInput, scoring.ChunkResult, np.ndarray]:
    """An id range as a nightly run sees it: the accounts without a valid steady mark
    loaded and scored by the vectorised policy, the others advanced. The scored rows
    first, then the advanced ones (each part in id order: what a run reads of a chunk
    does not depend on the order, and an incremental run writes no snapshot), and
    which rows were scored. `policy_id`: the version `compiled` is; `span`: the first
    and last account id."""
    unless = steady_where(
        span=span, policy_id=policy_id, cap=compiled.rules.raise_good_cycles, now=now
    )
    data = load_chunk(*span, bands, unless=unless, now=now)
    result = scoring.score_chunk(compiled, data, cycle=True)
    steady_data, steady_result = _steady_part(compiled, policy_id, span, bands, now)
    scored = np.concatenate([np.ones(len(data.ids), bool), np.zeros(len(steady_data.ids), bool)])
    return _joined([data, steady_data]), _joined([result, steady_result]), scored


def steady_marks(
    *,
    policy_id: int,
    ids: np.ndarray,
    versions: np.ndarray,
    signals_rows: np.ndarray,
    since: datetime,
    protection_days: int,
) -> int:
    """Mark these accounts steady, kept by a run started at `since` and scored at these
    versions and signals: only those whose signals are still the ones scored (their
    row's xmin), the signals rows share-locked till the commit, so a change to them
    waits and then deletes the mark. A cool-down or protection ending after `since`
    makes the mark fall due then. The number of marks written or changed."""
    if not len(ids):
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            _MARK_SQL,
            {
                "policy": policy_id,
                "since": since,
                "protection": protection_days,
                "ids": ids.tolist(),
                "versions": versions.tolist(),
                "rows": signals_rows.tolist(),
            },
        )
        return cursor.rowcount


def steady_share(*, policy_id: int, accounts: int) -> float:
    """The share of a book of `accounts` accounts marked steady under this policy (some
    marks may no longer hold: an account changed since by a decision keeps its mark
    until a run looks at it)."""
    if not accounts:
        return 0.0
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM decisions_steadyaccount WHERE policy_id = %s", [policy_id]
        )
        return int(cursor.fetchone()[0]) / accounts

"""Reads of the evidence pack (docs/architecture.md, "Evidence pack").

Every table is computed in PostgreSQL (aggregates, one query each; the chain heads
by COPY), in a fixed order, from the data alone: what a table says depends on the
period and the database, never on when it is read. The build reads them all in one
REPEATABLE READ snapshot (`compliance.services`).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import QuerySet

from compliance import segment
from compliance.models import EvidencePack
from compliance.pack import Period, Table, rate, utc_text
from config import db
from config.csv_export import FORMULA_SAFE_SQL
from decisions.chain import HASHED_FIELDS
from decisions.services import JSON_COLUMNS


def packs() -> QuerySet[EvidencePack]:
    return EvidencePack.objects.select_related("started_by").order_by("-created_at", "-id")[:50]


def pack(pack_id: int) -> EvidencePack | None:
    return EvidencePack.objects.select_related("started_by").filter(pk=pack_id).first()


def _rows(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [tuple(row) for row in cursor.fetchall()]


# --------------------------------------------------------------------------
# Decisions


def decisions_by_action(period: Period) -> Table:
    rows = _rows(
        """
        SELECT action, source, count(*), sum(old_limit), sum(new_limit),
               sum(new_limit - old_limit)
        FROM decisions_limitdecision
        WHERE created_at >= %s AND created_at < %s
        GROUP BY action, source ORDER BY action, source
        """,
        [period.start, period.end],
    )
    return Table(
        "decisions_by_action.csv",
        ("action", "source", "decisions", "limit_before_total", "limit_after_total", "change"),
        rows,
    )


def decisions_by_reason(period: Period) -> Table:
    """Each reason a decision states, by action: how often it was the principal one
    (stated first, the deciding rule) and how often it was stated at all."""
    rows = _rows(
        """
        SELECT r.code, d.action, count(*) FILTER (WHERE r.position = 1), count(*)
        FROM decisions_limitdecision d
        CROSS JOIN LATERAL jsonb_array_elements_text(d.reasons)
            WITH ORDINALITY AS r(code, position)
        WHERE d.created_at >= %s AND d.created_at < %s
        GROUP BY r.code, d.action ORDER BY r.code, d.action
        """,
        [period.start, period.end],
    )
    return Table("decisions_by_reason.csv", ("reason", "action", "as_principal", "stated"), rows)


def decisions_by_day(period: Period) -> Table:
    rows = _rows(
        """
        SELECT (created_at AT TIME ZONE 'UTC')::date AS day, action, count(*)
        FROM decisions_limitdecision
        WHERE created_at >= %s AND created_at < %s
        GROUP BY day, action ORDER BY day, action
        """,
        [period.start, period.end],
    )
    return Table("decisions_by_day.csv", ("day_utc", "action", "decisions"), rows)


# --------------------------------------------------------------------------
# Policy versions


def policy_versions(period: Period) -> tuple[Table, list[int]]:
    """The versions in force at some time in the period (active for every account or in
    staged rollout), with who wrote and who approved each, and the period's decisions
    each scored; and their version numbers."""
    rows = _rows(
        """
        WITH spans AS (
            SELECT p.id, p.version,
                   least(p.activated_at, (
                       SELECT min(e.at) FROM policies_policyevent e
                       WHERE e.policy_id = p.id AND e.action IN ('activated', 'rollout')
                   )) AS from_at,
                   least(p.retired_at, (
                       SELECT min(e.at) FROM policies_policyevent e
                       WHERE e.policy_id = p.id AND e.action = 'rolled_back'
                         AND p.state <> 'active'
                   )) AS until_at
            FROM decisions_policy p
        ),
        scored AS (
            SELECT policy_version, count(*) AS decisions
            FROM decisions_limitdecision
            WHERE created_at >= %s AND created_at < %s AND policy_version IS NOT NULL
            GROUP BY policy_version
        )
        SELECT p.version, p.state, author.username, approver.username, p.created_at,
               p.submitted_at, p.reviewed_at, s.from_at, s.until_at, p.rollout_share,
               coalesce(scored.decisions, 0),
               (SELECT count(*) FROM policies_simulation sim WHERE sim.policy_id = p.id),
               (SELECT count(*) FROM policies_simulation sim
                WHERE sim.policy_id = p.id AND sim.state = 'done'),
               p.rationale
        FROM decisions_policy p
        JOIN spans s ON s.id = p.id
        LEFT JOIN auth_user author ON author.id = p.author_id
        LEFT JOIN auth_user approver ON approver.id = p.approver_id
        LEFT JOIN scored ON scored.policy_version = p.version
        WHERE (s.from_at < %s AND (s.until_at IS NULL OR s.until_at >= %s))
           OR scored.decisions IS NOT NULL
        ORDER BY p.version
        """,
        [period.start, period.end, period.end, period.start],
    )
    shown = [
        (
            version, state, author or "", approver or "", utc_text(created),
            utc_text(submitted), utc_text(reviewed), utc_text(from_at), utc_text(until_at),
            share, decisions, simulations, simulations_done, rationale,
        )
        for (
            version, state, author, approver, created, submitted, reviewed, from_at, until_at,
            share, decisions, simulations, simulations_done, rationale,
        ) in rows
    ]  # fmt: skip
    table = Table(
        "policy_versions.csv",
        (
            "version", "state_now", "author", "approver", "created_utc", "submitted_utc",
            "reviewed_utc", "in_force_from_utc", "in_force_until_utc", "rollout_share_pct",
            "decisions_in_period", "simulations", "simulations_done", "rationale",
        ),
        shown,
    )  # fmt: skip
    return table, [row[0] for row in rows]


def policy_simulations(versions: list[int]) -> Table:
    rows = _rows(
        """
        SELECT p.version, sim.id, base.version, sim.state, who.username, sim.created_at,
               sim.finished_at, sim.accounts_total, sim.accounts_done
        FROM policies_simulation sim
        JOIN decisions_policy p ON p.id = sim.policy_id
        JOIN decisions_policy base ON base.id = sim.base_id
        JOIN auth_user who ON who.id = sim.started_by_id
        WHERE p.version = ANY(%s)
        ORDER BY p.version, sim.id
        """,
        [versions],
    )
    return Table(
        "policy_simulations.csv",
        (
            "version", "simulation", "against_version", "state", "started_by", "created_utc",
            "finished_utc", "accounts_total", "accounts_done",
        ),
        [(*row[:5], utc_text(row[5]), utc_text(row[6]), *row[7:]) for row in rows],
    )  # fmt: skip


def policy_events(period: Period) -> Table:
    """What changed what was in force, in the period (the kill switch apart)."""
    rows = _rows(
        """
        SELECT e.at, e.id, p.version, e.action, who.username, e.share, e.comment
        FROM policies_policyevent e
        LEFT JOIN decisions_policy p ON p.id = e.policy_id
        JOIN auth_user who ON who.id = e.actor_id
        WHERE e.at >= %s AND e.at < %s AND e.action NOT IN ('paused', 'resumed')
        ORDER BY e.at, e.id
        """,
        [period.start, period.end],
    )
    return Table(
        "policy_events.csv",
        ("at_utc", "event", "version", "action", "actor", "share_pct", "comment"),
        [(utc_text(row[0]), *row[1:]) for row in rows],
    )


# --------------------------------------------------------------------------
# Human oversight and SLA


def human_oversight(period: Period) -> Table:
    """Who decided by hand, what waited for a second person, and what appeals overturned."""
    span = [period.start, period.end]
    rows: list[tuple[Any, ...]] = []
    for source, decisions, approved in _rows(
        """
        SELECT source, count(*), count(*) FILTER (WHERE approver_id IS NOT NULL)
        FROM decisions_limitdecision
        WHERE created_at >= %s AND created_at < %s
        GROUP BY source ORDER BY source
        """,
        span,
    ):
        rows += [
            ("decisions", source, decisions),
            ("decisions_approved_by_a_second_person", source, approved),
        ]
    ((proposed, approved, rejected),) = _rows(
        """
        SELECT count(*) FILTER (WHERE created_at >= %s AND created_at < %s),
               count(*) FILTER (WHERE state = 'approved'
                                AND decided_at >= %s AND decided_at < %s),
               count(*) FILTER (WHERE state = 'rejected'
                                AND decided_at >= %s AND decided_at < %s)
        FROM decisions_overriderequest
        WHERE (created_at >= %s AND created_at < %s) OR (decided_at >= %s AND decided_at < %s)
        """,
        span * 5,
    )
    rows += [
        ("override_requests_proposed", "", proposed),
        ("override_requests_approved", "", approved),
        ("override_requests_rejected", "", rejected),
    ]
    for action, count in _rows(
        """
        SELECT action, count(*) FROM policies_policyevent
        WHERE at >= %s AND at < %s AND action IN ('approved', 'rejected', 'widened')
        GROUP BY action ORDER BY action
        """,
        span,
    ):
        rows.append((f"policy_versions_{action}", "", count))
    for category, count in _rows(
        """
        SELECT category, count(*) FROM appeals_appeal
        WHERE created_at >= %s AND created_at < %s GROUP BY category ORDER BY category
        """,
        span,
    ):
        rows.append(("appeals_received", category, count))
    decided_total = overturned_total = 0
    for reason, decided, overturned in _rows(
        """
        SELECT coalesce(d.reasons ->> 0, ''), count(*),
               count(*) FILTER (WHERE a.outcome_decision_id IS NOT NULL)
        FROM appeals_appeal a JOIN decisions_limitdecision d ON d.id = a.decision_id
        WHERE a.decided_at >= %s AND a.decided_at < %s
        GROUP BY 1 ORDER BY 1
        """,
        span,
    ):
        decided_total += decided
        overturned_total += overturned
        rows += [
            ("appeals_decided", reason, decided),
            ("appeals_overturned", reason, overturned),
            ("overturn_rate", reason, rate(overturned, decided)),
        ]
    rows += [
        ("appeals_decided", "all", decided_total),
        ("appeals_overturned", "all", overturned_total),
        ("overturn_rate", "all", rate(overturned_total, decided_total)),
    ]
    return Table("human_oversight.csv", ("measure", "group", "value"), rows)


def appeals_sla(period: Period) -> Table:
    """Per category: appeals received, decided within and after their SLA due time, and
    those still open past it when the period ended."""
    rows = _rows(
        """
        SELECT category,
               count(*) FILTER (WHERE created_at >= %s AND created_at < %s),
               count(*) FILTER (WHERE decided_at >= %s AND decided_at < %s),
               count(*) FILTER (WHERE decided_at >= %s AND decided_at < %s
                                AND decided_at <= sla_due),
               count(*) FILTER (WHERE decided_at >= %s AND decided_at < %s
                                AND decided_at > sla_due),
               count(*) FILTER (WHERE created_at < %s AND state <> 'withdrawn'
                                AND (decided_at IS NULL OR decided_at >= %s)
                                AND sla_due < %s)
        FROM appeals_appeal
        WHERE created_at < %s
        GROUP BY category ORDER BY category
        """,
        [period.start, period.end] * 4 + [period.end] * 4,
    )
    return Table(
        "appeals_sla.csv",
        (
            "category", "received", "decided", "decided_within_sla", "decided_after_sla",
            "open_past_due_at_end", "sla_met_rate",
        ),
        [(*row, rate(row[3], row[2])) for row in rows],
    )  # fmt: skip


# --------------------------------------------------------------------------
# Notices (the decisions.Notice register)

NOTICE_CATEGORIES = ("within_clock", "late", "pending", "failed", "not_required")


def notice_timeliness(period: Period) -> Table:
    """The notices of the period's decisions, per UTC day and classification: delivered
    within their clock (delivered_at ≤ due_by), late, pending (still to be delivered;
    `pending_past_due_at_end`: of them, due before the period ended), failed (dead
    letter), not required. From the register's rows alone."""
    rows = _rows(
        """
        SELECT (created_at AT TIME ZONE 'UTC')::date AS day, kind, count(*),
               count(*) FILTER (WHERE state <> 'not_required' AND delivered_at IS NOT NULL
                                AND delivered_at <= due_by),
               count(*) FILTER (WHERE state <> 'not_required' AND delivered_at IS NOT NULL
                                AND delivered_at > due_by),
               count(*) FILTER (WHERE delivered_at IS NULL AND state IN ('pending', 'retrying')),
               count(*) FILTER (WHERE delivered_at IS NULL AND state = 'dead'),
               count(*) FILTER (WHERE state = 'not_required'),
               count(*) FILTER (WHERE delivered_at IS NULL AND state IN ('pending', 'retrying')
                                AND due_by < %s)
        FROM decisions_notice
        WHERE created_at >= %s AND created_at < %s
        GROUP BY day, kind ORDER BY day, kind
        """,
        [period.end, period.start, period.end],
    )
    return Table(
        "notice_timeliness.csv",
        ("day_utc", "kind", "notices", *NOTICE_CATEGORIES, "pending_past_due_at_end"),
        rows,
    )


# --------------------------------------------------------------------------
# Kill switch and circuit breaker


def kill_switch_and_breaker(period: Period) -> Table:
    rows = _rows(
        """
        SELECT e.at, 'kill_switch_' || e.action, 0, who.username, e.comment, '', ''
        FROM policies_policyevent e JOIN auth_user who ON who.id = e.actor_id
        WHERE e.at >= %s AND e.at < %s AND e.action IN ('paused', 'resumed')
        UNION ALL
        SELECT coalesce(r.compute_finished_at, r.created_at), 'circuit_breaker_held', r.id,
               coalesce(starter.username, r.trigger), r.breaker_reason, r.state,
               coalesce(decider.username, '')
        FROM decisions_rescorerun r
        LEFT JOIN auth_user starter ON starter.id = r.started_by_id
        LEFT JOIN auth_user decider ON decider.id = r.decided_by_id
        WHERE r.breaker_reason <> ''
          AND coalesce(r.compute_finished_at, r.created_at) >= %s
          AND coalesce(r.compute_finished_at, r.created_at) < %s
        ORDER BY 1, 2, 3
        """,
        [period.start, period.end, period.start, period.end],
    )
    return Table(
        "kill_switch_and_breaker.csv",
        ("at_utc", "event", "run", "actor", "reason", "run_state_now", "decided_by"),
        [(utc_text(row[0]), row[1], row[2] or "", *row[3:]) for row in rows],
    )


# --------------------------------------------------------------------------
# The audit chain


@dataclass
class ChainSegment:
    decisions: int = 0
    accounts: int = 0
    broken: list[tuple[str, int, int | None, int | None, str]] = field(default_factory=list)

    def table(self) -> Table:
        return Table(
            "audit_chain.csv",
            ("account", "account_id", "sequence", "decision_id", "problem"),
            sorted(self.broken, key=lambda row: (row[1], row[2] or 0)),
        )


_BEFORE_SQL = """
    SELECT c.account_id, d.hash
    FROM unnest(%s::bigint[], %s::integer[]) AS c(account_id, sequence)
    JOIN decisions_limitdecision AS d
      ON d.account_id = c.account_id AND d.sequence = c.sequence
"""
ACCOUNTS_PER_BATCH = 5000


ROWS_PER_BATCH = 5000
_FIELDS = ("id", "prev_hash", "hash", *HASHED_FIELDS)
_JSON_FIELDS = tuple(name for name in _FIELDS if name in JSON_COLUMNS)
_PERIOD_IDS_SQL = """
    SELECT id FROM decisions_limitdecision
    WHERE created_at >= %s AND created_at < %s AND account_id = ANY(%s)
    ORDER BY account_id, sequence
"""
_ROWS_SQL = f"""
    SELECT {", ".join(_FIELDS)} FROM decisions_limitdecision WHERE id = ANY(%s)
"""  # noqa: S608 - the columns come from code


def _period_decisions(period: Period, accounts: list[int]) -> Iterator[dict[str, Any]]:
    """The period's decisions of these accounts with every hashed field (as the ORM reads them: JSON
    parsed, numbers as Decimal, times in UTC), by account and sequence. Only the ids are
    sorted (a narrow sort, not of every row's JSON), then the rows are read by primary
    key a batch at a time, one array parameter each, and given back in that order."""
    ids = [row[0] for row in _rows(_PERIOD_IDS_SQL, [period.start, period.end, accounts])]
    with connection.cursor() as cursor:
        for start in range(0, len(ids), ROWS_PER_BATCH):
            batch = ids[start : start + ROWS_PER_BATCH]
            cursor.execute(_ROWS_SQL, [batch])
            rows = {}
            for values in cursor.fetchall():
                row = dict(zip(_FIELDS, values, strict=True))
                for name in _JSON_FIELDS:
                    if isinstance(row[name], str | bytes):
                        row[name] = json.loads(row[name])
                rows[row["id"]] = row
            for decision_id in batch:
                yield rows[decision_id]


_INT = "coalesce(d.{0}::text, 'null')"
_TEXT = "to_json(d.{0})::text"
_OBJECT = (
    "CASE jsonb_typeof(d.{0}) WHEN 'object' THEN coalesce((SELECT '{{' || string_agg("
    "to_json(e.k)::text || ':' || e.v::text, ',' ORDER BY e.k COLLATE \"C\") || '}}' "
    "FROM jsonb_each(d.{0}) AS e(k, v)), '{{}}') ELSE d.{0}::text END"
)
_ARRAY = (
    "CASE jsonb_typeof(d.{0}) WHEN 'array' THEN coalesce((SELECT '[' || string_agg("
    "e.v::text, ',' ORDER BY e.n) || ']' FROM jsonb_array_elements(d.{0}) "
    "WITH ORDINALITY AS e(v, n)), '[]') ELSE d.{0}::text END"
)
# How `decisions.chain.to_json` writes each hashed field, in SQL: close enough to match it
# byte for byte on what the decision writer stores (flat JSON; numbers PostgreSQL and
# Python print alike). Where it does not, the account is checked in Python, which decides.
_CANONICAL = {
    "account_id": _INT, "sequence": _INT, "score_before": _INT, "score_after": _INT,
    "policy_version": _INT, "run_id": _INT, "actor_id": _INT, "approver_id": _INT,
    "reverts_id": _INT,
    "action": _TEXT, "source": _TEXT, "old_status": _TEXT, "new_status": _TEXT,
    "band_before": _TEXT, "band_after": _TEXT, "scorecard_version": _TEXT,
    "justification": _TEXT, "idempotency_key": _TEXT,
    "old_limit": "to_json(d.{0}::text)::text", "new_limit": "to_json(d.{0}::text)::text",
    "created_at": "'\"' || to_char(d.{0} AT TIME ZONE 'UTC', "
    "'YYYY-MM-DD\"T\"HH24:MI:SS.US') || '+00:00\"'",
    "contributions": _OBJECT, "inputs": _OBJECT, "triggers": _ARRAY, "reasons": _ARRAY,
}  # fmt: skip
_CANONICAL_SQL = " || ',' || ".join(
    f"'\"{name}\":' || ({_CANONICAL[name].format(name)})" for name in sorted(HASHED_FIELDS)
)
_SUSPECTS_SQL = f"""
    SELECT DISTINCT d.account_id
    FROM decisions_limitdecision d
    LEFT JOIN decisions_limitdecision p
      ON p.account_id = d.account_id AND p.sequence = d.sequence - 1
    WHERE d.created_at >= %s AND d.created_at < %s
      AND ((d.sequence > 1 AND p.id IS NULL)
           OR d.prev_hash IS DISTINCT FROM coalesce(p.hash, '')
           OR d.hash IS DISTINCT FROM encode(sha256(convert_to(
                  d.prev_hash || chr(10) || '{{' || {_CANONICAL_SQL} || '}}', 'UTF8')), 'hex'))
"""  # noqa: S608 - the columns come from code
MAX_WALKED = 10_000
NOT_WALKED = (
    "PostgreSQL's recomputation of its links does not match; not walked in Python "
    f"(more than {MAX_WALKED:,} accounts)"
)
_COUNTS_SQL = """
    SELECT count(*), count(DISTINCT account_id) FROM decisions_limitdecision
    WHERE created_at >= %s AND created_at < %s
"""


def chain_counts(period: Period) -> tuple[int, int]:
    """The period's decisions and the accounts they belong to."""
    ((decisions, accounts),) = _rows(_COUNTS_SQL, [period.start, period.end])
    return decisions, accounts


def chain_slices(period: Period, parts: int) -> list[tuple[datetime, datetime]]:
    """The period cut into `parts` spans of equal time, [start, end) each, for
    `chain_suspects` to check on as many connections (`compliance.services.pack_tables`)."""
    width = (period.end - period.start) / parts
    cuts = [period.start + width * index for index in range(parts)] + [period.end]
    return list(itertools.pairwise(cuts))


def chain_suspects(start: datetime, end: datetime) -> set[int]:
    """The accounts with a decision written in [start, end) whose link PostgreSQL cannot
    vouch for: its predecessor missing, a wrong pointer, or a hash that the canonical
    JSON rebuilt in SQL does not give. Set-based, in one backend."""
    return {row[0] for row in _rows(_SUSPECTS_SQL, [start, end])}


def chain_segment(period: Period) -> ChainSegment:
    """Every decision written in the period, checked against the one before it and its
    own hash, on this connection alone (a pack spreads the suspects' query over several
    connections: `compliance.services.pack_tables`)."""
    return chain_walk(period, chain_counts(period), chain_suspects(period.start, period.end))


def chain_walk(period: Period, counts: tuple[int, int], suspected: Iterable[int]) -> ChainSegment:
    """The period's suspected accounts walked in Python, in ascending order
    (`compliance.segment`, with `decisions.chain.decision_hash`), which decides and
    names the broken links."""
    result = ChainSegment(decisions=counts[0], accounts=counts[1])
    suspects = sorted(suspected)
    if not suspects:
        return result
    # A chain rewritten wholesale is not walked account by account in Python: beyond
    # MAX_WALKED accounts the rest are listed as not vouched for (verdict "broken").
    suspects, unwalked = suspects[:MAX_WALKED], suspects[MAX_WALKED:]
    result.broken += [("", account_id, None, None, NOT_WALKED) for account_id in unwalked]
    batch: list[tuple[int, list[dict[str, Any]]]] = []

    def check(groups: list[tuple[int, list[dict[str, Any]]]]) -> None:
        wanted = [(a, rows[0]["sequence"] - 1) for a, rows in groups if rows[0]["sequence"] > 1]
        before: dict[int, str] = {}
        if wanted:
            before = dict(_rows(_BEFORE_SQL, [[a for a, _s in wanted], [s for _a, s in wanted]]))
        for account_id, rows in groups:
            first = "" if rows[0]["sequence"] == 1 else before.get(account_id)
            broken = segment.verify_segment(account_id, first, rows)
            if broken is not None:
                result.broken.append(
                    (
                        "",
                        broken.account_id,
                        broken.sequence,
                        broken.decision_id,
                        broken.problem,
                    )
                )

    current: int | None = None
    rows: list[dict[str, Any]] = []
    for row in _period_decisions(period, suspects):
        if row["account_id"] != current:
            if current is not None:
                batch.append((current, rows))
                if len(batch) >= ACCOUNTS_PER_BATCH:
                    check(batch)
                    batch = []
            current, rows = row["account_id"], []
        rows.append(row)
    if current is not None:
        batch.append((current, rows))
    if batch:
        check(batch)
    if result.broken:
        references = dict(
            _rows(
                "SELECT id, reference FROM accounts_account WHERE id = ANY(%s)",
                [[row[1] for row in result.broken]],
            )
        )
        result.broken = [(references.get(row[1], ""), *row[1:]) for row in result.broken]
    return result


_REFERENCE = FORMULA_SAFE_SQL.format(column="a.reference")
CHAIN_HEADS_HEADER = ("account", "account_id", "sequence", "decided_utc", "hash")
CHAIN_HEADS_SQL = f"""
    COPY (
        SELECT {_REFERENCE} AS account, a.id AS account_id, d.sequence,
               to_char(d.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
                   AS decided_utc,
               d.hash
        FROM accounts_account AS a
        CROSS JOIN LATERAL (
            SELECT sequence, created_at, hash FROM decisions_limitdecision
            WHERE account_id = a.id AND created_at < %s
            ORDER BY sequence DESC LIMIT 1
        ) AS d
        ORDER BY a.id
    ) TO STDOUT WITH (FORMAT csv, HEADER true)
"""  # noqa: S608 - the columns come from code


def chain_heads(period: Period, write: Callable[[bytes], Any]) -> None:
    """Each account's chain head at the period's end (its latest decision before it), as
    CSV from PostgreSQL's COPY, handed to `write` block by block: constant memory."""
    with connection.cursor() as cursor, db.copy(cursor, CHAIN_HEADS_SQL, [period.end]) as copy:
        for block in copy:
            write(bytes(block))

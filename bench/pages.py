"""Page speed through the real server, on a book of 1,000,000 accounts and 5,000,000 decisions.

gunicorn is started from the Procfile's `web` line (as production serves the app), a
demo user logs in, and a plain HTTP client (http.client, one connection, requests one
after the other) measures the account page, the overview and the account search.

Targets (p95): account page ≤ 50 ms, overview ≤ 200 ms, account search ≤ 100 ms.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import re
import shlex
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.cookies import SimpleCookie
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.db.backends.utils import CursorWrapper
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import get_resolver
from django.utils import timezone

import scoring
from accounts import forms as account_forms
from accounts.models import Account
from accounts.signal_spec import SIGNALS_BY_NAME
from bench.processes import stop_process_tree
from bench.rescore import _bins
from config.stack import app_environment, free_port
from decisions import selectors as decision_selectors
from decisions.models import DecisionTally, LimitDecision, ReasonCode
from decisions.services import decision_tally_rebuild
from demo import stories
from demo.services import DEMO_PASSWORD
from policies.models import Policy

ROOT = Path(__file__).resolve().parents[1]

# The book.
# LIMITDESK_BENCH_PAGES_ACCOUNTS / _DECISIONS build a larger book (docs/scaling.md).
ACCOUNTS = int(os.environ.get("LIMITDESK_BENCH_PAGES_ACCOUNTS", "1000000"))
DECISIONS = int(os.environ.get("LIMITDESK_BENCH_PAGES_DECISIONS", str(5 * ACCOUNTS)))
HISTORY_DAYS = 365
# Uneven histories: decision counts follow an exponential weight per account,
# and this share of the accounts weighs HEAVY_WEIGHT times more (20+ decisions).
HEAVY_SHARE = 0.03
HEAVY_WEIGHT = 6
# Active accounts (with 2+ decisions) that were closed and reopened last.
REOPENED_SHARE = 0.02
# Decisions between two active states that were set by hand (an override).
OVERRIDE_SHARE = 0.06
APPEALS = 3_000
KEY_PREFIX = "bench-pages:"
SEED = 2026

# The requests.
USERNAME = "alice"  # risk analyst: overview, accounts, account pages
RANDOM_ACCOUNTS = 300
HEAVY_ACCOUNTS = 50  # the accounts with the most decisions
MANY_DECISIONS = 20
MANY_ACCOUNTS = 50  # random accounts with MANY_DECISIONS or more
OVERVIEW_REQUESTS = 150
SEARCH_REQUESTS = 400
WARMUP_PER_PAGE = 20
TARGETS_MS = {"account": 50.0, "overview": 200.0, "search": 100.0}
PAGE_TITLES = {
    "account": "account page `/accounts/<reference>/`",
    "overview": "overview `/`",
    "search": "account search `/accounts/?…` (full page and HTMX partial)",
}
STARTUP_SECONDS = 60
REPLAY_SLOWEST = 5  # per page, replayed in-process to see their queries
PLAN_LINES = 40

STATE_FILE = "pages-seed.json"
WEB_LOG = "pages-web.log"


# --------------------------------------------------------------------------
# The book: accounts from seed_demo, decisions generated inside PostgreSQL
# --------------------------------------------------------------------------


def _u(key: str, salt: int) -> str:
    """SQL for a uniform number in [0, 1) drawn from a hash of an integer key: the same
    book on every machine, and no random() to call per row."""
    return f"((hashint8extended(({key})::int8, {salt}) & 2147483647)::float8 / 2147483648.0)"


def _key(sequence: str) -> str:
    """A per-decision integer key: the account id and a position in its chain."""
    return f"(p.id * 4096 + ({sequence}))"


def _hash(sequence: str) -> str:
    """64 hex characters, unique per (account, sequence): md5 twice (not the SHA-256 chain
    of decisions_write; verify_audit_chain does not accept these rows)."""
    text = f"('{KEY_PREFIX}' || p.id || ':' || ({sequence}))"
    return f"(md5({text}) || md5({text} || '#'))"


def _band(score: str) -> str:
    branches = " ".join(
        f"WHEN {score} >= {low} THEN '{band}'" for low, band in stories.BAND_CUTOFFS
    )
    return f"CASE {branches} ELSE 'E' END"


def _state(sequence: str) -> tuple[str, str, str]:
    """SQL for (status, limit, score) of the account after its decision number `sequence`
    (0: as opened). The last one is the account as it is; the one before it is closed
    for a reopened account, and the same limit for a frozen one."""
    last = f"({sequence}) = p.n"
    before_last = f"({sequence}) = p.n - 1"
    key = _key(sequence)
    status = (
        f"CASE WHEN {last} THEN a.status WHEN {before_last} AND p.reopened THEN 'closed' "
        "ELSE 'active' END"
    )
    base = "(CASE WHEN a.current_limit > 0 THEN a.current_limit ELSE 10000 END)::float8"
    limit = (
        f"CASE WHEN {last} THEN a.current_limit "
        f"WHEN {before_last} AND p.reopened THEN 0 "
        f"WHEN {before_last} AND a.status = 'frozen' THEN a.current_limit "
        f"ELSE GREATEST(500, round({base} * (0.4 + 1.2 * {_u(key, 4)}) / 100) * 100)"
        "::numeric(12, 2) END"
    )
    score = (
        f"CASE WHEN {last} THEN COALESCE(a.score, 650) "
        f"ELSE LEAST(950, GREATEST(350, COALESCE(a.score, 650) "
        f"+ round(({_u(key, 5)} - 0.5) * 120)::int)) END"
    )
    return status, limit, score


def _inputs_sql() -> str:
    """The signals a decision used, shaped as the decision writer stores them."""
    parts = []
    for name in scoring.INPUT_SIGNALS:
        kind = SIGNALS_BY_NAME[name].kind
        value = f"s.{name}" if kind in {"int", "bool"} else f"s.{name}::text"
        parts.append(f"'{name}', {value}")
    return f"jsonb_build_object({', '.join(parts)})"


def _contributions_sql() -> str:
    """Points per scorecard characteristic, from the account's signals (as the floor SQL
    of the rescore benchmark computes them)."""
    parts = [f"'{c.signal}', {_bins(c)}" for c in scoring.SCORECARD]
    return f"jsonb_build_object({', '.join(parts)})"


@dataclass(frozen=True)
class Combos:
    """The reasons (and thresholds crossed) a decision of each action can carry."""

    rows: list[dict[str, Any]]
    counts: dict[str, int]


def _reason_combos() -> Combos:
    codes = dict(ReasonCode.objects.values_list("code", "kind"))
    adverse = [code for code, kind in codes.items() if kind == ReasonCode.Kind.ADVERSE]
    closing = [
        code
        for code in (scoring.SERIOUS_OVERDUE, scoring.PUBLIC_RECORD, scoring.INELIGIBLE)
        if code in codes
    ] or adverse[:1]
    cutting = [code for code in adverse if code not in closing and code != scoring.COOLDOWN]
    if not cutting:
        raise RuntimeError("no adverse reason codes in decisions_reasoncode: run the migrations")

    def pick(preferred: str, kind: str) -> str:
        if preferred in codes:
            return preferred
        return next(code for code, k in codes.items() if k == kind)

    fixed = {
        "raise": [pick(scoring.GOOD_HISTORY, ReasonCode.Kind.FAVOURABLE)],
        "reopen": [
            pick(scoring.REOPENED, ReasonCode.Kind.FAVOURABLE),
            pick(scoring.GOOD_HISTORY, ReasonCode.Kind.FAVOURABLE),
        ],
        "set": [pick("MANUAL_OVERRIDE", ReasonCode.Kind.HUMAN)],
        "freeze": [pick("FROZEN", ReasonCode.Kind.HUMAN)],
    }
    by_action: dict[str, list[list[str]]] = {action: [r] for action, r in fixed.items()}
    # A cut names one to four reasons (distinct, most important first); a closure
    # names its closing trigger first.
    by_action["reduce"] = [
        [cutting[(start + i) % len(cutting)] for i in range(size)]
        for start in range(len(cutting))
        for size in range(1, min(scoring.MAX_REASONS, len(cutting)) + 1)
    ]
    by_action["close"] = [
        [trigger, *(cutting[(start + i) % len(cutting)] for i in range(extra))]
        for trigger in closing
        for start in range(len(cutting))
        for extra in range(3)
    ]
    rows = []
    for action, combos in by_action.items():
        for index, reasons in enumerate(combos):
            triggers = [code for code in scoring.TRIGGER_ORDER if code in reasons]
            rows.append({"action": action, "idx": index, "reasons": reasons, "triggers": triggers})
    return Combos(rows=rows, counts={action: len(c) for action, c in by_action.items()})


def _override_actor() -> int | None:
    user = (
        User.objects.filter(groups__permissions__codename="propose_override", is_active=True)
        .order_by("username")
        .first()
    )
    return user.pk if user else None


def _plan(cursor: CursorWrapper) -> None:
    """bench_pages_plan: each generated account and its number of decisions (n), which
    sum to DECISIONS exactly (largest remainder), at least one each."""
    cursor.execute(
        f"""
        CREATE TEMP TABLE bench_pages_plan ON COMMIT DROP AS
        WITH weighted AS (
            SELECT a.id,
                   -ln(1.0 - {_u("a.id", 1)})
                       * CASE WHEN {_u("a.id", 2)} < %(heavy_share)s THEN %(heavy_weight)s
                              ELSE 1 END AS w,
                   a.status = 'active' AND {_u("a.id", 3)} < %(reopened_share)s AS reopened
            FROM accounts_account AS a
            WHERE a.id <= %(accounts)s
        ), shares AS (
            SELECT id, reopened, %(extra)s * w / sum(w) OVER () AS share FROM weighted
        ), base AS (
            SELECT id, reopened, 1 + floor(share)::int AS n, share - floor(share) AS frac
            FROM shares
        ), ranked AS (
            SELECT id, reopened, n, row_number() OVER (ORDER BY frac DESC, id) AS rank,
                   %(decisions)s - sum(n) OVER () AS remainder
            FROM base
        )
        SELECT id, n + CASE WHEN rank <= remainder THEN 1 ELSE 0 END AS n,
               reopened AND n + CASE WHEN rank <= remainder THEN 1 ELSE 0 END >= 2 AS reopened
        FROM ranked
        """,  # noqa: S608 - the SQL pieces come from code
        {
            "heavy_share": HEAVY_SHARE,
            "heavy_weight": HEAVY_WEIGHT,
            "reopened_share": REOPENED_SHARE,
            "accounts": ACCOUNTS,
            "extra": DECISIONS - ACCOUNTS,
            "decisions": DECISIONS,
        },
    )
    cursor.execute("ALTER TABLE bench_pages_plan ADD PRIMARY KEY (id)")
    cursor.execute("ANALYZE bench_pages_plan")
    cursor.execute("SELECT count(*), sum(n) FROM bench_pages_plan")
    accounts, decisions = cursor.fetchone()
    if (accounts, decisions) != (ACCOUNTS, DECISIONS):
        raise RuntimeError(f"planned {decisions} decisions over {accounts} accounts")


def _insert_decisions(cursor: CursorWrapper, now: datetime) -> None:
    combos = _reason_combos()
    active = Policy.objects.get(state=Policy.State.ACTIVE)
    s0, l0, sc0 = _state("g.seq - 1")
    s1, l1, sc1 = _state("g.seq")
    key = _key("g.seq")
    combo_index = " ".join(
        f"WHEN '{action}' THEN floor(d.r_combo * {count})::int"
        for action, count in combos.counts.items()
    )
    columns = (
        "account_id, sequence, action, source, old_limit, new_limit, old_status, new_status, "
        "score_before, score_after, band_before, band_after, contributions, triggers, reasons, "
        "inputs, policy_id, policy_version, scorecard_version, run_id, actor_id, justification, "
        "approver_id, reverts_id, idempotency_key, prev_hash, hash, created_at"
    )
    # One pass: per account (signals → JSON once), then its n decisions; each
    # decision's "before" is the state after the previous one, so limits,
    # statuses and scores chain without a window over 5,000,000 rows.
    cursor.execute(
        f"""
        INSERT INTO decisions_limitdecision ({columns})
        SELECT d.account_id, d.seq, d.action, d.source, d.old_limit, d.new_limit,
               d.old_status, d.new_status, d.score_before, d.score_after,
               {_band("d.score_before")}, CASE WHEN d.seq = d.n THEN d.band
                                               ELSE {_band("d.score_after")} END,
               d.contributions, c.triggers, c.reasons, d.inputs,
               CASE WHEN d.source = 'run' THEN %(policy_id)s END,
               CASE WHEN d.source = 'run' THEN %(policy_version)s END,
               CASE WHEN d.source = 'run' THEN %(scorecard)s ELSE '' END,
               NULL,
               CASE WHEN d.source = 'override' THEN %(actor)s END,
               CASE d.action
                   WHEN 'set' THEN 'Verified income documents received; limit set by hand.'
                   WHEN 'freeze' THEN 'Fraud team: suspected account takeover, line frozen.'
                   ELSE '' END,
               NULL, NULL,
               %(prefix)s || d.account_id || ':' || d.seq,
               d.prev_hash, d.hash,
               %(now)s::timestamptz - (%(span)s * (1.0 - (d.seq - 1 + d.r_time) / d.n))
                   * interval '1 second'
        FROM (
            SELECT p.id AS account_id, p.n, g.seq, a.band, j.contributions, j.inputs,
                   st.old_status, st.new_status, st.old_limit, st.new_limit,
                   st.score_before, st.score_after,
                   CASE WHEN st.new_status = 'closed' AND st.old_status <> 'closed' THEN 'close'
                        WHEN st.new_status = 'active' AND st.old_status = 'closed' THEN 'reopen'
                        WHEN st.new_status = 'frozen' AND st.old_status <> 'frozen' THEN 'freeze'
                        WHEN {_u(key, 6)} < %(override_share)s
                             OR st.new_limit = st.old_limit THEN 'set'
                        WHEN st.new_limit > st.old_limit THEN 'raise'
                        ELSE 'reduce' END AS action,
                   CASE WHEN st.new_status = 'frozen' AND st.old_status <> 'frozen'
                             THEN 'override'
                        WHEN st.new_status = st.old_status
                             AND ({_u(key, 6)} < %(override_share)s
                                  OR st.new_limit = st.old_limit) THEN 'override'
                        ELSE 'run' END AS source,
                   {_u(key, 7)} AS r_combo, {_u(key, 8)} AS r_time,
                   CASE WHEN g.seq = 1 THEN '' ELSE {_hash("g.seq - 1")} END AS prev_hash,
                   {_hash("g.seq")} AS hash
            FROM bench_pages_plan AS p
            JOIN accounts_account AS a ON a.id = p.id
            CROSS JOIN LATERAL (
                SELECT {_contributions_sql()} AS contributions, {_inputs_sql()} AS inputs
                FROM accounts_accountsignals AS s WHERE s.account_id = p.id
                OFFSET 0
            ) AS j
            CROSS JOIN LATERAL generate_series(1, p.n) AS g(seq)
            CROSS JOIN LATERAL (
                SELECT {s0} AS old_status, {s1} AS new_status, {l0} AS old_limit,
                       {l1} AS new_limit, {sc0} AS score_before, {sc1} AS score_after
            ) AS st
        ) AS d
        JOIN jsonb_to_recordset(%(combos)s::jsonb)
             AS c(action text, idx int, reasons jsonb, triggers jsonb)
          ON c.action = d.action AND c.idx = CASE d.action {combo_index} ELSE 0 END
        """,  # noqa: S608 - the SQL pieces come from code and the reason code table
        {
            "policy_id": active.pk,
            "policy_version": active.version,
            "scorecard": scoring.SCORECARD_VERSION,
            "actor": _override_actor(),
            "prefix": KEY_PREFIX,
            "now": now,
            "span": HISTORY_DAYS * 86400.0,
            "override_share": OVERRIDE_SHARE,
            "combos": json.dumps(combos.rows),
        },
    )
    if cursor.rowcount != DECISIONS:
        raise RuntimeError(f"inserted {cursor.rowcount:,} decisions, not {DECISIONS:,}")


@contextmanager
def _indexes_dropped(cursor: CursorWrapper, table: str) -> Iterator[int]:
    """Drop the table's indexes and constraints except its primary key and CHECKs, and
    put them back as they were (same names, same definitions) afterwards: one sort per
    index instead of 5,000,000 random inserts into each. Same transaction: all or nothing."""
    cursor.execute(
        """
        SELECT conname, pg_get_constraintdef(oid), contype FROM pg_constraint
        WHERE conrelid = %s::regclass AND contype IN ('u', 'f', 'x') ORDER BY contype DESC
        """,
        [table],
    )
    constraints = cursor.fetchall()
    cursor.execute(
        """
        SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index AS i
        WHERE i.indrelid = %s::regclass AND NOT i.indisprimary
          AND NOT EXISTS (SELECT 1 FROM pg_constraint AS c
                          WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid)
        """,
        [table],
    )
    indexes = cursor.fetchall()
    quoted = connection.ops.quote_name
    for name, _definition, _kind in constraints:
        cursor.execute(f"ALTER TABLE {quoted(table)} DROP CONSTRAINT {quoted(name)}")
    for name, _definition in indexes:
        cursor.execute(f"DROP INDEX {name}")
    yield len(constraints) + len(indexes)
    cursor.execute("SET LOCAL maintenance_work_mem = '1GB'")
    for _name, definition in indexes:
        # A partitioned table's index reads "ON ONLY": made again on every partition.
        cursor.execute(definition.replace(" ON ONLY ", " ON ", 1))
    # Unique constraints before the foreign keys (contype 'u' > 'f').
    for name, definition, _kind in constraints:
        cursor.execute(f"ALTER TABLE {quoted(table)} ADD CONSTRAINT {quoted(name)} {definition}")


def _update_accounts(cursor: CursorWrapper) -> None:
    """Each account as decisions_write leaves it: chain head, when its limit last
    changed and the reasons of its latest decision, one version per decision."""
    cursor.execute(
        """
        UPDATE accounts_account AS a
        SET chain_head = d.hash, limit_changed_at = d.created_at,
            last_reasons = ARRAY(SELECT jsonb_array_elements_text(d.reasons)),
            version = a.version + p.n
        FROM bench_pages_plan AS p
        JOIN decisions_limitdecision AS d ON d.account_id = p.id AND d.sequence = p.n
        WHERE a.id = p.id
        """
    )
    if cursor.rowcount != ACCOUNTS:
        raise RuntimeError(f"updated {cursor.rowcount:,} accounts, not {ACCOUNTS:,}")


def _appeals_table() -> Any:
    """The Appeal model when its table exists (the appeal queue is being built)."""
    try:
        from appeals.models import Appeal
    except ImportError:
        return None
    if Appeal._meta.db_table not in connection.introspection.table_names():
        return None
    return Appeal


def _insert_appeals(cursor: CursorWrapper, now: datetime) -> str:
    """A few thousand open appeals against recent cuts and closures, SLA due around now."""
    appeal = _appeals_table()
    if appeal is None:
        return "no appeals table"
    cursor.execute(
        f"""
        SELECT d.account_id, d.id, d.old_limit FROM bench_pages_plan AS p
        JOIN decisions_limitdecision AS d ON d.account_id = p.id AND d.sequence = p.n
        WHERE d.action IN ('reduce', 'close')
        ORDER BY {_u("p.id", 9)} LIMIT %s
        """,  # noqa: S608
        [APPEALS],
    )
    contested = cursor.fetchall()
    handlers = list(
        User.objects.filter(groups__permissions__codename="work_appeals", is_active=True)
        .order_by("username")
        .values_list("pk", flat=True)
    )
    rng = random.Random(SEED)  # noqa: S311 - test data
    rows = []
    for account_id, decision_id, old_limit in contested:
        state = rng.choice(list(appeal.OPEN_STATES))
        category = rng.choice(appeal.Category.values)
        rows.append(
            appeal(
                account_id=account_id,
                decision_id=decision_id,
                channel=rng.choice(appeal.Channel.values),
                category=category,
                # A review request says what it asks for; no other category does.
                review_kind=(
                    rng.choice(appeal.ReviewKind.values)
                    if category == appeal.Category.REVIEW
                    else ""
                ),
                statement="I repay on time; please look at my limit again.",
                requested_limit=old_limit if rng.random() < 0.6 else None,
                priority=rng.choice(appeal.Priority.values),
                assignee_id=rng.choice(handlers) if handlers and state != "new" else None,
                state=state,
                sla_due=now + timedelta(hours=rng.uniform(-72, 240)),
                created_at=now - timedelta(hours=rng.uniform(1, 240)),
            )
        )
    try:
        with transaction.atomic():
            appeal.objects.bulk_create(rows, batch_size=1000)
    except (DatabaseError, TypeError, ValueError) as error:
        return f"appeals not loaded ({type(error).__name__}: {error})"
    return f"{len(rows):,} open appeals"


@dataclass
class Book:
    reused: bool
    seeded_at: str
    seconds: float | None
    steps: dict[str, float]
    appeals: str
    check_seconds: float = 0.0
    histogram: dict[str, int] = field(default_factory=dict)
    most: int = 0
    accounts: int = 0
    decisions: int = 0


def _state_path() -> Path:
    return Path(settings.STATE_DIR) / STATE_FILE


def _book_ready() -> bool:
    """The bench database holds exactly this book: the generated accounts and the story
    accounts, the generated decisions plus at least the story ones, every chain head set
    and the per-day tally matching the decisions."""
    story_decisions = sum(len(story.history) for story in stories.STORY_ACCOUNTS)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), count(*) FILTER (WHERE id <= %s), "
            "count(*) FILTER (WHERE id <= %s AND chain_head = '') FROM accounts_account",
            [ACCOUNTS, ACCOUNTS],
        )
        accounts, generated, headless = cursor.fetchone()
        if (accounts, generated, headless) != (ACCOUNTS + len(stories.STORY_ACCOUNTS), ACCOUNTS, 0):
            return False
        cursor.execute(
            "SELECT count(*), count(*) FILTER (WHERE idempotency_key LIKE %s) "
            "FROM decisions_limitdecision",
            [KEY_PREFIX + "%"],
        )
        decisions, generated_decisions = cursor.fetchone()
        # A story may write more decisions than its history lists (an appeal's outcome).
        if generated_decisions != DECISIONS or decisions - DECISIONS < story_decisions:
            return False
        cursor.execute(
            "SELECT COALESCE(sum(count), 0) FROM decisions_decisiontally WHERE reason = ''"
        )
        (tallied,) = cursor.fetchone()
    return bool(tallied == decisions)


def seed() -> Book:
    """Load the book unless the bench database already holds it."""
    started = time.perf_counter()
    ready = _book_ready()
    check_seconds = time.perf_counter() - started
    state_path = _state_path()
    if ready:
        saved = json.loads(state_path.read_text()) if state_path.exists() else {}
        return Book(
            reused=True,
            seeded_at=saved.get("seeded_at", "an earlier run"),
            seconds=saved.get("seconds"),
            steps=saved.get("steps", {}),
            appeals=saved.get("appeals", "not recorded"),
            check_seconds=check_seconds,
        )
    steps: dict[str, float] = {}

    @contextmanager
    def step(name: str) -> Iterator[None]:
        began = time.perf_counter()
        print(f"  pages: {name} ...", flush=True)
        yield
        steps[name] = time.perf_counter() - began
        print(f"  pages: {name}: {steps[name]:.1f} s", flush=True)

    began = time.perf_counter()
    with step("accounts (seed_demo --replace)"):
        # --replace TRUNCATEs the accounts CASCADE: their decisions, appeals and runs go
        # too (a TRUNCATE, not a DELETE, which the append-only trigger refuses).
        call_command("seed_demo", "--accounts", str(ACCOUNTS), "--replace", verbosity=0)
    now = timezone.now()
    with transaction.atomic(durable=True), connection.cursor() as cursor:
        cursor.execute("SET LOCAL work_mem = '256MB'")
        with step("decision plan"):
            _plan(cursor)
            # A partition for each month of the history (decisions/0021).
            month = (now - timedelta(days=HISTORY_DAYS)).date().replace(day=1)
            while month <= now.date():
                cursor.execute("SELECT decisions_partition_ensure(%s)", [month])
                month = (month + timedelta(days=32)).replace(day=1)
        with (
            step("decisions (INSERT … SELECT, indexes rebuilt after)"),
            _indexes_dropped(cursor, LimitDecision._meta.db_table),
        ):
            _insert_decisions(cursor, now)
        with step("account chain heads, last change, last reasons"):
            _update_accounts(cursor)
        with step("decision tally rebuild"):
            decision_tally_rebuild()
        with step("appeals"):
            appeals = _insert_appeals(cursor, now)
    with step("VACUUM (ANALYZE)"), connection.cursor() as cursor:
        tables = [
            Account._meta.db_table,
            "accounts_accountsignals",
            LimitDecision._meta.db_table,
            DecisionTally._meta.db_table,
        ]
        if _appeals_table() is not None:
            tables.append("appeals_appeal")
        cursor.execute(f"VACUUM (ANALYZE) {', '.join(tables)}")
    seconds = time.perf_counter() - began
    book = Book(
        reused=False,
        seeded_at=now.strftime("%Y-%m-%d %H:%M UTC"),
        seconds=seconds,
        steps=steps,
        appeals=appeals,
        check_seconds=check_seconds,
    )
    state_path.parent.mkdir(parents=True, exist_ok=True)
    state_path.write_text(
        json.dumps(
            {"seeded_at": book.seeded_at, "seconds": seconds, "steps": steps, "appeals": appeals}
        )
    )
    if not _book_ready():
        raise RuntimeError("the book was loaded but does not pass its own check")
    return book


def _describe(book: Book) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT CASE WHEN n <= 3 THEN '1–3' WHEN n <= 9 THEN '4–9'
                        WHEN n <= 19 THEN '10–19' ELSE '20+' END, count(*), max(n)
            FROM (SELECT account_id, max(sequence) AS n FROM decisions_limitdecision
                  GROUP BY account_id) AS per
            GROUP BY 1
            """
        )
        rows = cursor.fetchall()
        book.histogram = {bucket: count for bucket, count, _most in rows}
        book.most = max(most for _bucket, _count, most in rows)
        book.accounts = Account.objects.count()
        cursor.execute("SELECT count(*) FROM decisions_limitdecision")
        (book.decisions,) = cursor.fetchone()


# --------------------------------------------------------------------------
# The server and the client
# --------------------------------------------------------------------------


def web_command(port: int) -> list[str]:
    """The Procfile's `web` line, with its ${VAR:-default} expanded for this port."""
    env = {**os.environ, "LIMITDESK_PORT": str(port)}

    def expand(match: re.Match[str]) -> str:
        return env.get(match[1]) or match[2] or ""

    for line in (ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() == "web":
            return shlex.split(re.sub(r"\$\{(\w+)(?::-([^}]*))?\}", expand, command))
    raise RuntimeError("no `web` process in the Procfile")


@contextmanager
def web_server(log_path: Path) -> Iterator[tuple[int, list[str]]]:
    """gunicorn as in production, on a free port, with the bench environment (and the
    app's database login: the benchmark itself is the owner)."""
    port = free_port()
    command = web_command(port)
    log: IO[bytes] = log_path.open("ab")
    server = subprocess.Popen(
        command, cwd=ROOT, env=app_environment(), stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"gunicorn exited ({server.returncode}); see {log_path}")
            if _answers(port):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not answer within {STARTUP_SECONDS} s")
            time.sleep(0.2)
        yield port, command
    finally:
        _stop(server)
        log.close()


def _answers(port: int) -> bool:
    probe = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        probe.request("GET", "/login/")
        return probe.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        probe.close()


def _stop(server: subprocess.Popen[bytes]) -> None:
    stop_process_tree(server, grace_seconds=30)


class PageError(AssertionError):
    """A page answered something other than a non-empty 200."""


class Browser:
    """One HTTP/1.1 connection (kept alive when the server allows it, reopened when it
    closes it) and the cookies the server set."""

    def __init__(self, port: int, log_path: Path) -> None:
        self.port = port
        self.log_path = log_path
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.cookies: dict[str, str] = {}

    def send(
        self, method: str, path: str, *, body: bytes | None = None, headers: dict[str, str]
    ) -> tuple[int, http.client.HTTPMessage, bytes, float]:
        sent = {"Accept-Language": "en", "Accept": "text/html", **headers}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        for attempt in (1, 2):
            started = time.perf_counter()
            try:
                self.connection.request(method, path, body=body, headers=sent)
                response = self.connection.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # A kept-alive connection the server had closed: once more, on a new one.
                self.connection.close()
                if attempt == 2:
                    raise
                continue
            elapsed_ms = (time.perf_counter() - started) * 1000
            break
        for header in response.headers.get_all("Set-Cookie") or []:
            cookie: SimpleCookie = SimpleCookie()
            cookie.load(header)
            for name, morsel in cookie.items():
                if morsel.value and morsel["max-age"] != "0":
                    self.cookies[name] = morsel.value
                else:
                    self.cookies.pop(name, None)
        return response.status, response.headers, data, elapsed_ms

    def login(self, username: str, password: str) -> None:
        status, _headers, body, _ms = self.send("GET", "/login/", headers={})
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', body)
        if status != 200 or token is None:
            raise PageError(f"/login/: HTTP {status}, no CSRF token; see {self.log_path}")
        form = urlencode(
            {
                "csrfmiddlewaretoken": token[1].decode(),
                "username": username,
                "password": password,
                "next": "/",
            }
        )
        status, headers, _body, _ms = self.send(
            "POST",
            "/login/",
            body=form.encode(),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Referer": f"http://127.0.0.1:{self.port}/login/",
            },
        )
        if status != 302 or settings.SESSION_COOKIE_NAME not in self.cookies:
            raise PageError(
                f"log-in as {username} failed: HTTP {status}, location "
                f"{headers.get('Location')!r}; see {self.log_path}"
            )

    def page(self, path: str, *, htmx: bool = False) -> tuple[bytes, float]:
        headers = {"HX-Request": "true", "HX-Current-URL": path} if htmx else {}
        status, _headers, body, elapsed_ms = self.send("GET", path, headers=headers)
        if status != 200 or not body.strip():
            raise PageError(
                f"GET {path}{' (HTMX)' if htmx else ''}: HTTP {status}, {len(body)} bytes: "
                f"{body[:300]!r}; see {self.log_path}"
            )
        return body, elapsed_ms


# --------------------------------------------------------------------------
# What to request
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    page: str  # account | overview | search
    group: str
    path: str
    htmx: bool = False
    expect: str = ""  # text the page must contain


def account_requests(rng: random.Random) -> list[Request]:
    """Random accounts, random accounts with many decisions, the ones with the most,
    and the story accounts."""
    chosen = rng.sample(range(1, ACCOUNTS + 1), RANDOM_ACCOUNTS)
    references = dict(Account.objects.filter(pk__in=chosen).values_list("pk", "reference"))
    requests = [
        Request("account", "random account", f"/accounts/{references[pk]}/", expect=references[pk])
        for pk in chosen
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH per AS MATERIALIZED (
                SELECT account_id, max(sequence) AS n FROM decisions_limitdecision
                GROUP BY account_id
            )
            (SELECT 'most decisions', a.reference FROM per JOIN accounts_account AS a
             ON a.id = per.account_id ORDER BY per.n DESC, per.account_id LIMIT %s)
            UNION ALL
            (SELECT '{MANY_DECISIONS}+ decisions', a.reference FROM per
             JOIN accounts_account AS a ON a.id = per.account_id
             WHERE per.n >= %s ORDER BY hashint8extended(per.account_id, %s) LIMIT %s)
            """,  # noqa: S608
            [HEAVY_ACCOUNTS, MANY_DECISIONS, rng.randrange(1 << 30), MANY_ACCOUNTS],
        )
        for group, reference in cursor.fetchall():
            requests.append(Request("account", group, f"/accounts/{reference}/", expect=reference))
    for story in stories.STORY_ACCOUNTS:
        path = f"/accounts/{story.reference}/"
        requests.append(Request("account", "story account", path, expect=story.reference))
    rng.shuffle(requests)
    return requests


@dataclass(frozen=True)
class SearchSpace:
    """The list's query-string parameters, read from its form when it has one."""

    source: str
    filters: dict[str, list[str]]
    pages: bool
    form_class: type[forms.Form] | None
    reasons: list[tuple[str, str]]


def search_space() -> SearchSpace:
    reason_choices = getattr(decision_selectors, "reason_choices", None)
    reasons: list[tuple[str, str]] = (
        reason_choices("en")
        if reason_choices is not None
        else [(code, code) for code in ReasonCode.objects.values_list("code", flat=True)]
    )
    form_class = getattr(account_forms, "AccountFilterForm", None)
    if form_class is None:
        return SearchSpace("the view (it reads only `q` and `page`)", {}, True, None, reasons)
    filters: dict[str, list[str]] = {}
    for name, form_field in form_class.base_fields.items():
        values: list[str] = []
        if name in {"q", "page"}:
            continue
        if isinstance(form_field, forms.BooleanField):
            values = ["on"]
        elif isinstance(form_field, forms.ChoiceField):
            choices: Any = form_field.choices
            values = [str(value) for value, _label in choices if value != ""]
            if not values and name == "reason":
                values = [code for code, _label in reasons]
        elif isinstance(form_field, forms.IntegerField):
            low: Any = form_field.min_value if form_field.min_value is not None else 1
            high: Any = form_field.max_value if form_field.max_value is not None else 3650
            values = [str(v) for v in (1, 7, 30, 90, 365) if low <= v <= high]
        if values:
            filters[name] = values
    return SearchSpace(
        f"`{form_class.__module__}.{form_class.__name__}`",
        filters,
        "page" in form_class.base_fields,
        form_class,
        reasons,
    )


def _valid(space: SearchSpace, params: dict[str, str]) -> None:
    """Parameters the form refuses would measure the "bad parameters" answer: refuse them."""
    if space.form_class is None:
        return
    form_class: Callable[..., forms.Form] = space.form_class
    try:
        form = form_class(params, reasons=space.reasons)
    except TypeError:
        form = form_class(params)
    if not form.is_valid():
        raise RuntimeError(
            f"the benchmark made parameters the form refuses: {params} {form.errors}"
        )


def search_requests(rng: random.Random, space: SearchSpace) -> list[Request]:
    """Reference prefixes, a phone's last four digits and masked phones, filters and sorts
    alone and with a search; every second one as the HTMX live-search partial. The
    benchmark's person is a risk analyst, who may not search by more digits than the mask
    shows (accounts.forms.AccountFilterForm.clean_q)."""
    ids = rng.sample(range(1, ACCOUNTS + 1), 400)
    people = list(Account.objects.filter(pk__in=ids).values_list("reference", "phone"))
    fixed_prefixes = ["LD0004", "LD00012345", "LD000", "LD0009999"]

    def reference_prefix() -> str:
        if rng.random() < 0.3:
            return rng.choice(fixed_prefixes)
        reference = rng.choice(people)[0]
        prefix = reference[: rng.randint(6, len(reference))]
        return prefix.lower() if rng.random() < 0.1 else prefix

    def phone_suffix() -> str:
        return rng.choice(people)[1][-4:]

    def masked_phone() -> str:
        phone = rng.choice(people)[1]
        return f"{phone[:3]}****{phone[-4:]}"

    def some_filters() -> dict[str, str]:
        names = [name for name in space.filters if name != "sort"]
        chosen = rng.sample(names, k=min(len(names), rng.randint(1, 3))) if names else []
        params = {name: rng.choice(space.filters[name]) for name in chosen}
        if "sort" in space.filters and rng.random() < 0.6:
            params["sort"] = rng.choice(space.filters["sort"])
        return params

    kinds: list[tuple[str, float]] = [
        ("reference prefix", 0.25),
        ("phone suffix", 0.15),
        ("masked phone", 0.05),
        ("filters and sort", 0.30 if space.filters else 0.0),
        ("search + filters", 0.25 if space.filters else 0.0),
    ]
    names = [name for name, weight in kinds if weight]
    weights = [weight for _name, weight in kinds if weight]
    requests = []
    for number in range(SEARCH_REQUESTS):
        kind = rng.choices(names, weights)[0]
        params: dict[str, str] = {}
        if kind == "reference prefix":
            params["q"] = reference_prefix()
        elif kind == "phone suffix":
            params["q"] = phone_suffix()
        elif kind == "masked phone":
            params["q"] = masked_phone()
        elif kind == "filters and sort":
            params.update(some_filters())
        else:
            params["q"] = rng.choice([reference_prefix, phone_suffix])()
            params.update(some_filters())
        if space.pages and rng.random() < 0.15:
            params["page"] = str(rng.randint(2, 5))
        _valid(space, params)
        htmx = number % 2 == 1
        requests.append(Request("search", kind, f"/accounts/?{urlencode(params)}", htmx=htmx))
    return requests


# --------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    request: Request
    ms: float
    size: int


def measure(browser: Browser, requests: list[Request]) -> list[Sample]:
    samples = []
    for request in requests:
        body, ms = browser.page(request.path, htmx=request.htmx)
        if request.expect and request.expect.encode() not in body:
            raise PageError(f"GET {request.path}: 200 but {request.expect!r} is not on the page")
        samples.append(Sample(request, ms, len(body)))
    return samples


@dataclass(frozen=True)
class Stats:
    count: int
    p50: float
    p95: float
    p99: float
    max: float
    mean: float


def stats(values: list[float]) -> Stats:
    if len(values) < 2:
        value = values[0] if values else 0.0
        return Stats(len(values), value, value, value, value, value)
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return Stats(len(values), cuts[49], cuts[94], cuts[98], max(values), statistics.fmean(values))


# --------------------------------------------------------------------------
# Why: each page's queries, replayed in-process, and their plans
# --------------------------------------------------------------------------


@dataclass
class Diagnosis:
    queries: list[int] = field(default_factory=list)  # per replayed request
    indexes: set[str] = field(default_factory=set)
    seq_scans: set[str] = field(default_factory=set)
    slowest: tuple[float, str, str] | None = None  # ms, SQL, URL
    plan: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


APP_TABLES = ("accounts_", "decisions_", "appeals_")


def _walk(node: dict[str, Any], diagnosis: Diagnosis, tables: dict[str, str]) -> None:
    """Collect the indexes and the tables read whole by a plan, the app's tables only
    (sessions, users and permissions are read on every page the same way)."""
    index = node.get("Index Name")
    relation = node.get("Relation Name") or tables.get(index or "", "")
    if relation.startswith(APP_TABLES):
        if index:
            diagnosis.indexes.add(index)
        elif node.get("Node Type") == "Seq Scan":
            diagnosis.seq_scans.add(relation)
    for child in node.get("Plans", []):
        _walk(child, diagnosis, tables)


def diagnose(samples: list[Sample], user: User, *, explain_slowest: bool) -> Diagnosis:
    """Replay the slowest requests of a page in this process, capture their SQL, and read
    each query's plan for the indexes used and the tables scanned whole."""
    diagnosis = Diagnosis()
    client = Client(HTTP_HOST="127.0.0.1", HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, tablename FROM pg_indexes WHERE schemaname = 'public'")
        tables = dict(cursor.fetchall())
    # The slowest requests, and the first of each kind, for the plans of every shape.
    replay = sorted(samples, key=lambda s: s.ms, reverse=True)[:REPLAY_SLOWEST]
    for sample in samples:
        kind = (sample.request.group, sample.request.htmx)
        if all((r.request.group, r.request.htmx) != kind for r in replay):
            replay.append(sample)
    seen: set[str] = set()
    for sample in replay:
        request = sample.request
        headers = {"HX-Request": "true"} if request.htmx else {}
        try:
            with CaptureQueriesContext(connection) as captured:
                response = client.get(request.path, headers=headers)
        except Exception as error:  # the code may be changed while the bench runs
            diagnosis.errors.append(f"`{request.path}`: {type(error).__name__}: {error}")
            continue
        if response.status_code != 200:
            diagnosis.errors.append(f"`{request.path}`: HTTP {response.status_code}")
            continue
        diagnosis.queries.append(len(captured.captured_queries))
        for query in captured.captured_queries:
            sql = query["sql"]
            ms = float(query["time"]) * 1000
            if not sql.lstrip().upper().startswith("SELECT"):
                continue
            if diagnosis.slowest is None or ms > diagnosis.slowest[0]:
                diagnosis.slowest = (ms, sql, request.path)
            if sql in seen:
                continue
            seen.add(sql)
            try:
                with transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}")
                    (document,) = cursor.fetchone()
            except DatabaseError as error:
                diagnosis.errors.append(f"EXPLAIN failed ({error}) for `{sql[:200]}`")
                continue
            plan = document if isinstance(document, list) else json.loads(document)
            _walk(plan[0]["Plan"], diagnosis, tables)
    if explain_slowest and diagnosis.slowest is not None:
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {diagnosis.slowest[1]}")
            diagnosis.plan = [row[0] for row in cursor.fetchall()]
    return diagnosis


def index_inventory() -> dict[str, list[str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT tablename, indexname FROM pg_indexes
            WHERE tablename IN ('accounts_account', 'decisions_limitdecision',
                                'decisions_decisiontally')
            ORDER BY tablename, indexname
            """
        )
        inventory: dict[str, list[str]] = {}
        for table, index in cursor.fetchall():
            inventory.setdefault(table, []).append(index)
    return inventory


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------


def _met(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def _ms(value: float) -> str:
    return f"{value:.1f}"


def report(
    book: Book,
    samples: list[Sample],
    command: list[str],
    space: SearchSpace,
    diagnoses: dict[str, Diagnosis],
    inventory: dict[str, list[str]],
    warmup: int,
    row_estimates: dict[str, int],
) -> str:
    by_page: dict[str, list[Sample]] = {}
    for sample in samples:
        by_page.setdefault(sample.request.page, []).append(sample)
    summary = [
        "| page | requests | p50 (ms) | p95 (ms) | p99 (ms) | max (ms) | target (p95) | |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for page, title in PAGE_TITLES.items():
        s = stats([x.ms for x in by_page[page]])
        target = TARGETS_MS[page]
        summary.append(
            f"| {title} | {s.count} | {_ms(s.p50)} | {_ms(s.p95)} | {_ms(s.p99)} "
            f"| {_ms(s.max)} | ≤ {target:.0f} ms | {_met(s.p95 <= target)} |"
        )
    groups = [
        "| page | requests of | requests | p50 (ms) | p95 (ms) | max (ms) | mean size (KB) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for page in PAGE_TITLES:
        keys: dict[tuple[str, bool], list[Sample]] = {}
        for sample in by_page[page]:
            keys.setdefault((sample.request.group, sample.request.htmx), []).append(sample)
        for (group, htmx), chosen in sorted(keys.items()):
            s = stats([x.ms for x in chosen])
            size = statistics.fmean(x.size for x in chosen) / 1024
            label = f"{group}{', HTMX partial' if htmx else ''}" if page == "search" else group
            groups.append(
                f"| {page} | {label} | {s.count} | {_ms(s.p50)} | {_ms(s.p95)} "
                f"| {_ms(s.max)} | {size:.1f} |"
            )
    slowest = ["| page | ms | request |", "|---|---:|---|"]
    for page in PAGE_TITLES:
        for sample in sorted(by_page[page], key=lambda x: x.ms, reverse=True)[:5]:
            partial = " (HTMX)" if sample.request.htmx else ""
            slowest.append(f"| {page} | {_ms(sample.ms)} | `{sample.request.path}`{partial} |")
    relies = [
        "| page | SQL queries per request | indexes in the plans | tables read whole |",
        "|---|---:|---|---|",
    ]
    for page, diagnosis in diagnoses.items():
        queries = statistics.median(diagnosis.queries) if diagnosis.queries else 0
        whole = ", ".join(
            f"{table} ({row_estimates.get(table, 0):,} rows)"
            for table in sorted(diagnosis.seq_scans)
        )
        relies.append(
            f"| {page} | {queries:g} | {', '.join(sorted(diagnosis.indexes)) or '—'} "
            f"| {whole or '—'} |"
        )
    for page, diagnosis in diagnoses.items():
        for error in diagnosis.errors:
            relies.append(f"| {page} | replay failed | {error} | |")
    misses = []
    for page, diagnosis in diagnoses.items():
        page_stats = stats([x.ms for x in by_page[page]])
        if page_stats.p95 <= TARGETS_MS[page] or diagnosis.slowest is None:
            continue
        ms, sql, path = diagnosis.slowest
        shown = sql if len(sql) <= 1200 else sql[:1200] + " …"
        plan = diagnosis.plan[:PLAN_LINES]
        if len(diagnosis.plan) > PLAN_LINES:
            plan.append("…")
        misses.append(
            f"**{page}** (p95 {_ms(page_stats.p95)} ms): the slowest query of the slowest "
            f"requests, {ms:.1f} ms in `{path}`:\n\n```sql\n{shown}\n```\n\n"
            "```\n" + "\n".join(plan) + "\n```"
        )
    histogram = ", ".join(
        f"{bucket}: {book.histogram.get(bucket, 0):,}" for bucket in ("1–3", "4–9", "10–19", "20+")
    )
    steps = "; ".join(f"{name} {seconds:.1f} s" for name, seconds in book.steps.items())
    took = f"in {book.seconds:.1f} s ({steps})" if book.seconds is not None else ""
    if book.reused:
        seeding = (
            f"The book was already in the bench database (checked by counts in "
            f"{book.check_seconds:.1f} s) and was reused; it was seeded on {book.seeded_at} "
            f"{took}."
        )
    else:
        seeding = f"Seeded for this run {took}."
    seeding += f" On disk: {on_disk()}."
    inventory_text = "; ".join(
        f"`{table}`: {', '.join(indexes)}" for table, indexes in inventory.items()
    )
    filters = (
        ", ".join(f"`{name}` ({len(values)} values)" for name, values in space.filters.items())
        or "none"
    )
    return (
        "## Page speed through the real server (`pages`)\n\n"  # noqa: S608 - prose, not SQL
        f"The book: {book.accounts:,} accounts (`seed_demo --accounts {ACCOUNTS:,}`) and "
        f"{book.decisions:,} limit decisions spread over the last {HISTORY_DAYS} days, "
        "generated inside PostgreSQL by one `INSERT … SELECT … generate_series` (chained "
        "`sequence`, limits, statuses, scores and `prev_hash`/`hash` per account; reasons "
        "from `decisions_reasoncode`; points per signal and inputs computed from each "
        "account's signals), then each account's `chain_head`, `limit_changed_at` and "
        "`last_reasons` set from its latest decision and `decision_tally_rebuild()` run. "
        f"Decisions per account: {histogram} (most: {book.most}). Appeals: {book.appeals}. "
        f"{seeding}\n\n"
        f"The server: `{' '.join(command)}` (the Procfile's `web` line: sync workers, "
        "which close the connection after each response), `DEBUG=0`, PostgreSQL and Redis "
        "of the bench profile. The client: `http.client`, one connection, requests one "
        f"after the other, logged in as `{USERNAME}` (risk analyst) with the session "
        f"cookie; {warmup} warm-up requests first (not counted). Every response must be "
        "a non-empty 200 (an account page must also name its account). Times are from "
        "sending the request to the last byte of the body.\n\n"
        "Account pages: random accounts, random accounts with "
        f"{MANY_DECISIONS}+ decisions, the {HEAVY_ACCOUNTS} accounts with the most decisions "
        "and the story accounts. Search: reference prefixes (e.g. `LD0004`, `LD00012345`), "
        "the last four digits of phones, masked phones (`138****5678`), filters and sorts "
        "alone and with a search, some on pages 2–5; every second request with "
        f"`HX-Request: true` (the live-search partial). Filters and sorts from {space.source}: "
        f"{filters}.\n\n"
        + "\n".join(summary)
        + "\n\nBy kind of request:\n\n"
        + "\n".join(groups)
        + "\n\nSlowest requests:\n\n"
        + "\n".join(slowest)
        + "\n\nWhat the pages rely on, from `EXPLAIN` of every query of the slowest "
        f"{REPLAY_SLOWEST} requests of each page and of the first request of each kind, "
        "replayed in-process (Django test client, same database; the app's tables only, "
        "not the session, user and permission reads every page makes):\n\n"
        + "\n".join(relies)
        + "\n\nPrecomputed for these pages, kept by `decisions_write` in each decision's "
        "transaction: `Account.chain_head`, `Account.limit_changed_at` and "
        "`Account.last_reasons` (the list's *changed within* and *reason* filters read "
        "the account row, not the decisions table), and `DecisionTally`, insert-only "
        "per-day counts per action and reason for the overview's charts. Indexes present: "
        f"{inventory_text}.\n" + ("\n" + "\n\n".join(misses) + "\n" if misses else "")
    )


# --------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------


def on_disk() -> str:
    """The bench database's size, and its largest tables with their indexes."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_database_size(current_database())")
        (total,) = cursor.fetchone()
        cursor.execute(
            "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class AS c "
            "WHERE c.relkind IN ('r', 'p') AND c.relnamespace = 'public'::regnamespace "
            "ORDER BY 2 DESC LIMIT 4"
        )
        largest = cursor.fetchall()
    gib = 1024**3
    tables = ", ".join(f"`{name}` {size / gib:.2f} GiB" for name, size in largest)
    return f"the database {total / gib:.2f} GiB ({tables}, each with its indexes)"


def run() -> str:
    book = seed()
    _describe(book)
    user = User.objects.get(username=USERNAME)
    rng = random.Random(SEED)  # noqa: S311 - a reproducible sample, not a secret
    space = search_space()
    plan = {
        "account": account_requests(rng),
        "overview": [Request("overview", "overview", "/") for _ in range(OVERVIEW_REQUESTS)],
        "search": search_requests(rng, space),
    }
    warm_rng = random.Random(SEED + 1)  # noqa: S311
    warmup = [
        *warm_rng.sample(account_requests(warm_rng), WARMUP_PER_PAGE),
        *[Request("overview", "overview", "/") for _ in range(WARMUP_PER_PAGE)],
        *warm_rng.sample(search_requests(warm_rng, space), WARMUP_PER_PAGE),
    ]
    log_path = Path(settings.STATE_DIR) / WEB_LOG
    log_path.parent.mkdir(parents=True, exist_ok=True)
    samples: list[Sample] = []
    # The views as the server will load them, for the in-process replay afterwards
    # (the code may be edited while the benchmark runs).
    get_resolver().url_patterns  # noqa: B018 - imports every view module now
    with web_server(log_path) as (port, command):
        browser = Browser(port, log_path)
        browser.login(USERNAME, DEMO_PASSWORD)
        measure(browser, warmup)
        for page, requests in plan.items():
            print(f"  pages: {len(requests)} requests of the {page} page ...", flush=True)
            measured = measure(browser, requests)
            s = stats([x.ms for x in measured])
            print(f"  pages: {page}: p50 {s.p50:.1f} ms, p95 {s.p95:.1f} ms", flush=True)
            samples.extend(measured)
    diagnoses = {}
    for page in PAGE_TITLES:
        chosen = [s for s in samples if s.request.page == page]
        page_stats = stats([x.ms for x in chosen])
        diagnoses[page] = diagnose(chosen, user, explain_slowest=page_stats.p95 > TARGETS_MS[page])
    row_estimates: dict[str, int] = {}
    with connection.cursor() as cursor:
        for table in sorted({t for d in diagnoses.values() for t in d.seq_scans}):
            cursor.execute(f"SELECT count(*) FROM {connection.ops.quote_name(table)}")  # noqa: S608
            (row_estimates[table],) = cursor.fetchone()
    return report(
        book, samples, command, space, diagnoses, index_inventory(), len(warmup), row_estimates
    )

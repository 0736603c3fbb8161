"""The appeal queue under load: claim next with eight handlers at once, and the queue page.

100,000 open appeals (new, unassigned) on the accounts already in the bench database.
Eight handlers claim at the same time, each in its own process and database connection,
calling `appeals.services.appeal_claim_next`; then eight logged-in clients claim through
the real server (`POST /appeals/claim/`), and an appeal lead reads the queue page
(`GET /appeals/?view=unassigned|all` with filters) through it.

Targets: claim next p95 ≤ 20 ms with no appeal claimed twice; queue page p95 ≤ 100 ms.

The appeals found in the database (the `pages` book has a few thousand) are set aside
at the start and put back at the end, so a re-run starts from the same state and the
`pages` book keeps its appeals.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import random
import re
import statistics
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path
from queue import Empty
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.db import connection, connections, transaction
from django.db.backends.utils import CursorWrapper
from django.db.models import Count
from django.test.utils import CaptureQueriesContext
from django.urls import get_resolver
from django.utils import timezone

from accounts.access import may
from accounts.models import Account
from accounts.roles import APPEAL_HANDLER, APPEAL_LEAD
from appeals.forms import QueueFilterForm
from appeals.models import Appeal
from appeals.services import appeal_claim_next
from bench.pages import (
    Browser,
    Diagnosis,
    PageError,
    Request,
    Sample,
    Stats,
    _met,
    _ms,
    _u,
    diagnose,
    stats,
    web_server,
)
from bench.processes import CpuUse, cpu_use, server_pids
from demo.services import DEMO_PASSWORD

# The queue.
APPEALS = 100_000
ACCOUNT_POOL = 10_000  # appeals go to this many of the accounts, spread over the book
DEMO_ACCOUNTS = 10_000  # seed_demo --if-empty when the bench database has no accounts
SLA_FROM_HOURS = -12  # a few appeals already past their SLA …
SLA_TO_HOURS = 180  # … the rest due over the next days
PRIORITY_WEIGHTS = {1: 0.20, 2: 0.45, 3: 0.25, 4: 0.10}
SEED = 2026

# Claim next.
HANDLERS = 8
CLAIMS_PER_HANDLER = 500
HTTP_CLAIMS_PER_CLIENT = 100
HANDLER_NAME = "bench-queue-handler-{}"
LEAD_NAME = "bench-queue-lead"
CLAIM_TIMEOUT = 600.0
TARGET_CLAIM_MS = 20.0
# Other processes on the machine using more than this many cores during a measurement
# are named in the report: the figures are then slower than on a quiet machine.
OTHER_LOAD_CORES = 0.25

# The queue page.
QUEUE_REQUESTS = 300
WARMUP = 20
TARGET_QUEUE_MS = 100.0
APPEAL_LINK = re.compile(rb'href="/appeals/(\d+)/"')
PLAN_LINES = 40

WEB_LOG = "queue-web.log"
KEPT = "bench_queue_kept_"  # prefix of the tables holding the appeals found at the start
APPEAL_TABLE = Appeal._meta.db_table


# --------------------------------------------------------------------------
# A known state: the appeals found are set aside, and put back at the end
# --------------------------------------------------------------------------


def _appeal_tables(cursor: CursorWrapper) -> list[str]:
    """appeals_appeal and every table whose rows point at it (directly or further on),
    parents first: what `TRUNCATE appeals_appeal CASCADE` empties."""
    tables = [APPEAL_TABLE]
    for table in tables:
        cursor.execute(
            """
            SELECT DISTINCT conrelid::regclass::text FROM pg_constraint
            WHERE contype = 'f' AND confrelid = %s::regclass AND conrelid <> confrelid
            ORDER BY 1
            """,
            [table],
        )
        tables.extend(name for (name,) in cursor.fetchall() if name not in tables)
    return tables


def set_aside() -> int:
    """Copy the appeals there are (and their events, evidence rows …) into tables of
    their own, unless an earlier run that did not finish left such copies, then empty
    the appeal tables. Returns how many appeals are set aside."""
    quoted = connection.ops.quote_name
    with transaction.atomic(), connection.cursor() as cursor:
        tables = _appeal_tables(cursor)
        cursor.execute("SELECT to_regclass(%s)", [KEPT + APPEAL_TABLE])
        (kept,) = cursor.fetchone()
        if kept is None:
            for table in tables:
                cursor.execute(f"CREATE TABLE {quoted(KEPT + table)} AS TABLE {quoted(table)}")
        cursor.execute(f"SELECT count(*) FROM {quoted(KEPT + APPEAL_TABLE)}")  # noqa: S608
        (count,) = cursor.fetchone()
        cursor.execute(f"TRUNCATE {quoted(APPEAL_TABLE)} CASCADE")
    return int(count)


def put_back() -> None:
    """Empty the appeal tables and restore the rows set aside (same ids)."""
    quoted = connection.ops.quote_name
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [KEPT + APPEAL_TABLE])
        if cursor.fetchone()[0] is None:
            return  # nothing was set aside (and nothing emptied)
        tables = _appeal_tables(cursor)
        cursor.execute(f"TRUNCATE {quoted(APPEAL_TABLE)} CASCADE")
        for table in tables:
            cursor.execute("SELECT to_regclass(%s)", [KEPT + table])
            if cursor.fetchone()[0] is None:
                continue
            columns = [
                column.name
                for column in connection.introspection.get_table_description(cursor, KEPT + table)
            ]
            present = {
                column.name
                for column in connection.introspection.get_table_description(cursor, table)
            }
            names = ", ".join(quoted(c) for c in columns if c in present)
            cursor.execute(
                f"INSERT INTO {quoted(table)} ({names}) "  # noqa: S608
                f"SELECT {names} FROM {quoted(KEPT + table)}"
            )
            cursor.execute(f"DROP TABLE {quoted(KEPT + table)}")
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM (ANALYZE) {quoted(APPEAL_TABLE)}")


# --------------------------------------------------------------------------
# The queue and the people working it
# --------------------------------------------------------------------------


@dataclass
class Queue100k:
    accounts: int  # in the database
    accounts_seeded: bool
    pool: int  # accounts the appeals are on
    appeals: int
    kept: int  # appeals found and set aside
    seconds: float
    breached: int
    priorities: dict[int, int] = field(default_factory=dict)


def _choice(values: list[Any], key: str, salt: int) -> str:
    """SQL picking one of `values` (literals from the model's choices) by a hash of key."""
    items = ", ".join(f"'{value}'" for value in values)
    return f"(ARRAY[{items}])[1 + floor({_u(key, salt)} * {len(values)})::int]"


def _priority(key: str, salt: int) -> str:
    branches, total = [], 0.0
    for priority, weight in PRIORITY_WEIGHTS.items():
        total += weight
        branches.append(f"WHEN {_u(key, salt)} < {total:.4f} THEN {priority}")
    return f"CASE {' '.join(branches[:-1])} ELSE {list(PRIORITY_WEIGHTS)[-1]} END"


def seed() -> Queue100k:
    """100,000 open appeals (new, unassigned) in one INSERT … SELECT generate_series."""
    began = time.perf_counter()
    seeded = False
    if not Account.objects.exists():
        print(f"  queue: no accounts; seed_demo --accounts {DEMO_ACCOUNTS:,} ...", flush=True)
        call_command("seed_demo", "--accounts", str(DEMO_ACCOUNTS), "--if-empty", verbosity=0)
        seeded = True
    kept = set_aside()
    now = timezone.now()
    # Every column: the ones set here, the model's defaults for the others (so a new
    # column with a default needs no change here).
    values = {
        "account_id": "p.id",
        "decision_id": "NULL",
        "channel": _choice(list(Appeal.Channel.values), "g", 21),
        "category": _choice(list(Appeal.Category.values), "g", 22),
        "statement": "'I repay on time; please look at my limit again. (bench ' || g || ')'",
        "priority": _priority("g", 23),
        "assignee_id": "NULL",
        "state": f"'{Appeal.State.NEW.value}'",
        "sla_due": f"%(now)s + ({SLA_FROM_HOURS} + {_u('g', 24)} * "
        f"{SLA_TO_HOURS - SLA_FROM_HOURS}) * interval '1 hour'",
        "created_at": f"%(now)s - (1 + {_u('g', 25)} * 240) * interval '1 hour'",
        "updated_at": "%(now)s",
    }
    params: dict[str, Any] = {"now": now, "appeals": APPEALS, "pool": ACCOUNT_POOL}
    columns, selects = [], []
    for model_field in Appeal._meta.concrete_fields:
        if model_field.primary_key:
            continue
        column = model_field.column
        if column is None:
            continue
        columns.append(connection.ops.quote_name(column))
        if column in values:
            selects.append(values[column])
            continue
        default = model_field.get_default()
        if default is None and not model_field.null:
            raise RuntimeError(f"the benchmark has no value for the new column {column}")
        params[f"default_{column}"] = model_field.get_db_prep_save(default, connection)
        selects.append(f"%(default_{column})s")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""
            CREATE TEMP TABLE bench_queue_pool ON COMMIT DROP AS
            SELECT row_number() OVER (ORDER BY h, id) - 1 AS n, id
            FROM (SELECT id, hashint8extended(id, {SEED}) AS h FROM accounts_account
                  ORDER BY h, id LIMIT %(pool)s) AS chosen
            """,  # noqa: S608 - the SQL pieces come from code
            params,
        )
        cursor.execute("SELECT count(*) FROM bench_queue_pool")
        (pool,) = cursor.fetchone()
        params["pool_size"] = pool
        cursor.execute(
            f"""
            INSERT INTO {APPEAL_TABLE} ({", ".join(columns)})
            SELECT {", ".join(selects)}
            FROM generate_series(1, %(appeals)s) AS g
            JOIN bench_queue_pool AS p
              ON p.n = floor({_u("g", 20)} * %(pool_size)s)::int8
            """,  # noqa: S608
            params,
        )
        inserted = cursor.rowcount
    if inserted != APPEALS:
        raise RuntimeError(f"inserted {inserted:,} appeals, not {APPEALS:,}")
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM (ANALYZE) {APPEAL_TABLE}, appeals_appealevent")
    priorities = dict(
        Appeal.objects.values_list("priority").annotate(n=Count("id")).order_by("priority")
    )
    return Queue100k(
        accounts=Account.objects.count(),
        accounts_seeded=seeded,
        pool=pool,
        appeals=Appeal.objects.filter(state=Appeal.State.NEW, assignee__isnull=True).count(),
        kept=kept,
        seconds=time.perf_counter() - began,
        breached=Appeal.objects.filter(sla_due__lt=now).count(),
        priorities=priorities,
    )


def _user(username: str, group: str) -> User:
    """A bench user in one role (the group of the data migration), password DEMO_PASSWORD."""
    user, created = User.objects.get_or_create(username=username)
    if created or not user.is_active:
        user.is_active = True
        user.set_password(DEMO_PASSWORD)
        user.save()
    user.groups.set([Group.objects.get(name=group)])
    return user


def people() -> tuple[list[User], User]:
    handlers = [_user(HANDLER_NAME.format(n), APPEAL_HANDLER) for n in range(1, HANDLERS + 1)]
    return handlers, _user(LEAD_NAME, APPEAL_LEAD)


# --------------------------------------------------------------------------
# Claim next in the service: eight processes, each its own database connection
# --------------------------------------------------------------------------

# handler id, [(appeal id, ms)], error
ClaimerResult = tuple[int, list[tuple[int, float]], str]


def _close_database() -> None:
    """Close this process's connections and its connection pool (a forked child must
    not share the parent's sockets; it opens its own)."""
    for alias in connections:
        database = connections[alias]
        database.close()
        close_pool = getattr(database, "close_pool", None)
        if close_pool is not None:
            close_pool()


def _claimer(handler_id: int, claims: int, start: Barrier, results: Queue[ClaimerResult]) -> None:
    """One handler in a process of its own: `claims` claims one after the other."""
    claimed: list[tuple[int, float]] = []
    error = ""
    try:
        handler = User.objects.get(pk=handler_id)
        # As a logged-in request has it: the user and their permissions read once.
        if not may(handler, "accounts.work_appeals"):
            raise RuntimeError(f"{handler.username} cannot work appeals")
        start.wait(CLAIM_TIMEOUT)
        for _ in range(claims):
            began = time.perf_counter()
            appeal = appeal_claim_next(handler=handler)
            ms = (time.perf_counter() - began) * 1000
            if appeal is None:
                break
            claimed.append((appeal.pk, ms))
    except Exception as exc:  # reported by the parent, not lost in the child
        error = f"{type(exc).__name__}: {exc}"
        start.abort()
    finally:
        _close_database()
    results.put((handler_id, claimed, error))


@dataclass(frozen=True)
class Claim:
    appeal_id: int
    handler_id: int
    ms: float  # the call (service) or POST → 302 (HTTP)
    follow_ms: float = 0.0  # HTTP: the GET of the appeal page it redirects to


@dataclass
class ClaimRun:
    claims: list[Claim]
    seconds: float  # wall time, all handlers together

    @property
    def per_second(self) -> float:
        return len(self.claims) / self.seconds if self.seconds else 0.0


def claim_in_service(handlers: list[User]) -> ClaimRun:
    context = multiprocessing.get_context("fork")
    start = context.Barrier(len(handlers) + 1)
    results: Queue[ClaimerResult] = context.Queue()
    _close_database()
    workers = [
        context.Process(
            target=_claimer,
            args=(handler.pk, CLAIMS_PER_HANDLER, start, results),
            name=f"claimer-{handler.username}",
        )
        for handler in handlers
    ]
    collected: list[ClaimerResult] = []
    try:
        for worker in workers:
            worker.start()
        # A claimer that failed to start breaks the barrier; its error comes with the results.
        with contextlib.suppress(threading.BrokenBarrierError):
            start.wait(CLAIM_TIMEOUT)
        began = time.perf_counter()
        try:
            for _ in workers:
                collected.append(results.get(timeout=CLAIM_TIMEOUT))
        except Empty:
            raise RuntimeError("a claimer process sent no result") from None
        seconds = time.perf_counter() - began
    finally:
        for worker in workers:
            worker.join(30)
            if worker.is_alive():
                worker.kill()
                worker.join(10)
    errors = [f"handler {handler}: {error}" for handler, _claims, error in collected if error]
    if errors:
        raise RuntimeError("claim next failed: " + "; ".join(errors))
    claims = [
        Claim(appeal_id, handler, ms)
        for handler, claimed, _error in collected
        for appeal_id, ms in claimed
    ]
    return ClaimRun(claims, seconds)


# --------------------------------------------------------------------------
# Claim next through the server: eight logged-in clients at once
# --------------------------------------------------------------------------

CLAIMED_PAGE = re.compile(r"/appeals/(\d+)/")


def _csrf_token(browser: Browser) -> str:
    body, _ms = browser.page("/appeals/")
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', body)
    if token is None:
        raise PageError("GET /appeals/: no claim form with a CSRF token for a handler")
    return token[1].decode()


def _http_claimer(
    browser: Browser, handler_id: int, start: threading.Barrier, out: list[Claim]
) -> None:
    token = _csrf_token(browser)
    form = urlencode({"csrfmiddlewaretoken": token}).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-CSRFToken": token}
    start.wait(CLAIM_TIMEOUT)
    for _ in range(HTTP_CLAIMS_PER_CLIENT):
        status, response, body, ms = browser.send(
            "POST", "/appeals/claim/", body=form, headers=headers
        )
        location = response.get("Location", "")
        claimed = CLAIMED_PAGE.fullmatch(location)
        if status != 302 or claimed is None:
            raise PageError(
                f"POST /appeals/claim/: HTTP {status}, location {location!r}, "
                f"{body[:300]!r}; see {browser.log_path}"
            )
        _page, follow_ms = browser.page(location)
        out.append(Claim(int(claimed[1]), handler_id, ms, follow_ms))


def claim_over_http(port: int, log_path: Path, handlers: list[User]) -> ClaimRun:
    browsers = []
    for handler in handlers:
        browser = Browser(port, log_path)
        browser.login(handler.username, DEMO_PASSWORD)
        browsers.append(browser)
    start = threading.Barrier(len(browsers) + 1)
    outs: list[list[Claim]] = [[] for _ in browsers]
    errors: list[BaseException] = []

    def work(browser: Browser, handler: User, out: list[Claim]) -> None:
        try:
            _http_claimer(browser, handler.pk, start, out)
        except BaseException as error:  # reported below, not lost in the thread
            errors.append(error)
            start.abort()

    threads = [
        threading.Thread(target=work, args=(browser, handler, out))
        for browser, handler, out in zip(browsers, handlers, outs, strict=True)
    ]
    for thread in threads:
        thread.start()
    with contextlib.suppress(threading.BrokenBarrierError):
        start.wait(CLAIM_TIMEOUT)
    began = time.perf_counter()
    for thread in threads:
        thread.join(CLAIM_TIMEOUT)
    seconds = time.perf_counter() - began
    if errors:
        raise errors[0]
    return ClaimRun([claim for out in outs for claim in out], seconds)


# --------------------------------------------------------------------------
# Did anyone get an appeal twice?
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class ClaimCheck:
    claimed: int  # claims the clients saw
    distinct: int  # distinct appeals among them
    events: int  # 'claim' events in the database
    appeals_with_two_events: int
    assignee_matches: int  # claimed appeals in review with the claimer as assignee
    actor_matches: int  # claimed appeals whose one claim event names the claimer
    assigned: int  # appeals with an assignee at all
    most_urgent: int  # of the `claimed` most urgent appeals, how many were claimed

    @property
    def double_claims(self) -> int:
        return (self.claimed - self.distinct) + self.appeals_with_two_events

    @property
    def consistent(self) -> bool:
        n = self.claimed
        return (self.events, self.assignee_matches, self.actor_matches, self.assigned) == (
            n,
            n,
            n,
            n,
        )

    @property
    def in_order(self) -> bool:
        return self.most_urgent == self.claimed


def check_claims(claims: list[Claim]) -> ClaimCheck:
    ids = [claim.appeal_id for claim in claims]
    handlers = [claim.handler_id for claim in claims]
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH claimed AS MATERIALIZED (
                SELECT * FROM unnest(%(ids)s::bigint[], %(handlers)s::bigint[])
                    AS c(id, handler)
            ), events AS MATERIALIZED (
                SELECT appeal_id, count(*) AS n, min(actor_id) AS actor
                FROM appeals_appealevent WHERE move = 'claim' GROUP BY appeal_id
            )
            SELECT
                (SELECT COALESCE(sum(n), 0) FROM events),
                (SELECT count(*) FROM events WHERE n > 1),
                (SELECT count(*) FROM claimed AS c JOIN appeals_appeal AS a ON a.id = c.id
                 WHERE a.assignee_id = c.handler AND a.state = 'in_review'),
                (SELECT count(*) FROM claimed AS c JOIN events AS e ON e.appeal_id = c.id
                 WHERE e.n = 1 AND e.actor = c.handler),
                (SELECT count(*) FROM appeals_appeal WHERE assignee_id IS NOT NULL),
                (SELECT count(*) FROM (SELECT id FROM appeals_appeal
                                       ORDER BY priority DESC, sla_due, id
                                       LIMIT %(n)s) AS top
                 WHERE top.id IN (SELECT id FROM claimed))
            """,
            {"ids": ids, "handlers": handlers, "n": len(ids)},
        )
        events, doubled, assignees, actors, assigned, most_urgent = cursor.fetchone()
    return ClaimCheck(
        claimed=len(ids),
        distinct=len(set(ids)),
        events=int(events),
        appeals_with_two_events=doubled,
        assignee_matches=assignees,
        actor_matches=actors,
        assigned=assigned,
        most_urgent=most_urgent,
    )


@dataclass
class ClaimPlan:
    queries: int  # per claim, on the appeal tables
    total_queries: int  # with the user's permissions read once
    plan: list[str]  # EXPLAIN ANALYZE of the FOR UPDATE SKIP LOCKED query
    sql: str
    slowest: list[tuple[float, str]]  # execution ms, SQL


def claim_plan(handler: User) -> ClaimPlan:
    """One claim in this process under CaptureQueriesContext, its queries explained with
    ANALYZE in the same transaction, all rolled back."""
    fresh = User.objects.get(pk=handler.pk)
    plan: list[str] = []
    sql = ""
    timed: list[tuple[float, str]] = []
    with transaction.atomic():
        with CaptureQueriesContext(connection) as captured:
            appeal_claim_next(handler=fresh)
        queries = [
            q["sql"]
            for q in captured.captured_queries
            if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))
        ]
        on_appeals = [q for q in queries if "appeals_" in q]
        with connection.cursor() as cursor:
            for query in on_appeals:
                cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {query}")
                lines = [row[0] for row in cursor.fetchall()]
                execution = next(
                    (float(line.split()[2]) for line in lines if line.startswith("Execution")),
                    0.0,
                )
                timed.append((execution, query))
                if "SKIP LOCKED" in query.upper() and not plan:
                    plan, sql = lines, query
        transaction.set_rollback(True)
    return ClaimPlan(len(on_appeals), len(queries), plan, sql, sorted(timed, reverse=True))


# --------------------------------------------------------------------------
# The queue page
# --------------------------------------------------------------------------


def _filter_values() -> dict[str, list[str]]:
    """The queue's filters and their values, from its form."""
    values: dict[str, list[str]] = {}
    for name, form_field in QueueFilterForm.base_fields.items():
        if name in {"view", "page"} or not isinstance(form_field, forms.ChoiceField):
            continue
        choices: Any = form_field.choices
        values[name] = [str(value) for value, _label in choices if value != ""]
    return values


def queue_requests(rng: random.Random, count: int) -> list[Request]:
    """Half `view=unassigned`, half `view=all`; no filter, one or two of the other
    filters, or an SLA filter (alone or with one other); some on page 2 or 3; every
    second one as the HTMX partial the filter form asks for."""
    filters = _filter_values()
    others = [name for name in filters if name != "sla"]
    requests = []
    for number in range(count):
        view = "unassigned" if number % 4 < 2 else "all"
        params = {"view": view}
        kind = rng.choices(["none", "others", "sla"], [0.25, 0.35, 0.40])[0]
        if kind == "others" and others:
            for name in rng.sample(others, k=min(len(others), rng.randint(1, 2))):
                params[name] = rng.choice(filters[name])
            group = f"view={view}, {'/'.join(others)}"
        elif kind == "sla" and "sla" in filters:
            params["sla"] = rng.choice(filters["sla"])
            if others and rng.random() < 0.5:
                name = rng.choice(others)
                params[name] = rng.choice(filters[name])
            group = f"view={view}, sla={params['sla']}"
        else:
            group = f"view={view}, no filter"
        if rng.random() < 0.1:
            params["page"] = str(rng.randint(2, 3))
        form = QueueFilterForm(params)
        if not form.is_valid():
            raise RuntimeError(f"the benchmark made parameters the form refuses: {form.errors}")
        htmx = number % 2 == 1
        requests.append(Request("queue", group, f"/appeals/?{urlencode(params)}", htmx=htmx))
    rng.shuffle(requests)
    return requests


@dataclass(frozen=True)
class QueueSample:
    sample: Sample
    rows: int  # appeals listed


def measure_queue(browser: Browser, requests: list[Request]) -> list[QueueSample]:
    samples = []
    for request in requests:
        body, ms = browser.page(request.path, htmx=request.htmx)
        if b'id="results"' not in body:
            raise PageError(f"GET {request.path}: 200 but no results section")
        rows = len(set(APPEAL_LINK.findall(body)))
        samples.append(QueueSample(Sample(request, ms, len(body)), rows))
    return samples


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------


def _row(title: str, s: Stats, extra: str) -> str:
    return (
        f"| {title} | {s.count:,} | {_ms(s.p50)} | {_ms(s.p95)} | {_ms(s.p99)} | {_ms(s.max)} "
        f"| {extra} |"
    )


def _one_line(sql: str) -> str:
    return " ".join(sql.split())


def _plan_block(lines: list[str]) -> str:
    shown = lines[:PLAN_LINES] + (["…"] if len(lines) > PLAN_LINES else [])
    return "```\n" + "\n".join(shown) + "\n```"


def _cpu_text(cpu: dict[str, CpuUse]) -> str:
    names = {
        "alone": "one handler alone",
        "service": f"{HANDLERS} handlers in the service",
        "http": "the HTTP claims",
        "page": "the queue page",
    }
    parts = [
        f"{names[name]}: {use.ours_cores:.2f} by the benchmark (its processes, PostgreSQL "
        f"and Redis), {use.others_cores:.2f} by other processes"
        for name, use in cpu.items()
    ]
    busy = [names[name] for name, use in cpu.items() if use.others_cores > OTHER_LOAD_CORES]
    warning = (
        f" **Other load on the machine** during {', '.join(busy)}: those figures are slower "
        "than on a quiet machine."
        if busy
        else ""
    )
    return f"CPU used, in cores of the {os.cpu_count()}: " + "; ".join(parts) + "." + warning


def report(
    queue: Queue100k,
    alone: ClaimRun,
    service: ClaimRun,
    http: ClaimRun,
    check: ClaimCheck,
    plan: ClaimPlan,
    pages: list[QueueSample],
    diagnosis: Diagnosis,
    command: list[str],
    cpu: dict[str, CpuUse],
) -> str:
    alone_stats = stats([c.ms for c in alone.claims])
    service_stats = stats([c.ms for c in service.claims])
    post_stats = stats([c.ms for c in http.claims])
    both_stats = stats([c.ms + c.follow_ms for c in http.claims])
    page_stats = stats([q.sample.ms for q in pages])
    claim_met = service_stats.p95 <= TARGET_CLAIM_MS
    no_doubles = check.double_claims == 0 and check.consistent
    queue_met = page_stats.p95 <= TARGET_QUEUE_MS
    header = (
        "| | claims | p50 (ms) | p95 (ms) | p99 (ms) | max (ms) | claims/s |\n"
        "|---|---:|---:|---:|---:|---:|---:|"
    )
    claims_table = "\n".join(
        [
            header,
            _row(
                "service: one handler alone (for reference: no contention)",
                alone_stats,
                f"{alone.per_second:,.0f}",
            ),
            _row(
                "service: `appeal_claim_next()`, 8 processes",
                service_stats,
                f"{service.per_second:,.0f}",
            ),
            _row("HTTP: `POST /appeals/claim/` → 302, 8 clients", post_stats, "—"),
            _row(
                "HTTP: the POST and the GET of the appeal page it redirects to",
                both_stats,
                f"{http.per_second:,.0f}",
            ),
        ]
    )
    by_group: dict[str, list[QueueSample]] = {}
    for q in pages:
        by_group.setdefault(q.sample.request.group, []).append(q)
    groups = [
        "| requests of | requests | p50 (ms) | p95 (ms) | max (ms) | appeals listed (mean) "
        "| mean size (KB) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for group, chosen in sorted(by_group.items()):
        s = stats([q.sample.ms for q in chosen])
        rows = statistics.fmean(q.rows for q in chosen)
        size = statistics.fmean(q.sample.size for q in chosen) / 1024
        groups.append(
            f"| `{group}` | {s.count} | {_ms(s.p50)} | {_ms(s.p95)} | {_ms(s.max)} "
            f"| {rows:.1f} | {size:.1f} |"
        )
    slowest = ["| ms | request |", "|---:|---|"]
    for q in sorted(pages, key=lambda q: q.sample.ms, reverse=True)[:5]:
        partial = " (HTMX)" if q.sample.request.htmx else ""
        slowest.append(f"| {_ms(q.sample.ms)} | `{q.sample.request.path}`{partial} |")
    empty = sum(1 for q in pages if q.rows == 0)
    queries = statistics.median(diagnosis.queries) if diagnosis.queries else 0
    relies = (
        f"{queries:g} SQL queries per request; indexes in the plans: "
        f"{', '.join(sorted(diagnosis.indexes)) or '—'}; tables read whole: "
        f"{', '.join(sorted(diagnosis.seq_scans)) or '—'}"
    )
    if diagnosis.errors:
        relies += "; replay problems: " + "; ".join(diagnosis.errors)
    priorities = ", ".join(
        f"{Appeal.Priority(p).label} {n:,}" for p, n in sorted(queue.priorities.items())
    )
    accounts = (
        f"seeded for this run by `seed_demo --accounts {DEMO_ACCOUNTS:,} --if-empty`"
        if queue.accounts_seeded
        else "already there, reused"
    )
    kept = (
        f" The {queue.kept:,} appeals found at the start (with their events) were set aside "
        "and put back afterwards, with their ids."
        if queue.kept
        else ""
    )
    slow_claim_queries = "; ".join(
        f"{ms:.2f} ms `{_one_line(sql)[:80]}…`" for ms, sql in plan.slowest[:4]
    )
    parts = [
        "## Appeal queue: claim next under contention, and the queue page (`queue`)\n\n",
        f"The queue: {queue.appeals:,} open appeals (state `new`, unassigned, no contested "  # noqa: S608 - prose
        f"decision) inserted by one `INSERT … SELECT … generate_series` on {queue.pool:,} of "
        f"the {queue.accounts:,} accounts in the bench database ({accounts}). Priorities: "
        f"{priorities}; SLA due spread from {-SLA_FROM_HOURS} h ago to {SLA_TO_HOURS} h ahead "
        f"({queue.breached:,} already past it); `TRUNCATE appeals_appeal CASCADE` first, "
        f"`VACUUM (ANALYZE)` after; {queue.seconds:.1f} s in all.{kept} Users: {HANDLERS} "
        f"handlers (group *{APPEAL_HANDLER}*) and one lead (*{APPEAL_LEAD}*).\n\n",
        "**Claim next.** In the service: "  # noqa: S608 - prose, not SQL
        f"first one handler alone ({CLAIMS_PER_HANDLER} claims, for reference), then "
        f"{HANDLERS} processes (forked, each its own database connection), one handler each, "
        f"start together and call `appeals.services.appeal_claim_next(handler=…)` "
        f"{CLAIMS_PER_HANDLER} times in a row: {len(service.claims):,} claims in "
        f"{service.seconds:.2f} s. The time is the call (the `SELECT … FOR UPDATE SKIP LOCKED`, "
        f"the appeal read, its update and the claim event, one transaction: {plan.queries} "
        "queries on the appeal tables); the handler's permissions are read once before, as "
        "a logged-in request has them. Through the server: "
        f"{HANDLERS} threads, each logged in as one of the handlers (session cookie, CSRF "
        f"token from the claim form of `GET /appeals/`), send `POST /appeals/claim/` "
        f"{HTTP_CLAIMS_PER_CLIENT} times each at once and follow the redirect to the "
        f"claimed appeal's page, as the browser does: {len(http.claims):,} claims in "
        f"{http.seconds:.2f} s. The target applies to the claim itself (the service "
        "figure); the HTTP figures add the request, the session, the middleware and the "
        f"redirect, with {HANDLERS} clients on the server's workers.\n\n",
        claims_table,
        "\n\n",
        _cpu_text(cpu),
        "\n\n",
        f"Double claims: {check.double_claims} — {check.claimed:,} claims (service and HTTP) "
        f"got {check.distinct:,} distinct appeals; the database has {check.events:,} `claim` "
        f"events, {check.appeals_with_two_events} appeals with more than one, "
        f"{check.assignee_matches:,} claimed appeals in review with their claimer as "
        f"assignee, {check.actor_matches:,} whose claim event names the claimer, and "
        f"{check.assigned:,} appeals with an assignee at all. Order: "
        f"{check.most_urgent:,} of the {check.claimed:,} most urgent appeals (priority, then "
        "SLA due, then id) were the ones claimed.\n\n",
        f"**Queue page.** `{' '.join(command)}` (the Procfile's `web` line), `DEBUG=0`; an "
        "appeal lead logged in with the session cookie, one connection, requests one after "
        f"the other; {WARMUP} warm-up requests first (not counted). {len(pages)} requests: "
        "half `view=unassigned`, half `view=all` (the queue after the claims above), with "
        "no filter, one or two of category, priority and channel, or `sla=breached` / "
        "`sla=due_soon` (alone or with one more); one in ten on page 2 or 3; every second "
        "one as the HTMX partial. Every response was a 200 with the results section "
        f"({empty} listed no appeal).\n\n",
        "| page | requests | p50 (ms) | p95 (ms) | p99 (ms) | max (ms) | target (p95) | |\n"
        "|---|---:|---:|---:|---:|---:|---|---|\n"
        f"| queue `/appeals/?view=…` | {page_stats.count} | {_ms(page_stats.p50)} "
        f"| {_ms(page_stats.p95)} | {_ms(page_stats.p99)} | {_ms(page_stats.max)} "
        f"| ≤ {TARGET_QUEUE_MS:.0f} ms | {_met(queue_met)} |\n\n",
        "By kind of request:\n\n" + "\n".join(groups) + "\n\n",
        "Slowest requests:\n\n" + "\n".join(slowest) + "\n\n",
        "What the page relies on, from `EXPLAIN` of the queries of its slowest requests and "
        f"of the first of each kind, replayed in-process: {relies}.\n\n",
        "Targets:\n\n",
        f"- Claim next p95 ≤ {TARGET_CLAIM_MS:.0f} ms (service, {HANDLERS} at once): "
        f"{_ms(service_stats.p95)} ms — {_met(claim_met)}. Through the server "
        f"(`POST` → 302): p95 {_ms(post_stats.p95)} ms; with the appeal page after it "
        f"{_ms(both_stats.p95)} ms.\n",
        f"- No appeal claimed twice: {check.double_claims} double claims, database "
        f"{'consistent' if check.consistent else 'NOT consistent'} with what the handlers "
        f"got — {_met(no_doubles)}.\n",
        f"- Queue page p95 ≤ {TARGET_QUEUE_MS:.0f} ms: {_ms(page_stats.p95)} ms — "
        f"{_met(queue_met)}.\n",
    ]
    if not claim_met:
        in_database = sum(ms for ms, _sql in plan.slowest)
        parts.append(
            f"\n**Claim next** (p95 {_ms(service_stats.p95)} ms): its queries by execution "
            f"time in `EXPLAIN ANALYZE` after the run: {slow_claim_queries}; "
            f"{in_database:.2f} ms in all, against p50 {_ms(alone_stats.p50)} ms for one "
            f"handler alone and p50 {_ms(service_stats.p50)} ms for {HANDLERS} at once on "
            f"{os.cpu_count()} cores. The claim query:\n\n```sql\n{_one_line(plan.sql)}\n```"
            f"\n\n{_plan_block(plan.plan)}\n"
        )
    if not queue_met and diagnosis.slowest is not None:
        ms, sql, path = diagnosis.slowest
        # The column list is long; the FROM, WHERE and ORDER BY tell the story.
        shown = re.sub(r"^SELECT .*? FROM ", "SELECT … FROM ", _one_line(sql), count=1)
        parts.append(
            f"\n**Queue page** (p95 {_ms(page_stats.p95)} ms): the slowest query of the "
            f"slowest requests, {ms:.1f} ms in `{path}`:\n\n```sql\n{shown}\n```\n\n"
            f"{_plan_block(diagnosis.plan)}\n"
        )
    return "".join(parts)


# --------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------


def run() -> str:
    handlers, lead = people()
    try:
        print(f"  queue: {APPEALS:,} open appeals ...", flush=True)
        queue = seed()
        servers = server_pids(connection, settings.REDIS_URL)
        cpu: dict[str, CpuUse] = {}
        print(f"  queue: claim next, 1 × {CLAIMS_PER_HANDLER} in the service ...", flush=True)
        with cpu_use(servers) as cpu["alone"]:
            alone = claim_in_service(handlers[:1])
        print(f"  queue: claim next, {HANDLERS} × {CLAIMS_PER_HANDLER} in the service ...")
        with cpu_use(servers) as cpu["service"]:
            service = claim_in_service(handlers)
        s = stats([c.ms for c in service.claims])
        print(f"  queue: service: p50 {s.p50:.1f} ms, p95 {s.p95:.1f} ms", flush=True)
        log_path = Path(settings.STATE_DIR) / WEB_LOG
        log_path.parent.mkdir(parents=True, exist_ok=True)
        get_resolver().url_patterns  # noqa: B018 - imports every view module now
        rng = random.Random(SEED)  # noqa: S311 - a reproducible sample, not a secret
        requests = queue_requests(rng, QUEUE_REQUESTS)
        warmup = queue_requests(random.Random(SEED + 1), WARMUP)  # noqa: S311
        with web_server(log_path) as (port, command):
            print(f"  queue: claim next, {HANDLERS} × {HTTP_CLAIMS_PER_CLIENT} over HTTP ...")
            with cpu_use(servers) as cpu["http"]:
                http = claim_over_http(port, log_path, handlers)
            s = stats([c.ms for c in http.claims])
            print(f"  queue: HTTP: p50 {s.p50:.1f} ms, p95 {s.p95:.1f} ms", flush=True)
            browser = Browser(port, log_path)
            browser.login(LEAD_NAME, DEMO_PASSWORD)
            print(f"  queue: {len(requests)} requests of the queue page ...", flush=True)
            measure_queue(browser, warmup)
            with cpu_use(servers) as cpu["page"]:
                pages = measure_queue(browser, requests)
            s = stats([q.sample.ms for q in pages])
            print(f"  queue: page: p50 {s.p50:.1f} ms, p95 {s.p95:.1f} ms", flush=True)
        check = check_claims(alone.claims + service.claims + http.claims)
        plan = claim_plan(handlers[0])
        page_p95 = stats([q.sample.ms for q in pages]).p95
        diagnosis = diagnose(
            [q.sample for q in pages], lead, explain_slowest=page_p95 > TARGET_QUEUE_MS
        )
    finally:
        print("  queue: putting the appeals found back ...", flush=True)
        put_back()
    return report(queue, alone, service, http, check, plan, pages, diagnosis, command, cpu)

"""A full re-score with the real Celery worker, against one SQL statement (the floor).

Targets (for 1,000,000 accounts on 2 cores): ≤ 60 s, ≥ 0.5 times the speed of the
floor, ≤ 500 MB of worker memory, and linear growth (also 100,000 and 300,000); the
portfolio snapshot the run writes adds ≤ 15 s (the same run on the same book without
one). LIMITDESK_BENCH_RESCORE_SIZES (e.g. "20000") measures other sizes.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any
from unittest import mock

import psutil  # type: ignore[import-untyped]
import redis
from django.conf import settings
from django.core.management import call_command
from django.db import connection, transaction
from django.db.models import Count
from django.test import override_settings

import scoring
from accounts.signal_spec import SIGNALS_BY_NAME
from bench.processes import stop_process_tree
from config.celery import app as celery_app
from config.stack import app_environment
from decisions import runs, services
from decisions.models import LimitDecision, RescoreRun, RunChunk
from decisions.reason_check import ReasonReport, reason_check_report
from history import services as history_services
from history.models import Snapshot
from policies.models import Policy

ROOT = Path(__file__).resolve().parents[1]
SIZES = [
    int(size)
    for size in os.environ.get("LIMITDESK_BENCH_RESCORE_SIZES", "100000,300000,1000000").split(",")
]
CONCURRENCY = 2
SAMPLE_SECONDS = 0.2
POLL_SECONDS = 0.2
# A chunk takes seconds: a run none of whose chunks moved for this long is stuck.
STALL_SECONDS = 60.0
TARGET_SECONDS = 60.0
TARGET_FLOOR_RATIO = 0.5
TARGET_RSS_MB = 500.0
# Linear growth: the per-account cost at 1,000,000 at most this much above the
# per-account cost at 100,000.
TARGET_LINEAR_RATIO = 1.25
# What writing the portfolio snapshot (a row per account, COPY, in the same pass) may
# add to the run at the largest size.
TARGET_SNAPSHOT_SECONDS = 15.0
# What recording the customer notices of the run's cuts and closures may add to the
# re-score of 1,000,000 accounts (issue 22; docs/architecture.md, "Notices: the register").
TARGET_NOTICE_SHARE = 0.10
END_STATES = {RescoreRun.State.DONE, RescoreRun.State.FAILED, RescoreRun.State.WAITING}
MB = 1024 * 1024


# --------------------------------------------------------------------------
# The worker and its memory
# --------------------------------------------------------------------------


class MemorySampler(threading.Thread):
    """Samples the RSS of the worker and its prefork children every SAMPLE_SECONDS."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.halt = threading.Event()
        self.largest = 0  # bytes, the largest single process in any sample
        self.total = 0  # bytes, the largest sum over the processes in any sample
        self.samples = 0

    def sample(self) -> None:
        try:
            processes = [self.root, *self.root.children(recursive=True)]
        except psutil.Error:
            return
        sizes = []
        for process in processes:
            with suppress(psutil.Error):
                sizes.append(process.memory_info().rss)
        if sizes:
            self.largest = max(self.largest, max(sizes))
            self.total = max(self.total, sum(sizes))
            self.samples += 1

    def run(self) -> None:
        self.sample()
        while not self.halt.wait(SAMPLE_SECONDS):
            self.sample()

    def stop(self) -> None:
        self.halt.set()
        self.join(10)
        self.sample()


@contextmanager
def celery_worker(
    log_path: Path, *, host: str = "bench-worker", concurrency: int = CONCURRENCY
) -> Iterator[subprocess.Popen[bytes]]:
    """A real worker (prefork, `concurrency` processes) named `host`@<this machine> on
    the bench database and Redis, as the app's database login (the benchmark itself is
    the owner)."""
    name = f"{host}@{socket.gethostname()}"
    celery_app.control.purge()
    log: IO[bytes] = log_path.open("ab")
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--loglevel",
            "WARNING",
            "--concurrency",
            str(concurrency),
            "--hostname",
            name,
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=ROOT,
        env=app_environment(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while not celery_app.control.ping(destination=[name], timeout=0.5):
            if worker.poll() is not None:
                raise RuntimeError(
                    f"the Celery worker exited ({worker.returncode}); see {log_path}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Celery worker did not answer within 60 s; see {log_path}")
        yield worker
    finally:
        _stop(worker)
        log.close()


def _stop(worker: subprocess.Popen[bytes]) -> None:
    stop_process_tree(worker, grace_seconds=60)


# --------------------------------------------------------------------------
# The floor: one hand-written SQL statement doing the same scoring and writes
# --------------------------------------------------------------------------


def _signal(name: str, row: str = "s") -> str:
    if SIGNALS_BY_NAME[name].kind == "bool":
        return f"COALESCE({row}.{name}::int, 0)"
    return f"COALESCE({row}.{name}, 0)"


def _bins(characteristic: scoring.Characteristic) -> str:
    """The points of one scorecard characteristic: bin i holds [edges[i-1], edges[i])."""
    value = _signal(characteristic.signal)
    branches = " ".join(
        f"WHEN {value} < {edge!r} THEN {points}"
        for edge, points in zip(characteristic.edges, characteristic.points, strict=False)
    )
    return f"CASE {branches} ELSE {characteristic.points[-1]} END"


def _by_band(values: tuple[Any, ...]) -> str:
    branches = " ".join(f"WHEN {i} THEN {value}" for i, value in enumerate(values))
    return f"CASE band_ix {branches} END"


def floor_sql(rules: scoring.PolicyRules) -> str:
    """Score every account and write the changes, in one statement, from the policy in force."""
    c = scoring.compile_rules(rules)
    card = scoring.SCORECARD
    n_points = range(len(card))
    points = ",\n           ".join(
        f"{_bins(ch)} AS p{i}" for i, ch in zip(n_points, card, strict=True)
    )
    total = " + ".join(f"p{i}" for i in n_points)
    bands = " ".join(
        f"WHEN score >= {low} THEN {i}" for i, low in enumerate(c.band_min_scores[:-1])
    )
    band_names = " ".join(f"WHEN {i} THEN '{band.name}'" for i, band in enumerate(rules.bands))
    public_record = (
        f"{_signal('bad_public_records')} >= 1" if rules.close_on_public_record else "false"
    )
    cuts = {
        scoring.OVERDUE_NOW: ("t_overdue", c.overdue_bp),
        scoring.MULTI_LENDING: ("t_multi", c.multi_lending_bp),
        scoring.HIGH_UTILIZATION: ("t_util", c.utilization_bp),
        scoring.LINKED_RISK: ("t_linked", c.linked_bp),
    }
    cut_terms = ", ".join(
        f"CASE WHEN {flag} THEN old_c * {10000 - bp} / 10000 END" for flag, bp in cuts.values()
    )
    fired_when = {
        scoring.INELIGIBLE: "t_ineligible",
        scoring.SERIOUS_OVERDUE: "t_serious",
        scoring.PUBLIC_RECORD: "t_public",
        scoring.COOLDOWN: "status = 'closed' AND NOT closing AND in_cooldown",
        **{code: flag for code, (flag, _bp) in cuts.items()},
        scoring.PORTFOLIO_OVERLAY: "status = 'active' AND NOT closing "
        "AND old_c <= raw_ceiling AND ceiling < old_c",
        scoring.BAND_CEILING: "status = 'active' AND NOT closing AND old_c > raw_ceiling",
    }
    unknown = set(scoring.TRIGGER_ORDER) - set(fired_when)
    if unknown:
        raise ValueError(f"the floor SQL does not know the triggers {sorted(unknown)}")
    fired = ", ".join(
        f"CASE WHEN {fired_when[code]} THEN '{code}' END" for code in scoring.TRIGGER_ORDER
    )
    # The rule that set a cut's figure: the lowest figure, ties in TRIGGER_ORDER.
    figures = ", ".join(
        f"(CASE WHEN {cuts[code][0]} THEN old_c * {10000 - cuts[code][1]} / 10000 END"
        f"::int8, {position}, '{code}')"
        if code in cuts
        else f"(CASE WHEN {fired_when[code]} THEN ceiling END::int8, {position}, '{code}')"
        for position, code in enumerate(scoring.TRIGGER_ORDER)
        if code in cuts or code in (scoring.BAND_CEILING, scoring.PORTFOLIO_OVERLAY)
    )
    material = max(rules.reason_min_points, 1)
    lost = ", ".join(
        f"('{ch.reason}', {ch.best} - p{i}, {i})" for i, ch in enumerate(card) if ch.adverse
    )
    contributions = ", ".join(f"'{ch.signal}', p{i}" for i, ch in enumerate(card))
    inputs = ", ".join(f"'{name}', (sig).{name}" for name in scoring.INPUT_SIGNALS)
    rgc = rules.raise_good_cycles
    reopen_at = f"LEAST({c.reopen_limit}, ceiling)"
    # OFFSET 0 keeps each step a subquery of its own: flattened, the planner would
    # copy every point expression into each place a later step uses it.
    return f"""
WITH pts AS (
    SELECT f.id, (f.current_limit * 100)::int8 AS old_c, f.current_limit AS old_limit,
           f.status, f.score AS old_score, f.band AS old_band, f.good_cycles AS old_cycles,
           (f.cooldown_until IS NOT NULL AND f.cooldown_until > now()) AS in_cooldown,
           {points},
           ({_signal("age")} < {rules.min_age} OR {_signal("real_name_verified")} = 0
            OR {_signal("bank_card_bound")} = 0) AS t_ineligible,
           {_signal("days_past_due")} >= {rules.close_dpd} AS t_serious,
           {public_record} AS t_public,
           {_signal("days_past_due")} > 0 AS t_overdue,
           {_signal("lender_applications_30d")} >= {rules.multi_lending_applications_30d}
               AS t_multi,
           ({_signal("utilization")} >= {rules.utilization_threshold}
            AND {_signal("months_high_utilization")} >= {rules.utilization_months}) AS t_util,
           {_signal("linked_bad_share")} >= {rules.linked_risk_threshold} AS t_linked,
           s AS sig
    FROM bench_floor_accounts f JOIN accounts_accountsignals s ON s.account_id = f.id
    OFFSET 0
), scored AS (
    SELECT pts.*,
           LEAST(GREATEST({scoring.BASE_SCORE} + {total}, {scoring.MIN_SCORE}),
                 {scoring.MAX_SCORE}) AS score,
           (t_ineligible OR t_serious OR t_public) AS closing,
           NOT (t_ineligible OR t_serious OR t_public OR t_overdue OR t_multi OR t_util
                OR t_linked) AS good
    FROM pts
    OFFSET 0
), banded AS (
    SELECT scored.*, CASE {bands} ELSE {len(c.band_min_scores) - 1} END AS band_ix,
           CASE WHEN good THEN LEAST(old_cycles + 1, {rgc}) ELSE 0 END AS cycles
    FROM scored
    OFFSET 0
), ceilings AS (
    SELECT banded.*, {_by_band(c.band_ceilings)}::int8 AS ceiling,
           {_by_band(c.raw_ceilings)}::int8 AS raw_ceiling,
           CASE band_ix {band_names} END AS band
    FROM banded
    OFFSET 0
), proposed AS (
    SELECT ceilings.*,
           LEAST(old_c, ceiling, {cut_terms}) AS uncut,
           (CASE WHEN old_c = 0 THEN LEAST(ceiling, {c.reopen_limit})
                 ELSE LEAST(ceiling, old_c * {10000 + c.raise_cap_bp} / 10000)
            END) / {c.unit} * {c.unit} AS stepped
    FROM ceilings
    OFFSET 0
), rounded AS (
    -- Only a cut is rounded down to the unit: a kept limit stays to the cent.
    SELECT proposed.*,
           CASE WHEN uncut < old_c THEN uncut / {c.unit} * {c.unit} ELSE uncut END AS cut
    FROM proposed
    OFFSET 0
), decided AS (
    SELECT rounded.*,
           CASE
               WHEN status = 'frozen' THEN 'keep'
               WHEN status = 'closed' THEN
                   CASE WHEN NOT closing AND NOT in_cooldown AND good AND cycles >= {rgc}
                             AND {reopen_at} > 0 THEN 'reopen' ELSE 'keep' END
               WHEN closing THEN 'close'
               WHEN cut < old_c AND (old_c - cut) * 10000 >= old_c * {c.hysteresis_bp}
                   THEN 'reduce'
               WHEN cut >= old_c AND good AND cycles >= {rgc} AND old_c < ceiling
                    AND stepped > old_c
                    AND (stepped - old_c) * 10000 >= old_c * {c.hysteresis_bp} THEN 'raise'
               ELSE 'keep'
           END AS action
    FROM rounded
    OFFSET 0
), outcome AS (
    SELECT decided.*,
           CASE action WHEN 'close' THEN 0 WHEN 'reopen' THEN {reopen_at}
                WHEN 'reduce' THEN cut WHEN 'raise' THEN stepped ELSE old_c END AS new_c,
           CASE action WHEN 'close' THEN 'closed' WHEN 'reopen' THEN 'active'
                ELSE status END AS new_status
    FROM decided
    OFFSET 0
), moved AS (
    SELECT outcome.*, array_remove(ARRAY[{fired}], NULL) AS fired,
           CASE WHEN action = 'reduce' THEN (
               SELECT v.code FROM (VALUES {figures}) AS v(figure, position, code)
               WHERE v.figure IS NOT NULL ORDER BY v.figure, v.position LIMIT 1
           ) END AS deciding
    FROM outcome WHERE action <> 'keep'
), ins AS (
    INSERT INTO bench_floor_decisions (account_id, action, old_limit, new_limit, old_status,
        new_status, score_before, score_after, band_before, band_after, contributions,
        triggers, reasons, inputs)
    SELECT id, action, old_limit, new_c / 100.0, status, new_status, old_score, score,
           old_band, band, jsonb_build_object({contributions}), to_jsonb(fired),
           CASE action
               WHEN 'raise' THEN '["{scoring.GOOD_HISTORY}"]'::jsonb
               WHEN 'reopen' THEN '["{scoring.REOPENED}", "{scoring.GOOD_HISTORY}"]'::jsonb
               ELSE (
                   SELECT COALESCE(jsonb_agg(code ORDER BY rank), '[]'::jsonb) FROM (
                       SELECT code, MIN(rank) AS rank FROM (
                           -- the rule that set the figure first, then the others fired
                           SELECT t.code, CASE WHEN t.code = deciding THEN 0 ELSE t.rank END
                           FROM unnest(fired) WITH ORDINALITY AS t(code, rank)
                           UNION ALL
                           SELECT l.reason, 1000 + row_number() OVER (ORDER BY l.lost DESC,
                                                                           l.first)
                           FROM (
                               SELECT reason, SUM(lost) AS lost, MIN(ord) AS first
                               FROM (VALUES {lost}) AS v(reason, lost, ord)
                               GROUP BY reason HAVING SUM(lost) >= {material}
                           ) AS l
                       ) AS u
                       GROUP BY code ORDER BY rank LIMIT {scoring.MAX_REASONS}
                   ) AS r
               )
           END,
           jsonb_build_object({inputs})
    FROM moved
    RETURNING 1
), upd AS (
    UPDATE bench_floor_accounts AS f
    SET current_limit = o.new_c / 100.0, status = o.new_status, score = o.score,
        band = o.band, good_cycles = o.cycles,
        version = f.version + CASE WHEN o.action = 'keep' THEN 0 ELSE 1 END,
        cooldown_until = CASE o.action
            WHEN 'close' THEN now() + interval '{rules.cooldown_days} days'
            WHEN 'reopen' THEN NULL ELSE f.cooldown_until END
    FROM outcome AS o
    WHERE f.id = o.id
      AND (o.action <> 'keep' OR o.score IS DISTINCT FROM o.old_score
           OR o.band <> o.old_band OR o.cycles <> o.old_cycles)
    RETURNING 1
)
SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM upd)
"""  # noqa: S608 - every name and number comes from code and the policy, not from input


def floor_prepare() -> None:
    """The scratch copy of the accounts as they are before the run, with the
    same indexes (not timed)."""
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_floor_decisions, bench_floor_accounts")
        # The same writes as the run's: the copy carries every index of the
        # accounts table (the account list's sorts and filters among them), which
        # each updated row is written into.
        cursor.execute(
            "CREATE UNLOGGED TABLE bench_floor_accounts "
            "(LIKE accounts_account INCLUDING DEFAULTS INCLUDING INDEXES)"
        )
        cursor.execute("INSERT INTO bench_floor_accounts SELECT * FROM accounts_account")
        cursor.execute(
            """
            CREATE TABLE bench_floor_decisions (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                account_id bigint NOT NULL,
                action varchar(8) NOT NULL,
                old_limit numeric(12, 2) NOT NULL,
                new_limit numeric(12, 2) NOT NULL,
                old_status varchar(8) NOT NULL,
                new_status varchar(8) NOT NULL,
                score_before smallint,
                score_after smallint,
                band_before varchar(8) NOT NULL,
                band_after varchar(8) NOT NULL,
                contributions jsonb NOT NULL,
                triggers jsonb NOT NULL,
                reasons jsonb NOT NULL,
                inputs jsonb NOT NULL
            )
            """
        )
        cursor.execute("ANALYZE bench_floor_accounts")


@dataclass
class Floor:
    seconds: float
    decisions: int
    updated: int
    decisions_differ: int  # floor decision rows that differ from the run's
    accounts_differ: int  # accounts whose end state differs from the run's


def floor_measure(rules: scoring.PolicyRules, run_id: int) -> Floor:
    """Time the one statement, then hold its result against the run's (not timed)."""
    sql = floor_sql(rules)
    try:
        with connection.cursor() as cursor:
            started = time.perf_counter()
            cursor.execute(sql)
            decisions, updated = cursor.fetchone()
            seconds = time.perf_counter() - started
            cursor.execute(
                """
                SELECT count(*) FROM bench_floor_decisions AS f
                FULL JOIN (SELECT * FROM decisions_limitdecision WHERE run_id = %s) AS r
                    USING (account_id)
                WHERE f.action IS DISTINCT FROM r.action
                   OR f.new_limit IS DISTINCT FROM r.new_limit
                   OR f.score_after IS DISTINCT FROM r.score_after
                   OR f.band_after IS DISTINCT FROM r.band_after
                   OR f.contributions IS DISTINCT FROM r.contributions
                   OR f.triggers IS DISTINCT FROM r.triggers
                   OR f.reasons IS DISTINCT FROM r.reasons
                """,
                [run_id],
            )
            (decisions_differ,) = cursor.fetchone()
            cursor.execute(
                """
                SELECT count(*) FROM bench_floor_accounts AS f
                JOIN accounts_account AS a USING (id)
                WHERE (f.current_limit, f.status, f.score, f.band, f.good_cycles, f.version)
                      IS DISTINCT FROM
                      (a.current_limit, a.status, a.score, a.band, a.good_cycles, a.version)
                """
            )
            (accounts_differ,) = cursor.fetchone()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS bench_floor_decisions, bench_floor_accounts")
    return Floor(seconds, decisions, updated, decisions_differ, accounts_differ)


# --------------------------------------------------------------------------
# One size
# --------------------------------------------------------------------------


@dataclass
class Measure:
    size: int
    accounts: int
    seconds: float
    decisions: int
    largest_mb: float
    total_mb: float
    samples: int
    run: RescoreRun
    floor: Floor
    reasons: ReasonReport  # every decision of the run through the independent checker
    reasons_seconds: float
    snapshot_rows: int
    notices: int = 0
    notice_seconds: float = 0.0
    without: Unsnapshotted | None = None

    @property
    def rate(self) -> float:
        return self.accounts / self.seconds

    @property
    def floor_ratio(self) -> float:
        """Run speed ÷ floor speed, over the same accounts."""
        return self.floor.seconds / self.seconds

    @property
    def per_100k(self) -> float:
        return self.seconds / self.accounts * 100_000


def _book(size: int) -> None:
    """A fresh book of `size` accounts, no runs, vacuumed and analysed (not timed)."""
    # --replace TRUNCATEs the accounts CASCADE: their decisions and runs go too.
    call_command("seed_demo", "--accounts", str(size), "--replace", verbosity=0)
    with connection.cursor() as cursor:
        # When the book was empty nothing was truncated: clear any run left behind,
        # and the snapshots (one a day: the next run writes today's again).
        cursor.execute("TRUNCATE decisions_rescorerun CASCADE")
        cursor.execute("TRUNCATE history_snapshot, history_accountsnapshot CASCADE")
        cursor.execute("VACUUM (ANALYZE) accounts_account, accounts_accountsignals")


def _seconds(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return "—"
    return f"{(end - start).total_seconds():.1f}"


def _progress(run_id: int) -> tuple[Any, ...]:
    run = RescoreRun.objects.get(pk=run_id)
    chunks = dict(
        RunChunk.objects.filter(run_id=run_id)
        .values_list("state")
        .annotate(n=Count("id"))
        .values_list("state", "n")
    )
    return run.state, run.accounts_done, chunks


def _wait(run_id: int, timeout: float) -> str:
    """Poll the run until it ends; "" when it did, else why the wait stopped."""
    deadline = time.monotonic() + timeout
    last, moved = _progress(run_id), time.monotonic()
    while last[0] not in END_STATES:
        time.sleep(POLL_SECONDS)
        now = time.monotonic()
        current = _progress(run_id)
        if current != last:
            last, moved = current, now
        elif now - moved > STALL_SECONDS:
            return f"no progress for {STALL_SECONDS:.0f} s"
        if now > deadline:
            return f"not finished after {timeout:.0f} s"
    return ""


def _worker_activity() -> str:
    """What the worker says it is doing, for the failure message."""
    inspect = celery_app.control.inspect(timeout=1)
    active = {name: len(tasks) for name, tasks in (inspect.active() or {}).items()}
    reserved = {name: len(tasks) for name, tasks in (inspect.reserved() or {}).items()}
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        queued = client.llen("celery")
    finally:
        client.close()
    return f"tasks running {active}, reserved {reserved}, messages in the queue {queued}"


def notice_replay(run_id: int) -> tuple[int, float]:
    """What recording the run's notices cost, measured apart from the run: in a
    transaction that is rolled back, the notices the run wrote are deleted and made
    again by the writer's own code (`decisions.services.notices_create`), one call per
    chunk's decisions as the run made them (the decisions of one chunk share their
    time). One process, one chunk after another: the workers did it in parallel, so
    this is an upper bound of what the notices added to the run's wall time."""
    decisions = (
        LimitDecision.objects.filter(run_id=run_id, notice__isnull=False)
        .order_by("created_at", "account_id")
        .values_list(
            "account_id",
            "sequence",
            "action",
            "source",
            "new_limit",
            "new_status",
            "reasons",
            "triggers",
            "policy_id",
            "idempotency_key",
            "created_at",
        )
    )
    chunks: dict[datetime, list[tuple[services.Change, int]]] = {}
    for (
        account,
        sequence,
        action,
        source,
        limit,
        status,
        reasons,
        triggers,
        policy,
        key,
        at,
    ) in decisions.iterator(chunk_size=20_000):
        change = services.Change(
            account_id=account,
            action=action,
            source=source,
            new_limit=limit,
            new_status=status,
            reasons=tuple(reasons),
            idempotency_key=key,
            expected_version=0,
            triggers=tuple(triggers),
            policy_id=policy,
            run_id=run_id,
        )
        chunks.setdefault(at, []).append((change, sequence))
    made = 0
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM decisions_notice WHERE decision_id IN "
            "(SELECT id FROM decisions_limitdecision WHERE run_id = %s)",
            [run_id],
        )
        started = time.perf_counter()
        for decided_at, adverse in chunks.items():
            made += services.notices_create(cursor, adverse, decided_at=decided_at)
        seconds = time.perf_counter() - started
        transaction.set_rollback(True)
    return made, seconds


@dataclass
class Sampled:
    """A run started beside a fresh worker, waited for, the worker's memory sampled."""

    run: RescoreRun  # read again after it ended
    seconds: float
    problem: str  # why the wait stopped, "" when the run ended
    activity: str  # what the worker said it was doing, when the wait stopped early
    sampler: MemorySampler


def sampled_run(log_path: Path, size: int, start: Callable[[], RescoreRun]) -> Sampled:
    """A real worker started, `start()` timed to the run's end, its memory sampled."""
    with celery_worker(log_path) as worker:
        sampler = MemorySampler(worker.pid)
        sampler.start()
        try:
            started = time.perf_counter()
            run = start()
            problem = _wait(run.pk, timeout=600 + size * 0.002)
            seconds = time.perf_counter() - started
            activity = _worker_activity() if problem else ""
        finally:
            sampler.stop()
    run.refresh_from_db()
    return Sampled(run, seconds, problem, activity, sampler)


def measure(size: int, rules: scoring.PolicyRules, log_path: Path) -> Measure:
    _book(size)
    floor_prepare()
    try:

        def start() -> RescoreRun:
            # The run writes the portfolio snapshot, as the month's first run does.
            with override_settings(PORTFOLIO_SNAPSHOT_CADENCE="every-run"):
                return runs.run_start(trigger="button")

        sampled = sampled_run(log_path, size, start)
        run, seconds, problem, activity = (
            sampled.run,
            sampled.seconds,
            sampled.problem,
            sampled.activity,
        )
        sampler = sampled.sampler
        if run.state != RescoreRun.State.DONE:
            chunks = RunChunk.objects.filter(run=run)
            pending = list(
                chunks.exclude(state=RunChunk.State.APPLIED).values_list("index", "state")
            )
            raise AssertionError(
                f"{size:,} accounts: the run is {run.state!r} after {seconds:.1f} s "
                f"({problem or 'it ended'}; error {run.error!r}, breaker "
                f"{run.breaker_reason!r}; {run.accounts_done:,}/{run.accounts_total:,} accounts "
                f"computed; {run.chunks_total} chunks, not applied: {pending}; "
                f"compute {_seconds(run.compute_started_at, run.compute_finished_at)} s, "
                f"apply {_seconds(run.apply_started_at, run.finished_at)} s; worker: "
                f"{activity or '—'}); see {log_path}"
            )
        decisions = LimitDecision.objects.filter(run=run).count()
        checked_at = time.perf_counter()
        reasons = reason_check_report(run_id=run.pk)
        reasons_seconds = time.perf_counter() - checked_at
        notices, notice_seconds = notice_replay(run.pk)
        floor = floor_measure(rules, run.pk)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS bench_floor_decisions, bench_floor_accounts")
    snapshot = Snapshot.objects.filter(run_id=run.pk, state=Snapshot.State.COMPLETE).first()
    if snapshot is None or snapshot.accounts != run.accounts_total:
        raise AssertionError(f"{size:,} accounts: the run wrote no complete snapshot of the book")
    return Measure(
        size=size,
        accounts=run.accounts_total,
        seconds=seconds,
        decisions=decisions,
        largest_mb=sampler.largest / MB,
        total_mb=sampler.total / MB,
        samples=sampler.samples,
        run=run,
        floor=floor,
        reasons=reasons,
        reasons_seconds=reasons_seconds,
        snapshot_rows=snapshot.accounts,
        notices=notices,
        notice_seconds=notice_seconds,
    )


@dataclass
class Unsnapshotted:
    """The same run on a fresh copy of the same book, writing no snapshot."""

    seconds: float
    run: RescoreRun


def measure_without_snapshot(size: int, log_path: Path) -> Unsnapshotted:
    """The run again on the same book (seeded afresh), with no snapshot: what the
    snapshot adds is the difference."""
    _book(size)
    with celery_worker(log_path):
        started = time.perf_counter()
        with mock.patch.object(history_services, "snapshot_begin", return_value=None):
            run = runs.run_start(trigger="button")
        problem = _wait(run.pk, timeout=600 + size * 0.002)
        seconds = time.perf_counter() - started
    run.refresh_from_db()
    if run.state != RescoreRun.State.DONE or Snapshot.objects.filter(run_id=run.pk).exists():
        raise AssertionError(
            f"{size:,} accounts without a snapshot: the run is {run.state!r} "
            f"({problem or 'it ended'}; error {run.error!r}); see {log_path}"
        )
    return Unsnapshotted(seconds, run)


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------


def _met(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def report(results: list[Measure]) -> str:
    rows = [
        "| accounts | run wall time (s) | accounts/s | decisions written "
        "| peak worker RSS (MB, largest process / all processes) | floor SQL (s) "
        "| run speed ÷ floor speed |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for m in results:
        rows.append(
            f"| {m.size:,} | {m.seconds:.1f} | {m.rate:,.0f} | {m.decisions:,} "
            f"| {m.largest_mb:,.0f} / {m.total_mb:,.0f} | {m.floor.seconds:.1f} "
            f"| {m.floor_ratio:.2f}× |"
        )
    phases = [
        "| accounts | chunks | queued → compute (s) | compute (s) | compute → apply (s) "
        "| apply (s) | raised / reduced / closed / reopened | skipped | s per 100k accounts "
        "| floor: decisions / accounts updated | floor vs run: decisions differing "
        "/ accounts differing | decisions whose reasons do not hold (checked, s) |",
        "|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for m in results:
        r = m.run
        phases.append(
            f"| {m.size:,} | {r.chunks_total} | {_seconds(r.created_at, r.compute_started_at)} "
            f"| {_seconds(r.compute_started_at, r.compute_finished_at)} "
            f"| {_seconds(r.compute_finished_at, r.apply_started_at)} "
            f"| {_seconds(r.apply_started_at, r.finished_at)} "
            f"| {r.raised:,} / {r.reduced:,} / {r.closed:,} / {r.reopened:,} | {r.skipped:,} "
            f"| {m.per_100k:.2f} | {m.floor.decisions:,} / {m.floor.updated:,} "
            f"| {m.floor.decisions_differ:,} / {m.floor.accounts_differ:,} "
            f"| {len(m.reasons.failures):,} of {m.reasons.checked:,} ({m.reasons_seconds:.1f}) |"
        )
    by_size = {m.size: m for m in results}
    big, small = by_size[max(by_size)], by_size[min(by_size)]
    growth = big.per_100k / small.per_100k
    per_100k = ", ".join(f"{m.size:,}: {m.per_100k:.2f} s" for m in results)
    snapshot_rows = [
        "| accounts | snapshot rows | run with the snapshot (s) | compute phase with (s) "
        "| the same run without (s) | compute phase without (s) | added by the snapshot (s) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for m in results:
        w = m.without
        snapshot_rows.append(
            f"| {m.size:,} | {m.snapshot_rows:,} | {m.seconds:.1f} "
            f"| {_seconds(m.run.compute_started_at, m.run.compute_finished_at)} "
            f"| {w.seconds:.1f} | {_seconds(w.run.compute_started_at, w.run.compute_finished_at)} "
            f"| {m.seconds - w.seconds:+.1f} |"
            if w
            else f"| {m.size:,} | {m.snapshot_rows:,} | {m.seconds:.1f} | — | — | — | — |"
        )
    added = big.seconds - big.without.seconds if big.without else float("nan")
    notice_rows = [
        "| accounts | decisions | notices | notices made again (s) | share of the run |",
        "|---:|---:|---:|---:|---:|",
    ]
    for m in results:
        notice_rows.append(
            f"| {m.size:,} | {m.decisions:,} | {m.notices:,} | {m.notice_seconds:.2f} "
            f"| {m.notice_seconds / m.seconds:.1%} |"
        )
    notice_share = big.notice_seconds / big.seconds
    targets = [
        f"- Wall time ≤ {TARGET_SECONDS:.0f} s for {big.size:,} accounts: "
        f"{big.seconds:.1f} s — {_met(big.seconds <= TARGET_SECONDS)}.",
        f"- Speed ≥ {TARGET_FLOOR_RATIO}× the floor: {big.floor_ratio:.2f}× "
        f"({big.rate:,.0f} against {big.accounts / big.floor.seconds:,.0f} accounts/s) — "
        f"{_met(big.floor_ratio >= TARGET_FLOOR_RATIO)}.",
        f"- Worker memory ≤ {TARGET_RSS_MB:.0f} MB (largest process): {big.largest_mb:,.0f} MB "
        f"(all {CONCURRENCY + 1} processes together {big.total_mb:,.0f} MB) — "
        f"{_met(big.largest_mb <= TARGET_RSS_MB)}.",
        f"- Linear growth: seconds per 100,000 accounts {per_100k}; the per-account cost at "
        f"{big.size:,} is {growth:.2f}× that at {small.size:,} (met when ≤ "
        f"{TARGET_LINEAR_RATIO}) — {_met(growth <= TARGET_LINEAR_RATIO)}.",
        f"- The portfolio snapshot adds ≤ {TARGET_SNAPSHOT_SECONDS:.0f} s at {big.size:,} "
        f"accounts: {added:+.1f} s — {_met(added <= TARGET_SNAPSHOT_SECONDS)}.",
        f"- Recording the customer notices adds ≤ {TARGET_NOTICE_SHARE:.0%} at {big.size:,} "
        f"accounts: {big.notice_seconds:.1f} s for {big.notices:,} notices, "
        f"{notice_share:.1%} of the run — {_met(notice_share <= TARGET_NOTICE_SHARE)}.",
    ]
    return (
        "## Full re-score with the Celery worker (`rescore`)\n\n"
        f"For each size, `seed_demo --accounts N --replace` builds the book (plus the four "
        "story accounts; not timed, followed by `VACUUM (ANALYZE)` of the accounts and their "
        "signals), a real worker is started (`celery -A config worker --concurrency "
        f"{CONCURRENCY}`, prefork: one main process and {CONCURRENCY} pool processes), and the "
        'time runs from `runs.run_start(trigger="button")` until the run is `done`. The run '
        "has two phases over id-range chunks of "
        f"`RESCORE_CHUNK_SIZE` = {settings.RESCORE_CHUNK_SIZE:,} accounts: *compute* scores "
        "each chunk with the vectorised policy and stores the result on the chunk; once all "
        "are computed the circuit breaker looks at the totals, and *apply* writes each "
        "chunk's decisions (hash-chained, COPY) and updates its accounts, one transaction per "
        "chunk. The benchmark measures throughput, so before the runs the active policy's "
        "`breaker_max_accounts_cut_pct` and `breaker_max_exposure_cut_pct` are set to 100 "
        "(the breaker itself is tested elsewhere; the rules are put back afterwards). "
        f"Worker memory is the RSS of the worker's processes sampled every {SAMPLE_SECONDS} s "
        "during the run.\n\n"
        "The floor, measured in the same iteration after the run: one hand-written SQL "
        "statement over a copy of the accounts taken before the run (`bench_floor_accounts`, "
        "an UNLOGGED table with every index of `accounts_account`, since each updated "
        "account is written into all of them, in the run as in the floor; the decisions go "
        "to a regular table, `bench_floor_decisions`). It "
        "computes every scorecard characteristic's points (CASE over the bins of "
        "`scoring.SCORECARD`) and the score of every account, the band and its "
        "ceiling, the close triggers, the percentage cuts, hysteresis, raises after good "
        "cycles and reopening after the cool-down, from the active policy; it inserts one row "
        "per changed account with its contributions, triggers, principal reasons and inputs "
        "as jsonb, and updates the changed accounts (and the score, band and good cycles of "
        "the others). It does not do the hash chain, the decision sequence numbers, the "
        "optimistic version check or the real decision table's indexes and append-only "
        "trigger. The last columns below hold its result against the run's: decision rows "
        "(action, new limit, score, band, contributions, triggers, reasons) and end states "
        "of the accounts that differ. The last column: every decision of the run read back "
        "through the independent reason checker (`decisions/fidelity.py`, what "
        "`manage.py verify_reasons` runs), not timed with the run.\n\n" + "\n".join(rows) + "\n\n"
        "Phases, from the run's own timestamps:\n\n" + "\n".join(phases) + "\n\n"
        "The portfolio snapshot: the run above writes it (`PORTFOLIO_SNAPSHOT_CADENCE` = "
        "every-run; a row per account COPYed in each chunk's transaction, the chunk's "
        "distributions beside it, merged when every chunk is scored). After it the book is "
        "seeded afresh with the same accounts and the same run is timed again writing no "
        "snapshot (no floor, no reason check); the difference is what the snapshot "
        "costs.\n\n" + "\n".join(snapshot_rows) + "\n\n"
        "The customer notices: the run records one for each cut or closure in the "
        "decisions' own transaction (`decisions.services.notices_create`: classified in "
        "Python, one INSERT … SELECT per classification joined to the decisions just "
        "written). Measured apart after the run (`notice_replay`): in a transaction rolled "
        "back, the run's notices are deleted and made again by the same code, chunk by "
        "chunk, in one process — an upper bound, since the run's workers make theirs in "
        "parallel.\n\n" + "\n".join(notice_rows) + "\n\n"
        f"Targets ({big.size:,} accounts, 2 cores):\n\n" + "\n".join(targets)
    )


@contextmanager
def breaker_open() -> Iterator[scoring.PolicyRules]:
    """The active policy's circuit breaker opened wide while a benchmark measures
    throughput (the breaker itself is tested elsewhere); its rules put back after."""
    active = Policy.objects.get(state=Policy.State.ACTIVE)
    original = dict(active.rules)
    try:
        active.rules = {
            **original,
            "breaker_max_accounts_cut_pct": "100",
            "breaker_max_exposure_cut_pct": "100",
            "breaker_max_psi": "10",
        }
        active.save(update_fields=["rules"])
        yield scoring.parse_policy(active.rules)
    finally:
        Policy.objects.filter(pk=active.pk).update(rules=original)


def run() -> str:
    log_path = Path(settings.STATE_DIR) / "rescore-worker.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    results = []
    with breaker_open() as rules:
        for size in SIZES:
            print(f"  rescore: {size:,} accounts ...", flush=True)
            result = measure(size, rules, log_path)
            print(f"  rescore: {size:,} accounts again, without a snapshot ...", flush=True)
            result.without = measure_without_snapshot(size, log_path)
            print(
                f"  rescore: {size:,} accounts in {result.seconds:.1f} s, "
                f"floor {result.floor.seconds:.1f} s",
                flush=True,
            )
            results.append(result)
    return report(results)

"""A full re-score with one worker process, then with two named as separate hosts.

The same book each time (seeded afresh), each worker a Celery node of its own with
one pool process (`--concurrency 1`, `--hostname bench-a@<machine>`), as two small
machines would run them. Reported: the run's time, accounts per second in all and
per worker, and each worker's share of the chunks (`RunChunk.computed_by` and
`applied_by`). The per-worker figure is what docs/scaling.md sizes a fleet with.
LIMITDESK_BENCH_WORKERS_SIZE sets the book (1,000,000).
"""

from __future__ import annotations

import os
import socket
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db.models import Count

from bench.rescore import _book, _wait, _worker_activity, breaker_open, celery_worker
from decisions import runs
from decisions.models import LimitDecision, RescoreRun, RunChunk

SIZE = int(os.environ.get("LIMITDESK_BENCH_WORKERS_SIZE", "1000000"))
SETUPS = (("bench-solo",), ("bench-a", "bench-b"))


@dataclass
class Result:
    hosts: tuple[str, ...]
    accounts: int
    seconds: float
    compute_seconds: float
    apply_seconds: float
    chunks: int
    # Per worker node: (chunks scored, chunks written, accounts scored)
    shares: dict[str, tuple[int, int, int]]

    @property
    def per_second(self) -> float:
        return self.accounts / self.seconds

    @property
    def per_worker(self) -> float:
        return self.per_second / len(self.hosts)


def measure(hosts: tuple[str, ...], log_dir: Path) -> Result:
    _book(SIZE)
    with ExitStack() as stack:
        for host in hosts:
            stack.enter_context(
                celery_worker(log_dir / f"workers-{host}.log", host=host, concurrency=1)
            )
        started = time.perf_counter()
        run = runs.run_start(trigger="button")
        problem = _wait(run.pk, timeout=900 + SIZE * 0.002)
        seconds = time.perf_counter() - started
        activity = _worker_activity() if problem else ""
    run.refresh_from_db()
    if run.state != RescoreRun.State.DONE:
        raise AssertionError(
            f"{hosts}: the run is {run.state!r} after {seconds:.1f} s ({problem or 'it ended'};"
            f" error {run.error!r}; worker: {activity or '—'})"
        )
    chunks = RunChunk.objects.filter(run=run)
    scored = dict(
        chunks.values("computed_by").annotate(n=Count("pk")).values_list("computed_by", "n")
    )
    written = dict(
        chunks.values("applied_by").annotate(n=Count("pk")).values_list("applied_by", "n")
    )
    accounts = {
        name: sum(chunks.filter(computed_by=name).values_list("accounts", flat=True))
        for name in scored
    }
    doubled = (
        LimitDecision.objects.filter(run=run)
        .values("account")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .count()
    )
    if doubled:
        raise AssertionError(f"{hosts}: {doubled} accounts got two decisions from one run")
    assert run.compute_started_at and run.compute_finished_at
    assert run.apply_started_at and run.finished_at
    return Result(
        hosts=hosts,
        accounts=run.accounts_total,
        seconds=seconds,
        compute_seconds=(run.compute_finished_at - run.compute_started_at).total_seconds(),
        apply_seconds=(run.finished_at - run.apply_started_at).total_seconds(),
        chunks=run.chunks_total,
        shares={
            name: (scored.get(name, 0), written.get(name, 0), accounts.get(name, 0))
            for name in sorted(scored.keys() | written.keys())
        },
    )


def report(results: list[Result]) -> str:
    one, two = results
    machine = socket.gethostname()
    lines = [
        "## Many workers: one worker node, then two (`bench/workers.py`)",
        "",
        f"The book: {one.accounts:,} accounts (`seed_demo --accounts {SIZE:,} --replace`, "
        "afresh before each run, not timed). Each worker is a Celery node of its own, "
        "`--concurrency 1`, named as a host of its own (`--hostname bench-a@<machine>`), "
        "on the same PostgreSQL and Redis; the circuit breaker opened as in the re-score "
        "benchmark. Time from `run_start` to the run `done`; "
        f"`RESCORE_CHUNK_SIZE` = {settings.RESCORE_CHUNK_SIZE:,} ({one.chunks} chunks).",
        "",
        "| workers | run | scoring | writing | accounts/s | per worker |",
        "|---|---|---|---|---|---|",
    ]
    for result in results:
        lines.append(
            f"| {len(result.hosts)} | {result.seconds:.1f} s | {result.compute_seconds:.1f} s "
            f"| {result.apply_seconds:.1f} s | {result.per_second:,.0f} "
            f"| {result.per_worker:,.0f} |"
        )
    lines += ["", "Chunks per worker node (scored / written / accounts scored):", ""]
    for result in results:
        for name, (scored, written, accounts) in result.shares.items():
            shown = name.replace(machine, "<machine>")
            lines.append(
                f"- {len(result.hosts)} worker(s), {shown}: {scored} / {written} / {accounts:,}"
            )
    speedup = one.seconds / two.seconds
    lines += [
        "",
        f"Two workers finished the run {speedup:.2f} times as fast as one "
        f"({two.per_worker / one.per_worker:.0%} of one worker's throughput each). No "
        "account got two decisions from a run in either.",
    ]
    return "\n".join(lines)


def run() -> str:
    log_dir = Path(settings.STATE_DIR)
    log_dir.mkdir(parents=True, exist_ok=True)
    results = []
    with breaker_open():
        for hosts in SETUPS:
            print(f"  workers: {len(hosts)} on {SIZE:,} accounts ...", flush=True)
            result = measure(hosts, log_dir)
            print(f"  workers: {len(hosts)}: {result.seconds:.1f} s", flush=True)
            results.append(result)
    return report(results)

"""The account list's CSV export through the real server: 100,000 rows streamed from the
1,000,000-account book of the `pages` benchmark (docs/architecture.md, "Lists").

gunicorn is started from the Procfile's `web` line, a risk analyst logs in, and a plain
HTTP client downloads `GET /accounts/export.csv?sort=-limit` (every account, largest
limit first), counting rows as they arrive and closing the connection after
`ROWS` rows, as a person stopping a long download would; the server's memory (the RSS
of gunicorn's processes) is sampled while it streams. Then the whole export of a
filter of about `ROWS` rows, to its end.

Targets: the first 100,000 rows in ≤ 10 s; the server's memory grows by at most
`MEMORY_TARGET_MB` while streaming (it reads through a server-side cursor in chunks).

`LIMITDESK_BENCH_EXPORT_ROWS` sets the row count (to try the benchmark on a small
book: the book is then the bench database's accounts as they are, `seed_demo
--if-empty` when it has none).
"""

from __future__ import annotations

import http.client
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil  # type: ignore[import-untyped]
from django.conf import settings
from django.core.management import call_command
from django.db.models import Count

from accounts.models import Account, ListExport
from bench import pages
from bench.pages import Browser, PageError, web_server
from demo.services import DEMO_PASSWORD

ROWS = int(os.environ.get("LIMITDESK_BENCH_EXPORT_ROWS", "100000"))
TARGET_SECONDS = 10.0
MEMORY_TARGET_MB = 64.0
USERNAME = "alice"  # a risk analyst: opens the account list
READ_BYTES = 64 * 1024
SAMPLE_SECONDS = 0.05
WEB_LOG = "export-web.log"


@dataclass(frozen=True)
class Download:
    path: str
    rows: int
    bytes: int
    seconds: float
    first_byte_ms: float
    memory_before_mb: float
    memory_peak_mb: float
    complete: bool  # read to its end (else closed after ROWS rows)

    @property
    def growth_mb(self) -> float:
        return self.memory_peak_mb - self.memory_before_mb


def _tree_rss_mb(pid: int) -> float:
    """RSS of a process and its children (gunicorn's master and workers), in MB."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except psutil.Error:
            continue
    return total / 1024 / 1024


def _server_pid(port: int) -> int:
    """The gunicorn master listening on `port`."""
    for connection in psutil.net_connections(kind="tcp"):
        listening = connection.laddr and connection.status == "LISTEN"
        if listening and connection.laddr.port == port and connection.pid is not None:
            return connection.pid
    raise RuntimeError(f"no process listens on port {port}")


def download(browser: Browser, path: str, server_pid: int, *, stop_after: int | None) -> Download:
    """GET `path` on a connection of its own, counting CSV lines as they arrive."""
    connection = http.client.HTTPConnection("127.0.0.1", browser.port, timeout=120)
    cookies = "; ".join(f"{k}={v}" for k, v in browser.cookies.items())
    before = _tree_rss_mb(server_pid)
    peak = before
    streaming = True

    def sample() -> None:
        nonlocal peak
        while streaming:
            peak = max(peak, _tree_rss_mb(server_pid))
            time.sleep(SAMPLE_SECONDS)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    connection.request("GET", path, headers={"Cookie": cookies, "Accept-Language": "en"})
    response = connection.getresponse()
    if response.status != 200:
        raise PageError(f"GET {path}: HTTP {response.status}: {response.read(300)!r}")
    first_byte_ms = 0.0
    lines = received = 0
    complete = False
    while True:
        block = response.read1(READ_BYTES)
        if not block:
            complete = True
            break
        if not received:
            first_byte_ms = (time.perf_counter() - started) * 1000
        received += len(block)
        lines += block.count(b"\n")  # a "\r\n" may straddle two blocks
        if stop_after is not None and lines - 1 >= stop_after:
            break
    seconds = time.perf_counter() - started
    connection.close()  # stops the download when it is not complete
    streaming = False
    sampler.join()
    return Download(
        path=path,
        rows=min(lines - 1, stop_after) if stop_after is not None else lines - 1,
        bytes=received,
        seconds=seconds,
        first_byte_ms=first_byte_ms,
        memory_before_mb=before,
        memory_peak_mb=peak,
        complete=complete,
    )


def _filter_of_about(rows: int) -> str:
    """A band whose accounts number at least `rows`, as a query string, else none."""
    counts = dict(
        Account.objects.values_list("band")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("band", "n")
    )
    fitting = sorted((n, band) for band, n in counts.items() if band and n >= rows)
    return f"band={fitting[0][1]}&sort=reference" if fitting else "sort=reference"


def run() -> str:
    if not Account.objects.exists():
        call_command("seed_demo", "--if-empty", "--accounts", str(max(ROWS, 1000)), verbosity=0)
    accounts = Account.objects.count()
    log_path = Path(settings.STATE_DIR) / WEB_LOG
    log_path.parent.mkdir(parents=True, exist_ok=True)
    exports_before = ListExport.objects.count()
    with web_server(log_path) as (port, _command):
        browser = Browser(port, log_path)
        browser.login(USERNAME, DEMO_PASSWORD)
        pid = _server_pid(port)
        # Warm the worker (imports, the first connection) with a small export.
        download(browser, "/accounts/export.csv?sort=reference", pid, stop_after=100)
        first = download(browser, "/accounts/export.csv?sort=-limit", pid, stop_after=ROWS)
        query = _filter_of_about(ROWS)
        whole = download(browser, f"/accounts/export.csv?{query}", pid, stop_after=None)
    logged = ListExport.objects.count() - exports_before
    finished = ListExport.objects.order_by("-exported_at").first()
    return report(accounts, first, whole, logged, finished.rows if finished else None)


def _met(ok: bool) -> str:
    return "met" if ok else "**missed**"


def report(
    accounts: int, first: Download, whole: Download, logged: int, last_rows: int | None
) -> str:
    book = pages.ACCOUNTS
    note = (
        ""
        if accounts >= book
        else f" (not the {book:,}-account book of `pages`: a trial run, not the figure)"
    )
    lines = [
        "## Account list CSV export",
        "",
        f"The book: {accounts:,} accounts{note}. Through gunicorn as the Procfile starts it, "
        f"logged in as a risk analyst; the export reads through a server-side cursor and "
        f'writes blocks of rows (docs/architecture.md, "Lists").',
        "",
        "| download | rows | MB | seconds | first byte | server memory growth | target |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for label, item, target in (
        (f"first {ROWS:,} rows of `{first.path}` (then closed)", first, TARGET_SECONDS),
        (f"the whole of `{whole.path}`", whole, None),
    ):
        ok = (target is None or item.seconds <= target) and item.growth_mb <= MEMORY_TARGET_MB
        limits = f"≤ {target:.0f} s, " if target is not None else ""
        lines.append(
            f"| {label} | {item.rows:,} | {item.bytes / 1e6:.1f} | {item.seconds:.2f} | "
            f"{item.first_byte_ms:.0f} ms | {item.growth_mb:+.1f} MB "
            f"(from {item.memory_before_mb:.0f} MB) | {limits}≤ {MEMORY_TARGET_MB:.0f} MB: "
            f"{_met(ok)} |"
        )
    lines += [
        "",
        f"Rows per second (first download): {first.rows / first.seconds:,.0f}. "
        f"Exports logged: {logged} (each `ListExport` is written before its first row; "
        f"the last one, read to its end, counted {last_rows if last_rows is not None else '—'} "
        f"rows).",
    ]
    return "\n".join(lines)

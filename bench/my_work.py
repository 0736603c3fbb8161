"""My work and its navigation count through the real server, on the 1,000,000-account
book of the `pages` benchmark (docs/architecture.md, "My work").

The book is the pages benchmark's (built once, reused), with its open appeals spread
over the handlers. On top of it, work that waits for the demo's people, kept between
runs (marked `bench-my-work`): overrides greg proposed for a lead to approve, outcomes
bob proposed that wait for a lead, outcomes a lead sent back to bob. gunicorn is
started from the Procfile's `web` line; each person logs in and a plain HTTP client
asks for `/my-work/` and for the count the navigation polls (`/my-work/count/`, as
HTMX asks for it), one request after the other.

Target (p95): My work ≤ 100 ms, for every role that has one.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from accounts.models import Account
from appeals.models import Appeal, AppealEvent
from bench import pages
from bench.pages import Browser, Stats, stats, web_server
from decisions.models import LimitDecision, OverrideRequest
from demo.services import DEMO_PASSWORD

MARK = "bench-my-work"
OVERRIDES = 300  # proposed by greg, for the leads
PENDING_OUTCOMES = 200  # bob's, waiting for a lead
SENT_BACK = 40  # bob's, a lead sent back
PEOPLE = ("alice", "bob", "carol", "dave")  # analyst, handler, lead, policy admin
REQUESTS = 150  # per person and URL
WARMUP = 10
TARGET_MS = 100.0
SEED = 2027
WEB_LOG = "my-work-web.log"


@dataclass(frozen=True)
class Measured:
    person: str
    role: str
    waiting: int
    page: Stats
    count: Stats


def _workload() -> dict[str, int]:
    """Add what waits for people, once; the counts as they are now."""
    rng = random.Random(SEED)  # noqa: S311 - test data
    now = timezone.now()
    greg, bob, carol = (User.objects.get(username=name) for name in ("greg", "bob", "carol"))
    with transaction.atomic():
        have = OverrideRequest.objects.filter(justification__startswith=MARK).count()
        if have < OVERRIDES:
            top = Account.objects.order_by("-id").values_list("id", flat=True).first() or 0
            chosen = rng.sample(range(1, top + 1), OVERRIDES - have)
            accounts = Account.objects.filter(id__in=chosen).values_list(
                "id", "current_limit", "version"
            )
            OverrideRequest.objects.bulk_create(
                OverrideRequest(
                    account_id=account_id,
                    new_limit=(limit or Decimal("0")) + Decimal("5000.00"),
                    justification=f"{MARK}: the customer's income was verified on a call.",
                    requested_by=greg,
                    account_version=version,
                    created_at=now - timedelta(hours=rng.uniform(1, 96)),
                )
                for account_id, limit, version in accounts
            )
        bobs = Appeal.objects.filter(assignee=bob, state__in=Appeal.OPEN_STATES).order_by("id")
        pending = bobs.filter(outcome_pending=True).count()
        if pending < PENDING_OUTCOMES:
            ids = list(
                bobs.filter(outcome_pending=False, outcome="").values_list("id", flat=True)[
                    : PENDING_OUTCOMES - pending
                ]
            )
            Appeal.objects.filter(id__in=ids).update(
                outcome=Appeal.Outcome.PARTIAL,
                outcome_limit=Decimal("20000.00"),
                outcome_justification=f"{MARK}: verified payslips",
                outcome_by=bob,
                outcome_pending=True,
            )
        sent_back = AppealEvent.objects.filter(move="outcome_rejected", note__startswith=MARK)
        if sent_back.count() < SENT_BACK:
            ids = list(
                bobs.filter(outcome_pending=False, outcome="")
                .exclude(events__move="outcome_rejected")
                .values_list("id", flat=True)[: SENT_BACK - sent_back.count()]
            )
            AppealEvent.objects.bulk_create(
                AppealEvent(
                    appeal_id=appeal_id,
                    move="outcome_rejected",
                    actor=carol,
                    note=f"{MARK}: the payslips are not the customer's; ask again.",
                    at=now - timedelta(hours=rng.uniform(1, 200)),
                )
                for appeal_id in ids
            )
    return {
        "overrides": OverrideRequest.objects.filter(
            state=OverrideRequest.State.PENDING, justification__startswith=MARK
        ).count(),
        "pending outcomes": Appeal.objects.filter(outcome_pending=True).count(),
        "sent back": sent_back.count(),
        "open appeals": Appeal.objects.filter(state__in=Appeal.OPEN_STATES).count(),
    }


def _role(username: str) -> str:
    return ", ".join(User.objects.get(username=username).groups.values_list("name", flat=True))


def run() -> str:
    pages.seed()
    book = {"accounts": Account.objects.count(), "decisions": LimitDecision.objects.count()}
    workload = _workload()
    log_path = Path(settings.STATE_DIR) / WEB_LOG
    log_path.parent.mkdir(parents=True, exist_ok=True)
    measured = []
    with web_server(log_path) as (port, _command):
        for person in PEOPLE:
            browser = Browser(port, log_path)
            browser.login(person, DEMO_PASSWORD)
            for _ in range(WARMUP):
                browser.page("/my-work/")
                browser.page("/my-work/count/", htmx=True)
            page_ms, count_ms = [], []
            count_body = b""
            for _ in range(REQUESTS):
                _body, ms = browser.page("/my-work/")
                page_ms.append(ms)
                count_body, ms = browser.page("/my-work/count/", htmx=True)
                count_ms.append(ms)
            waiting = _count_in(count_body)
            measured.append(
                Measured(person, _role(person), waiting, stats(page_ms), stats(count_ms))
            )
            print(
                f"  my work: {person}: page p95 {measured[-1].page.p95:.1f} ms, "
                f"count p95 {measured[-1].count.p95:.1f} ms ({waiting} waiting)",
                flush=True,
            )
    return report(book, workload, measured)


def _count_in(body: bytes) -> int:
    """The number the navigation shows, from the count fragment."""
    found = re.search(rb">\s*(\d[\d,]*)\s*<", body)
    return int(found[1].replace(b",", b"")) if found else 0


def report(book: dict[str, int], workload: dict[str, int], measured: list[Measured]) -> str:
    worst = max(m.page.p95 for m in measured)
    lines = [
        "## My work",
        "",
        f"Book: {book['accounts']:,} accounts, {book['decisions']:,} decisions (the pages "
        "benchmark's); waiting work added on top: "
        + ", ".join(f"{value:,} {name}" for name, value in workload.items())
        + ".",
        "",
        f"{REQUESTS} requests per person of `/my-work/` and of the navigation's count "
        "(`/my-work/count/`, as HTMX polls it), one after the other through gunicorn, "
        f"after {WARMUP} to warm up.",
        "",
        "| person | role | waiting | My work p50 | p95 | p99 | count p50 | p95 |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for m in measured:
        lines.append(
            f"| {m.person} | {m.role} | {m.waiting:,} | {m.page.p50:.1f} ms | "
            f"{m.page.p95:.1f} ms | {m.page.p99:.1f} ms | {m.count.p50:.1f} ms | "
            f"{m.count.p95:.1f} ms |"
        )
    verdict = "met" if worst <= TARGET_MS else "**missed**"
    lines += ["", f"Target p95 ≤ {TARGET_MS:.0f} ms: {verdict} (worst p95 {worst:.1f} ms)."]
    return "\n".join(lines)

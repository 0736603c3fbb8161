"""The `pages` benchmark on a book ten times larger: 10,000,000 accounts and
30,000,000 limit decisions (LIMITDESK_BENCH_PAGES_SCALE_ACCOUNTS / _DECISIONS),
against the same targets (account page p95 ≤ 50 ms, overview ≤ 200 ms, search
≤ 100 ms). The book is built as `pages` builds its own, kept in the bench database
and reused while it matches. Its size on disk is in the report; it needs more than
the 75 GB of free disk it ran out of on 2026-12-05, during the decisions' insert.
"""

from __future__ import annotations

import os

from bench import pages

ACCOUNTS = int(os.environ.get("LIMITDESK_BENCH_PAGES_SCALE_ACCOUNTS", "10000000"))
DECISIONS = int(os.environ.get("LIMITDESK_BENCH_PAGES_SCALE_DECISIONS", str(3 * ACCOUNTS)))


def run() -> str:
    pages.ACCOUNTS, pages.DECISIONS = ACCOUNTS, DECISIONS
    body = pages.run()
    _heading, _, rest = body.partition("\n")
    return f"## Page speed at {ACCOUNTS:,} accounts (`pages_scale`)\n{rest}"

"""Loaded as a plugin (`-p tests.parallel`, by scripts/run-tests) before Django starts.

Under pytest-xdist each test process gets a Redis database and evidence directories
of its own, set in its environment before Django reads its settings; the test
database gets its suffix from pytest-django. Without xdist, nothing changes.
See docs/architecture.md, "The test suite in parallel".
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

# Redis databases 14 and 15 are the smoke test's (tests/smoke/conftest.py).
FIRST_REDIS_DB = 1
LAST_REDIS_DB = 13

# xdist names its processes gw0, gw1, … in their environment before plugins load.
_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if _worker.startswith("gw") and os.environ.get("REDIS_URL"):
    _number = FIRST_REDIS_DB + int(_worker.removeprefix("gw"))
    if _number > LAST_REDIS_DB:
        raise RuntimeError(f"too many test processes for Redis's databases ({_worker})")
    _url = urlsplit(os.environ["REDIS_URL"])
    os.environ["REDIS_URL"] = urlunsplit(_url._replace(path=f"/{_number}"))
    _state = Path(os.environ.get("LIMITDESK_STATE_DIR", ".local/test"))
    os.environ["EVIDENCE_ROOT"] = str(_state / f"evidence-{_worker}")
    os.environ["EVIDENCE_PACK_ROOT"] = str(_state / f"evidence-packs-{_worker}")

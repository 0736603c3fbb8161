"""Services send tasks by name (config.queue): every name sent is a task the worker has."""

from __future__ import annotations

import re
from pathlib import Path

from config.celery import app

ROOT = Path(__file__).resolve().parents[2]
APPS = ("accounts", "policies", "decisions", "appeals", "api", "desk", "demo")


def test_every_task_name_sent_is_a_registered_task():
    name = re.compile(r'"((?:' + "|".join(APPS) + r')\.tasks\.\w+)"')
    sent = set()
    for package in APPS:
        for path in (ROOT / package).rglob("*.py"):
            sent |= set(name.findall(path.read_text()))
    assert {"decisions.tasks.compute_chunk", "policies.tasks.simulate_chunk"} <= sent
    app.loader.import_default_modules()  # what a worker imports when it starts
    assert sent - set(app.tasks) == set()

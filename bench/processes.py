"""Child processes of the benchmarks (the web server, Celery workers)."""

from __future__ import annotations

import subprocess
from contextlib import suppress

import psutil  # type: ignore[import-untyped]


def stop_process_tree(process: subprocess.Popen[bytes], *, grace_seconds: float) -> None:
    """SIGTERM (a graceful stop that takes the children along), then kill what is left."""
    if process.poll() is not None:
        return
    try:
        children = psutil.Process(process.pid).children(recursive=True)
    except psutil.Error:
        children = []
    process.terminate()
    try:
        process.wait(grace_seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)
    for child in children:
        with suppress(psutil.Error):
            child.kill()

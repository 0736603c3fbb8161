"""Child processes of the benchmarks (the web server, Celery workers) and their CPU."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

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


@dataclass
class CpuUse:
    """CPU used while a measurement ran: by the machine, and by the benchmark itself
    (this process and its children, and the servers given: PostgreSQL, Redis) — the
    rest is other load on the machine, which slows the figures down."""

    seconds: float = 0.0  # wall time
    machine: float = 0.0  # CPU seconds, all cores, everything not idle
    ours: float = 0.0  # CPU seconds of the benchmark's processes and its servers

    @property
    def others_cores(self) -> float:
        return max(0.0, self.machine - self.ours) / self.seconds if self.seconds else 0.0

    @property
    def ours_cores(self) -> float:
        return self.ours / self.seconds if self.seconds else 0.0


def _tree_cpu_seconds(root: psutil.Process) -> float:
    """CPU seconds of a process, its children that ended (and were waited for) and
    the ones that still run."""
    total = 0.0
    with suppress(psutil.Error):
        times = root.cpu_times()
        total += times.user + times.system + times.children_user + times.children_system
        for child in root.children(recursive=True):
            with suppress(psutil.Error):
                child_times = child.cpu_times()
                total += child_times.user + child_times.system
    return total


def _machine_cpu_seconds() -> float:
    times = psutil.cpu_times()
    busy: float = sum(times) - times.idle - getattr(times, "iowait", 0.0)
    return busy


@contextmanager
def cpu_use(server_pids: list[int]) -> Iterator[CpuUse]:
    """Measure the CPU used during the block (see CpuUse)."""
    roots = [psutil.Process()]
    for pid in server_pids:
        with suppress(psutil.Error):
            roots.append(psutil.Process(pid))
    use = CpuUse()
    began = time.perf_counter()
    machine = _machine_cpu_seconds()
    ours = sum(_tree_cpu_seconds(root) for root in roots)
    try:
        yield use
    finally:
        use.seconds = time.perf_counter() - began
        use.machine = _machine_cpu_seconds() - machine
        use.ours = sum(_tree_cpu_seconds(root) for root in roots) - ours


def server_pids(database: Any, redis_url: str) -> list[int]:
    """The PostgreSQL server (the parent of the connection's backend) and the Redis
    server listening on the port of `redis_url`, when they run on this machine."""
    pids = []
    with suppress(psutil.Error), database.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (backend,) = cursor.fetchone()
        parent = psutil.Process(backend).parent()
        if parent is not None:
            pids.append(parent.pid)
    port = urlparse(redis_url).port
    for process in psutil.process_iter(["name", "cmdline"]):
        cmdline = process.info["cmdline"] or []
        if "redis-server" in (process.info["name"] or "") and str(port) in " ".join(cmdline):
            pids.append(process.pid)
    return pids

"""Run the benchmarks against the `bench` database and rewrite docs/benchmarks.md.

make bench                 # every benchmark
make bench BENCH=seed      # one of them
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

import django

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "docs" / "benchmarks.md"
BENCHMARKS = [
    "seed",
    "rescore",
    "scale",
    "workers",
    "nightly",
    "pages",
    "pages_scale",
    "queue",
    "simulate",
    "ingest",
    "export",
    "my_work",
    "monitoring",
    "backtest",
    "notices",
    "evidence",
]


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        total_kb = int(meminfo.read_text().split()[1])
        memory = f", {total_kb / 1024 / 1024:.0f} GiB RAM"
    return f"{cpu}, {os.cpu_count()} cores{memory}, Python {platform.python_version()}"


def server() -> str:
    """The PostgreSQL the figures come from, and its settings that shape them."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('server_version'), current_setting('shared_buffers'), "
            "current_setting('max_wal_size'), current_setting('checkpoint_timeout')"
        )
        version, buffers, wal, timeout = cursor.fetchone()
    return (
        f"PostgreSQL {version} (shared_buffers {buffers}, max_wal_size {wal}, "
        f"checkpoint_timeout {timeout})"
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("names", nargs="*", metavar="name", help=", ".join(BENCHMARKS))
    args = parser.parse_args()
    unknown = set(args.names) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmark {', '.join(sorted(unknown))}; pick from {BENCHMARKS}")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    sections = {}
    for name in args.names or BENCHMARKS:
        module = __import__(f"bench.{name}", fromlist=["run"])
        print(f"running {name} ...", flush=True)
        sections[name] = module.run()
        print(sections[name], flush=True)
    write_report(sections)
    return 0


def write_report(sections: dict[str, str]) -> None:
    """Replace the sections that ran; keep the others as they were measured."""
    existing: dict[str, str] = {}
    if REPORT.exists():
        current = None
        for line in REPORT.read_text().splitlines(keepends=True):
            if line.startswith("<!-- bench:"):
                current = line.strip()[len("<!-- bench:") : -len(" -->")].strip()
                existing[current] = ""
            elif current:
                existing[current] += line
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    for name, body in sections.items():
        heading, _, rest = body.strip().partition("\n")
        existing[name] = f"{heading}\n\nMeasured {stamp} on {machine()}; {server()}.\n{rest}\n\n"
    parts = [
        "# Benchmarks\n\n",
        "Written by `make bench`; each section is the figure as measured on the machine "
        "and date it names. Re-run a single one with `make bench BENCH=<name>`.\n\n",
    ]
    for name in BENCHMARKS:
        if name in existing:
            parts.append(f"<!-- bench: {name} -->\n{existing[name]}")
    REPORT.write_text("".join(parts).rstrip() + "\n")


if __name__ == "__main__":
    sys.exit(main())

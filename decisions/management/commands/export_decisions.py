"""Export limit decisions to CSV for a date range (UTC days, both included).

manage.py export_decisions --since 2026-11-01 --until 2026-11-25 --output nov.csv
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from decisions.audit_trail import decisions_csv


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"{text!r} is not a date like 2026-11-25.") from None


class Command(BaseCommand):
    help = "Export the limit decisions of a date range to CSV."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", required=True, help="first day, e.g. 2026-11-01")
        parser.add_argument("--until", required=True, help="last day, e.g. 2026-11-25")
        parser.add_argument("--output", default="-", help="a file, or - for standard output")

    def handle(self, *args: Any, **options: Any) -> None:
        since, until = _day(options["since"]), _day(options["until"])
        if until < since:
            raise CommandError("--until is before --since.")
        if options["output"] == "-":
            for block in decisions_csv(since, until):
                sys.stdout.buffer.write(block)
            return
        target = Path(options["output"])
        with target.open("wb") as out:
            for block in decisions_csv(since, until):
                out.write(block)
        self.stderr.write(f"Decisions from {since} to {until} written to {target}.")

"""Import account signals from CSV, any size: checked row by row, COPYed, applied
in one transaction, or not at all when too many rows are bad.

    manage.py import_signals signals.csv [--errors rejected.csv] [--max-rejected-pct 1]

Columns: `account`, `observed_at` (ISO 8601 with a time zone), then any signal
names (e.g. `lender_applications_30d`); only those columns change.
"""

from __future__ import annotations

import time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from decisions.signal_import import ImportRefused, signals_import


class Command(BaseCommand):
    help = "Import account signals from a CSV file."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file")
        parser.add_argument("--errors", help="where rejected rows go (default FILE.errors.csv)")
        parser.add_argument(
            "--max-rejected-pct",
            default="1",
            help="refuse the whole file above this share of bad rows, in percent (default 1)",
        )
        parser.add_argument(
            "--rescore-at-most",
            type=int,
            default=settings.SIGNAL_IMPORT_RESCORE_MAX,
            help="re-score the changed accounts at once when there are at most this many; "
            "more wait for a portfolio run, which the circuit breaker guards "
            f"(default {settings.SIGNAL_IMPORT_RESCORE_MAX})",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        source = Path(options["file"])
        if not source.is_file():
            raise CommandError(f"No file {source}.")
        errors_path = Path(options["errors"] or f"{source}.errors.csv")
        try:
            threshold = Decimal(options["max_rejected_pct"])
        except InvalidOperation:
            raise CommandError("--max-rejected-pct is a number, e.g. 1 or 0.5.") from None
        started = time.perf_counter()
        with (
            source.open(newline="", encoding="utf-8") as rows,
            errors_path.open("w", newline="", encoding="utf-8") as errors,
        ):
            try:
                result = signals_import(
                    rows,
                    errors,
                    max_rejected_pct=threshold,
                    rescore_at_most=options["rescore_at_most"],
                )
            except ImportRefused as refused:
                raise CommandError(f"{refused} Rejected rows: {errors_path}") from None
            except UnicodeDecodeError:
                raise CommandError("The file is not UTF-8 text.") from None
        self.stdout.write(
            f"{result.rows:,} rows in {time.perf_counter() - started:.1f} s: "
            f"{result.applied:,} applied, {result.stale:,} older than the signals on file, "
            f"{result.superseded:,} superseded by a newer row, {result.rejected:,} rejected"
            + (f" (see {errors_path})" if result.rejected else "")
            + "."
        )
        if result.rescores_requested:
            self.stdout.write("Each changed account is queued for a re-score.")
        elif result.applied:
            self.stdout.write(
                f"More than {options['rescore_at_most']:,} accounts changed: they are re-scored "
                "by the next portfolio run, which the circuit breaker guards (the nightly run, "
                "or start one on the Runs page)."
            )

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from decisions.reason_check import reason_check_report

SHOWN = 50


def _date(raw: str) -> datetime:
    try:
        return datetime.strptime(raw, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise CommandError(f"--since takes a date as YYYY-MM-DD, not {raw!r}.") from None


class Command(BaseCommand):
    help = (
        "Check every reason stated by the decisions of a policy version against the "
        "decision's own inputs, with a checker written apart from the reason selection; "
        "name each decision whose reasons do not hold."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--since", type=_date, help="only decisions made on or after this date (YYYY-MM-DD)"
        )

    def handle(self, *args: Any, since: datetime | None, **options: Any) -> None:
        report = reason_check_report(since)
        codes = ", ".join(f"{code} {n:,}" for code, n in sorted(report.by_code.items()))
        if report.failures:
            lines = [
                f"Decision {f.decision_id} of {f.reference} ({', '.join(f.reasons)}): "
                + "; ".join(f.problems)
                for f in report.failures[:SHOWN]
            ]
            more = len(report.failures) - SHOWN
            if more > 0:
                lines.append(f"... and {more:,} more.")
            raise CommandError(
                f"{len(report.failures):,} of {report.checked:,} decisions state a reason "
                "that their numbers do not support:\n" + "\n".join(lines)
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Every reason holds: {report.checked:,} decisions checked ({codes or 'none'})."
            )
        )

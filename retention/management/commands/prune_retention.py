"""Remove the records past their retention period now, or say what would go."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from retention import services


class Command(BaseCommand):
    help = (
        "Prune the API call log, signal events, evidence files of closed appeals, "
        "personal-data reveals and finished notices past their retention periods "
        "(docs/architecture.md, 'Retention'). Decisions are never pruned."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="say what would go; change nothing"
        )

    def handle(self, *args: Any, dry_run: bool = False, **options: Any) -> None:
        try:
            done = services.retention_prune(dry_run=dry_run)
        except services.RetentionMisconfigured as error:
            raise CommandError(str(error)) from None
        verb = "would remove" if dry_run else "removed"
        for item in done:
            files = f", {item.files_removed} files" if item.files_removed else ""
            self.stdout.write(
                f"{item.category}: {verb} {item.removed} older than "
                f"{item.cutoff:%Y-%m-%d %H:%M} UTC ({item.days} days){files}"
            )
        if dry_run:
            self.stdout.write("Dry run: nothing was removed.")

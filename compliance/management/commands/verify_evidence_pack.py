"""manage.py verify_evidence_pack <zip> (docs/architecture.md, "Evidence pack")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from compliance import services


class Command(BaseCommand):
    help = (
        "Check an evidence pack: every file against the SHA-256 in its manifest, the "
        "manifest's signature, and every reproducible CSV against what the database "
        "gives for the manifest's period now. Exits non-zero on any mismatch."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("zip", help="the pack's zip file")

    def handle(self, *args: Any, zip: str, **options: Any) -> None:
        path = Path(zip)
        if not path.is_file():
            raise CommandError(f"No file {path}.")
        result = services.pack_verify(path)
        for line in result.checked:
            self.stdout.write(f"  ok  {line}")
        if not result.ok:
            lines = "\n".join(f"  MISMATCH  {problem}" for problem in result.problems)
            raise CommandError(f"The evidence pack {path.name} does NOT verify:\n{lines}")
        assert result.period is not None
        self.stdout.write(
            self.style.SUCCESS(
                f"OK: the evidence pack {path.name} for {result.period.first}–"
                f"{result.period.last} matches its manifest and the database."
            )
        )

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from decisions import services


class Command(BaseCommand):
    help = (
        "Write a signed checkpoint of every account's chain head, read in one snapshot, "
        "to AUDIT_CHECKPOINT_DIR (beat does it daily); verify_audit_chain compares the "
        "decisions with the latest one."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            written = services.audit_checkpoint_write()
        except ImproperlyConfigured as error:
            raise CommandError(str(error)) from None
        made = written.checkpoint
        self.stdout.write(
            self.style.SUCCESS(
                f"Audit checkpoint of {made.taken_at:%Y-%m-%d %H:%M:%S} UTC: "
                f"{made.accounts:,} accounts' chain heads ({made.decisions:,} decisions), "
                f"signed and written to {written.path}."
            )
        )

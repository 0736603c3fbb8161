from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from decisions import selectors


class Command(BaseCommand):
    help = (
        "Walk every account's chain of limit decisions and name the first broken link: "
        "a changed, missing or re-pointed decision."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--account", help="check only this account reference")

    def handle(self, *args: Any, account: str | None, **options: Any) -> None:
        report = selectors.audit_chain_report(account_reference=account)
        if report.broken:
            lines = [
                f"Account {link.reference} (id {link.account_id}): decision #{link.sequence} "
                f"(id {link.decision_id}) is a broken link: {link.problem}."
                for link in report.broken
            ]
            raise CommandError(
                f"The audit chain is broken for {len(report.broken)} of "
                f"{report.accounts:,} accounts:\n" + "\n".join(lines)
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"The audit chain is intact: {report.decisions:,} decisions "
                f"across {report.accounts:,} accounts."
            )
        )

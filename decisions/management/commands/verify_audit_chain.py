from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from decisions import audit_trail


def _when(check: audit_trail.CheckpointCheck) -> str:
    assert check.checkpoint is not None
    return f"{check.checkpoint.taken_at:%Y-%m-%d %H:%M:%S} UTC"


def checkpoint_lines(check: audit_trail.CheckpointCheck, *, chain_intact: bool) -> list[str]:
    """What is wrong with the chain as the latest checkpoint saw it; [] when nothing."""
    name = check.path.name if check.path else ""
    if check.problem:
        return [f"The latest audit checkpoint, {name}, cannot be trusted: {check.problem}."]
    if not check.mismatches:
        return []
    lines = [
        f"The decisions do not match the signed audit checkpoint of {_when(check)} ({name}): "
        "decisions up to that checkpoint were changed or removed"
        + (", and the chain's hashes computed again after them." if chain_intact else ".")
    ]
    for mismatch in check.mismatches:
        others = mismatch.accounts - len(mismatch.references)
        named = ", ".join(mismatch.references) + (f" and {others:,} more" if others else "")
        lines.append(
            f"Accounts with ids {mismatch.first_id}–{mismatch.last_id} ({named}): their "
            "chain heads no longer hash as they did at the checkpoint."
        )
        lines += [
            f"Account {reference} (id {account_id}): decision #{sequence}, the head at the "
            "checkpoint, is missing."
            for reference, account_id, sequence in mismatch.missing
        ]
    return lines


class Command(BaseCommand):
    help = (
        "Walk every account's chain of limit decisions and name the first broken link: "
        "a changed, missing or re-pointed decision. Then compare the chain heads with "
        "the latest signed audit checkpoint (manage.py audit_checkpoint), which also "
        "catches a rewrite whose hashes were computed again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--account", help="check only this account reference")

    def handle(self, *args: Any, account: str | None, **options: Any) -> None:
        try:
            check = audit_trail.audit_checkpoint_check(account_reference=account)
        except ImproperlyConfigured as error:
            raise CommandError(str(error)) from None
        report = audit_trail.audit_chain_report(account_reference=account)
        problems = []
        if report.broken:
            lines = [
                f"Account {link.reference} (id {link.account_id}): decision #{link.sequence} "
                f"(id {link.decision_id}) is a broken link: {link.problem}."
                for link in report.broken
            ]
            problems.append(
                f"The audit chain is broken for {len(report.broken)} of "
                f"{report.accounts:,} accounts:\n" + "\n".join(lines)
            )
        problems += checkpoint_lines(check, chain_intact=not report.broken)
        if problems:
            raise CommandError("\n".join(problems))
        self.stdout.write(
            self.style.SUCCESS(
                f"The audit chain is intact: {report.decisions:,} decisions "
                f"across {report.accounts:,} accounts."
            )
        )
        if check.checkpoint is None:
            self.stdout.write(
                f"No audit checkpoint yet in {check.directory}: the chain was checked "
                "against its own hashes only."
            )
        else:
            self.stdout.write(
                self.style.SUCCESS(
                    f"It matches the signed audit checkpoint of {_when(check)} "
                    f"({check.accounts:,} accounts' chain heads)."
                )
            )

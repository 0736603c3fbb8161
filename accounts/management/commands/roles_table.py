"""Print the README's roles table, generated from the declared access matrix
(accounts/access.py): role → what it may do."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from accounts import access


def roles_table() -> str:
    lines = ["| role | may |", "|---|---|"]
    for role, duties in access.duties().items():
        lines.append(f"| {role} | {'; '.join(duties)} |")
    return "\n".join(lines)


class Command(BaseCommand):
    help = "Print the roles table of the README, generated from the access matrix."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(roles_table())

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import Account
from demo import services


class Command(BaseCommand):
    help = (
        "Load a deterministic demo portfolio (generated accounts plus the story accounts "
        "of the seeds) and one demo user per role."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--accounts", type=int, default=100_000, help="generated accounts")
        parser.add_argument(
            "--seed", type=int, default=2026, help="random seed (same seed, same book)"
        )
        parser.add_argument(
            "--if-empty", action="store_true", help="do nothing when accounts already exist"
        )
        parser.add_argument("--replace", action="store_true", help="delete existing accounts first")

    def handle(
        self, *args: Any, accounts: int, seed: int, if_empty: bool, replace: bool, **options: Any
    ) -> None:
        if accounts < 0:
            raise CommandError("--accounts must be zero or more.")
        if if_empty and replace:
            raise CommandError("--if-empty and --replace contradict each other; pass one.")
        services.demo_users_ensure()
        if if_empty and Account.objects.exists():
            self.stdout.write("Demo portfolio already loaded; demo users refreshed.")
            return
        try:
            result = services.demo_portfolio_load(accounts=accounts, seed=seed, replace=replace)
        except services.PortfolioNotEmpty as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            self.style.SUCCESS(
                f"Loaded {result.accounts:,} accounts (seed {seed}) in {result.seconds:.1f} s."
            )
        )

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import Account
from demo import history, services


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
        parser.add_argument(
            "--history-months",
            type=int,
            default=0,
            help="monthly portfolio snapshots to generate behind the book (make run: 12; "
            "0 for none); loaded once, when no snapshot exists",
        )

    def handle(
        self,
        *args: Any,
        accounts: int,
        seed: int,
        if_empty: bool,
        replace: bool,
        history_months: int,
        **options: Any,
    ) -> None:
        if accounts < 0:
            raise CommandError("--accounts must be zero or more.")
        if not 0 <= history_months <= 36:
            raise CommandError("--history-months must be between 0 and 36.")
        if if_empty and replace:
            raise CommandError("--if-empty and --replace contradict each other; pass one.")
        services.demo_users_ensure()
        if if_empty and Account.objects.exists():
            self.stdout.write("Demo portfolio already loaded; demo users refreshed.")
            # A book loaded before its history was (or whose history failed to load).
            if history_months:
                self._history(history_months, seed)
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
        if history_months:
            self._history(history_months, seed)

    def _history(self, months: int, seed: int) -> None:
        loaded = history.demo_history_load(months=months, seed=seed)
        if loaded.snapshots:
            started = time.perf_counter()
            derived, alerts = history.demo_history_derive()
            self.stdout.write(
                self.style.SUCCESS(
                    f"Generated {loaded.snapshots} monthly snapshots of {loaded.accounts:,} "
                    f"accounts in {loaded.seconds:.1f} s; outcomes of {derived} derived and "
                    f"{alerts} drift alerts raised in {time.perf_counter() - started:.1f} s."
                )
            )
        else:
            self.stdout.write("Portfolio history already present; left as it is.")

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from accounts.roles import ADMINISTRATOR
from demo.services import DEMO_PASSWORD, DEMO_USERS


class Command(BaseCommand):
    help = "Print the URL and the demo logins."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000/")

    def handle(self, *args: Any, url: str, **options: Any) -> None:
        lines = [
            "",
            "=" * 64,
            f"  Limit Desk is starting at {url}",
            f"  Demo logins (password for all: {DEMO_PASSWORD})",
        ]
        lines += [
            f"    {username:<6} {role}"
            + (" (users and integrations' API keys)" if role == ADMINISTRATOR else "")
            for username, _f, _l, role in DEMO_USERS
        ]
        # Where the customer notices go (config.stack starts a local receiver).
        webhook = os.environ.get("NOTICE_WEBHOOK_URL", "")
        receiver_dir = os.environ.get("NOTICE_RECEIVER_DIR", "")
        if webhook:
            lines.append(f"  Customer notices are sent to {webhook}")
        if receiver_dir:
            lines.append(f"    (the local receiver keeps them in {receiver_dir}/notices.jsonl)")
        # config.stack names the servers it started, and stops with the app.
        servers = [name for name in os.environ.get("LIMITDESK_EMBEDDED", "").split(",") if name]
        parts = ["the app", "the worker", "beat", *servers]
        stopped = f"{', '.join(parts[:-1])} and {parts[-1]}"
        lines += [f"  Ctrl-C stops {stopped}.", "=" * 64, ""]
        self.stdout.write("\n".join(lines))

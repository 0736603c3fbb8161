"""Create, list and revoke the integrations' API keys (administrators only).

manage.py api_keys create "help centre" --scope appeals:write --by admin
manage.py api_keys list
manage.py api_keys revoke "help centre" --by admin
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from api import services
from api.models import ApiKey


class Command(BaseCommand):
    help = "Create, list and revoke API keys of integrations."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["create", "list", "revoke"])
        parser.add_argument("name", nargs="?", default="")
        parser.add_argument("--scope", action="append", default=[], choices=ApiKey.Scope.values)
        parser.add_argument("--by", default="", help="the administrator's username")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "list":
            for key in ApiKey.objects.order_by("name"):
                state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "live"
                self.stdout.write(f"{key.name}\t{key.prefix}…\t{','.join(key.scopes)}\t{state}")
            return
        actor = get_user_model().objects.filter(username=options["by"]).first()
        if actor is None:
            raise CommandError("Name the administrator with --by USERNAME.")
        try:
            if options["action"] == "create":
                key, secret = services.api_key_create(
                    name=options["name"], scopes=options["scope"], actor=actor
                )
                self.stdout.write(f"Key for {key.name} ({', '.join(key.scopes)}), shown once:")
                self.stdout.write(secret)
            else:
                key = services.api_key_revoke(name=options["name"], actor=actor)
                self.stdout.write(f"Revoked the key of {key.name}.")
        except services.ApiKeyError as error:
            raise CommandError(str(error)) from None

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DeskConfig(AppConfig):
    """The pages that span apps: the overview, the account page, the navigation and
    the kill-switch banner (docs/architecture.md, "Apps")."""

    name = "desk"
    verbose_name = _("Desk")

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DemoConfig(AppConfig):
    """The demo portfolio and logins that `make run` loads (docs/architecture.md, "Apps")."""

    name = "demo"
    verbose_name = _("Demo data")

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RetentionConfig(AppConfig):
    name = "retention"
    verbose_name = _("Retention of records")

    def ready(self) -> None:
        from django.core import checks

        from retention.checks import retention_settings_check

        checks.register(retention_settings_check)

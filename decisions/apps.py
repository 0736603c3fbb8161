from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class DecisionsConfig(AppConfig):
    name = "decisions"
    verbose_name = _("Decisions")

    def ready(self) -> None:
        from config.grants import grant_after_migrate

        # Once per migrate or flush (the signal is sent for each app): the running
        # app's login gets its rights on every table the migrations made.
        post_migrate.connect(grant_after_migrate, sender=self, dispatch_uid="app_role_grant")

"""At most one portfolio run moves at a time, enforced by the database.

A run left moving beside a newer one (two schedulers once started both) is marked
failed first, with the reason, so the index can be built; a person may retry or
revert it from its page.
"""

from django.conf import settings
from django.db import migrations, models
from django.utils import timezone

MOVING = ["queued", "computing", "applying"]


def fail_all_but_the_newest_moving_run(apps, schema_editor):
    Run = apps.get_model("decisions", "RescoreRun")
    moving = Run.objects.filter(account__isnull=True, state__in=MOVING).exclude(trigger="signal")
    newest = moving.order_by("-created_at", "-pk").first()
    if newest is not None:
        moving.exclude(pk=newest.pk).update(
            state="failed",
            finished_at=timezone.now(),
            error="stopped on upgrade: another portfolio run was moving at the same time",
        )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0010_credit_score_messages"),
        ("decisions", "0012_reason_texts_that_hold"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="rescorerun",
            name="revert_requested_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(fail_all_but_the_newest_moving_run, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="rescorerun",
            constraint=models.UniqueConstraint(
                models.Value(1),
                condition=models.Q(("account__isnull", True), ("state__in", MOVING))
                & ~models.Q(trigger="signal"),
                name="one_moving_portfolio_run",
            ),
        ),
    ]

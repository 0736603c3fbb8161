"""When an appeal's outcome took effect, for the overturn rates (docs/architecture.md,
"Appeals as feedback"); appeals decided before are dated by their "decide" step."""

from django.db import migrations, models

BACKFILL = """
UPDATE appeals_appeal AS a SET decided_at = e.at
FROM (
    SELECT appeal_id, MAX(at) AS at FROM appeals_appealevent
    WHERE move = 'decide' GROUP BY appeal_id
) AS e
WHERE e.appeal_id = a.id AND a.outcome <> '' AND NOT a.outcome_pending
"""


class Migration(migrations.Migration):
    dependencies = [
        ("appeals", "0011_close_label_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="appeal",
            name="decided_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="decided"),
        ),
        migrations.RunSQL(BACKFILL, migrations.RunSQL.noop),
        migrations.AddIndex(
            model_name="appeal",
            index=models.Index(
                condition=models.Q(("decided_at__isnull", False)),
                fields=["decided_at"],
                name="appeal_decided",
            ),
        ),
    ]

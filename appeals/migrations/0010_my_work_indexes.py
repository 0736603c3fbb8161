"""My work (docs/architecture.md, "My work"): the outcomes waiting for a lead and the
ones a lead sent back are counted on every page's navigation, so each gets a partial
index of its own instead of a scan over every appeal or appeal event."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("appeals", "0009_handler_changes"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="appealevent",
            index=models.Index(
                condition=models.Q(("move", "outcome_rejected")),
                fields=["appeal", "at"],
                name="appeal_event_sent_back",
            ),
        ),
        migrations.AddIndex(
            model_name="appeal",
            index=models.Index(
                condition=models.Q(("outcome_pending", True)),
                fields=["updated_at"],
                name="appeal_outcome_pending",
            ),
        ),
    ]

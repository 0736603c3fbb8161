"""My work (docs/architecture.md, "My work"): the pending override requests, a
proposer's rejected ones and the runs held by the circuit breaker are counted on every
page's navigation, so each gets a partial index instead of a scan of every request or
run."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("decisions", "0015_override_review_note"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="overriderequest",
            index=models.Index(
                condition=models.Q(("state", "pending")),
                fields=["created_at"],
                name="override_pending",
            ),
        ),
        migrations.AddIndex(
            model_name="overriderequest",
            index=models.Index(
                condition=models.Q(("state", "rejected")),
                fields=["requested_by", "decided_at"],
                name="override_rejected_by_proposer",
            ),
        ),
        migrations.AddIndex(
            model_name="rescorerun",
            index=models.Index(
                condition=models.Q(("state", "waiting")),
                fields=["created_at"],
                name="run_held",
            ),
        ),
    ]

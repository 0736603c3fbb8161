"""Indexes on the API call log's and the signal events' times, so retention takes the
oldest rows batch by batch without reading the table (docs/architecture.md, "Retention")."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0015_notice_permissions"),
        ("api", "0002_one_live_key_per_integration"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="apicall",
            index=models.Index(fields=["at"], name="api_call_at"),
        ),
        migrations.AddIndex(
            model_name="signalevent",
            index=models.Index(fields=["received_at"], name="signal_event_received"),
        ),
    ]

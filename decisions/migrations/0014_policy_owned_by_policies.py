"""The Policy model now belongs to the policies app (policies/0004); only Django's
state changes here, the table decisions_policy stays as it is."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("decisions", "0013_one_moving_portfolio_run"),
        ("policies", "0004_policy_owned_by_policies"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveConstraint(
                    model_name="policy",
                    name="one_active_policy",
                ),
                migrations.RemoveConstraint(
                    model_name="policy",
                    name="one_policy_in_rollout",
                ),
                migrations.RemoveConstraint(
                    model_name="policy",
                    name="policy_rollout_share_percent",
                ),
                migrations.AlterField(
                    model_name="rescorerun",
                    name="policy",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="runs",
                        to="policies.policy",
                    ),
                ),
                migrations.AlterField(
                    model_name="limitdecision",
                    name="policy",
                    field=models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="policies.policy",
                    ),
                ),
                migrations.AlterField(
                    model_name="rescorerun",
                    name="candidate",
                    field=models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="candidate_runs",
                        to="policies.policy",
                    ),
                ),
                migrations.DeleteModel(
                    name="Policy",
                ),
            ],
            database_operations=[],
        ),
    ]

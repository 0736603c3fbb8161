"""Policy versions move from the decisions app to the policies app, which writes them.

Only Django's state changes: the table keeps its name (decisions_policy) and its
constraints, and the content type follows the model."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


def _move_content_type(apps, schema_editor, source, target):
    content_type = apps.get_model("contenttypes", "ContentType")
    content_type.objects.filter(app_label=source, model="policy").update(app_label=target)


def content_type_to_policies(apps, schema_editor):
    _move_content_type(apps, schema_editor, "decisions", "policies")


def content_type_to_decisions(apps, schema_editor):
    _move_content_type(apps, schema_editor, "policies", "decisions")


class Migration(migrations.Migration):
    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("decisions", "0013_one_moving_portfolio_run"),
        ("policies", "0003_run_failures"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Policy",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        (
                            "version",
                            models.PositiveIntegerField(unique=True, verbose_name="version"),
                        ),
                        (
                            "state",
                            models.CharField(
                                choices=[
                                    ("draft", "draft"),
                                    ("pending", "pending approval"),
                                    ("active", "active"),
                                    ("rollout", "in staged rollout"),
                                    ("retired", "retired"),
                                ],
                                max_length=8,
                                verbose_name="state",
                            ),
                        ),
                        ("rules", models.JSONField(verbose_name="thresholds")),
                        ("rationale", models.TextField(verbose_name="rationale")),
                        (
                            "created_at",
                            models.DateTimeField(
                                default=django.utils.timezone.now, verbose_name="created"
                            ),
                        ),
                        (
                            "activated_at",
                            models.DateTimeField(blank=True, null=True, verbose_name="activated"),
                        ),
                        (
                            "rollout_share",
                            models.PositiveSmallIntegerField(
                                default=0, verbose_name="rollout share (%)"
                            ),
                        ),
                        (
                            "submitted_at",
                            models.DateTimeField(blank=True, null=True, verbose_name="submitted"),
                        ),
                        (
                            "reviewed_at",
                            models.DateTimeField(blank=True, null=True, verbose_name="reviewed"),
                        ),
                        (
                            "review_comment",
                            models.TextField(blank=True, verbose_name="reviewer's comment"),
                        ),
                        (
                            "retired_at",
                            models.DateTimeField(blank=True, null=True, verbose_name="retired"),
                        ),
                        (
                            "approver",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "author",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "verbose_name_plural": "policies",
                        "db_table": "decisions_policy",
                        "ordering": ["-version"],
                    },
                ),
                migrations.AlterField(
                    model_name="policyevent",
                    name="policy",
                    field=models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="events",
                        to="policies.policy",
                    ),
                ),
                migrations.AlterField(
                    model_name="simulation",
                    name="base",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="policies.policy",
                    ),
                ),
                migrations.AlterField(
                    model_name="simulation",
                    name="policy",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="simulations",
                        to="policies.policy",
                    ),
                ),
                migrations.AddConstraint(
                    model_name="policy",
                    constraint=models.UniqueConstraint(
                        condition=models.Q(("state", "active")),
                        fields=("state",),
                        name="one_active_policy",
                    ),
                ),
                migrations.AddConstraint(
                    model_name="policy",
                    constraint=models.UniqueConstraint(
                        condition=models.Q(("state", "rollout")),
                        fields=("state",),
                        name="one_policy_in_rollout",
                    ),
                ),
                migrations.AddConstraint(
                    model_name="policy",
                    constraint=models.CheckConstraint(
                        condition=models.Q(("rollout_share__lte", 100)),
                        name="policy_rollout_share_percent",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunPython(content_type_to_policies, content_type_to_decisions),
            ],
        ),
    ]

"""The five roles (docs/architecture.md, "Roles") as groups with permissions.

The mapping is frozen here, as a migration must be; later changes to a role
come as new migrations.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

ROLES = {
    "Risk analyst": [
        "open_overview",
        "open_accounts",
        "start_rescore",
        "propose_override",
        "open_runs",
        "open_policy",
    ],
    "Appeal handler": [
        "open_overview",
        "open_accounts",
        "reveal_personal_data",
        "open_appeals",
        "work_appeals",
    ],
    "Appeal lead": [
        "open_overview",
        "open_accounts",
        "reveal_personal_data",
        "open_appeals",
        "work_appeals",
        "lead_appeals",
        "approve_override",
        "open_policy",
    ],
    "Policy admin": [
        "open_overview",
        "open_accounts",
        "open_runs",
        "open_policy",
        "edit_policy",
        "approve_policy",
    ],
    "Auditor": [
        "open_overview",
        "open_accounts",
        "reveal_personal_data",
        "open_runs",
        "open_appeals",
        "open_policy",
        "open_audit",
        "export_audit",
    ],
}


def create_roles(apps, schema_editor):
    # Permissions are normally created after all migrations; make them now.
    app_config = apps.get_app_config("accounts")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codenames in ROLES.items():
        group, _ = Group.objects.get_or_create(name=role)
        permissions = Permission.objects.filter(
            content_type__app_label="accounts", codename__in=codenames
        )
        missing = set(codenames) - set(permissions.values_list("codename", flat=True))
        if missing:
            raise RuntimeError(f"permissions missing for {role}: {sorted(missing)}")
        group.permissions.set(permissions)


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]

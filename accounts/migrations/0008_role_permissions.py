"""The roles after access review (docs/architecture.md, "Roles"): notes, appeal intake
and the worker check become permissions of their own (an auditor holds none of
them), and the administrator becomes a role, "Administrator", instead of a
superuser that passes every check.

Frozen here as a migration must be; accounts/roles.py ROLE_PERMISSIONS says the
same (a test holds them equal).
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

ROLES = {
    "Risk analyst": [
        "accounts.open_overview",
        "accounts.open_accounts",
        "accounts.write_notes",
        "accounts.start_rescore",
        "accounts.propose_override",
        "accounts.open_runs",
        "accounts.open_policy",
        "accounts.check_worker",
    ],
    "Appeal handler": [
        "accounts.open_overview",
        "accounts.open_accounts",
        "accounts.write_notes",
        "accounts.reveal_personal_data",
        "accounts.open_appeals",
        "accounts.work_appeals",
        "accounts.record_appeals",
    ],
    "Appeal lead": [
        "accounts.open_overview",
        "accounts.open_accounts",
        "accounts.write_notes",
        "accounts.reveal_personal_data",
        "accounts.open_appeals",
        "accounts.work_appeals",
        "accounts.record_appeals",
        "accounts.lead_appeals",
        "accounts.approve_override",
        "accounts.open_policy",
    ],
    "Policy admin": [
        "accounts.open_overview",
        "accounts.open_accounts",
        "accounts.open_runs",
        "accounts.open_policy",
        "accounts.edit_policy",
        "accounts.approve_policy",
        "accounts.check_worker",
    ],
    "Auditor": [
        "accounts.open_overview",
        "accounts.open_accounts",
        "accounts.reveal_personal_data",
        "accounts.open_runs",
        "accounts.open_appeals",
        "accounts.open_policy",
        "accounts.open_audit",
        "accounts.export_audit",
        "accounts.open_integrations",
    ],
    "Administrator": [
        "accounts.open_overview",
        "accounts.check_worker",
        "accounts.open_integrations",
        "accounts.manage_integrations",
        "auth.view_user",
        "auth.add_user",
        "auth.change_user",
        "auth.view_group",
        "axes.view_accessattempt",
        "axes.delete_accessattempt",
    ],
}
APPS = ("accounts", "auth", "axes")


def set_roles(apps, schema_editor, roles=ROLES):
    # Permissions are normally created after all migrations; make them now.
    for label in APPS:
        app_config = apps.get_app_config(label)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, names in roles.items():
        group, _ = Group.objects.get_or_create(name=role)
        found = []
        for name in names:
            app_label, codename = name.split(".")
            permission = Permission.objects.filter(
                content_type__app_label=app_label, codename=codename
            ).first()
            if permission is None:
                raise RuntimeError(f"permission missing for {role}: {name}")
            found.append(permission)
        group.permissions.set(found)


def forward(apps, schema_editor):
    set_roles(apps, schema_editor)


def backward(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name="Administrator").delete()
    previous = __import__("importlib").import_module("accounts.migrations.0002_roles")
    previous.create_roles(apps, schema_editor)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0007_not_active_index"),
        ("axes", "0010_accessattemptexpiration"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="access",
            options={
                "default_permissions": (),
                "managed": False,
                "permissions": [
                    ("open_overview", "Open the overview"),
                    ("open_accounts", "Search and review accounts"),
                    ("reveal_personal_data", "See unmasked personal data (each reveal is logged)"),
                    ("start_rescore", "Start a re-score"),
                    ("propose_override", "Propose a manual limit override"),
                    ("approve_override", "Approve another person's override"),
                    ("open_runs", "Open re-scoring runs"),
                    ("open_appeals", "Open the appeal queue"),
                    ("work_appeals", "Claim and decide appeals"),
                    ("lead_appeals", "Reassign appeals, approve large restorations, SLA reports"),
                    ("open_policy", "Read policy versions"),
                    ("edit_policy", "Draft, simulate and propose policy versions"),
                    ("approve_policy", "Approve another admin's policy version"),
                    ("open_audit", "Open the audit trail"),
                    ("export_audit", "Export decisions and verify the audit chain"),
                    ("write_notes", "Add notes to accounts"),
                    ("record_appeals", "Record an appeal for a caller"),
                    ("check_worker", "Ask the worker for a heartbeat"),
                    ("open_integrations", "Read the integrations' API keys and call log"),
                    ("manage_integrations", "Create and revoke the integrations' API keys"),
                ],
            },
        ),
        migrations.RunPython(forward, backward),
    ]

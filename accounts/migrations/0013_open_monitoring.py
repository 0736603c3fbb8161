"""The Monitoring page (stability, performance and fairness of the scorecard) gets a
permission of its own, held by risk analysts, appeal leads, policy admins and
auditors; the administrator holds no customer data and does not get it.

Frozen here as a migration must be; accounts/roles.py ROLE_PERMISSIONS says the
same (a test holds them equal).
"""

import importlib

from django.db import migrations

_previous = importlib.import_module("accounts.migrations.0008_role_permissions")

GIVEN_TO = ("Risk analyst", "Appeal lead", "Policy admin", "Auditor")
ROLES = {
    role: [*names, "accounts.open_monitoring"] if role in GIVEN_TO else list(names)
    for role, names in _previous.ROLES.items()
}


def forward(apps, schema_editor):
    _previous.set_roles(apps, schema_editor, roles=ROLES)


def backward(apps, schema_editor):
    _previous.set_roles(apps, schema_editor, roles=_previous.ROLES)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0012_account_restored_at"),
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
                    (
                        "open_monitoring",
                        "Open the Monitoring page (stability, performance, fairness)",
                    ),
                ],
            },
        ),
        migrations.RunPython(forward, backward),
    ]

"""Customer notices get two permissions: opening the notice pages (timeliness and
dead letters) — risk analysts, appeal leads, policy admins, auditors — and sending
a failed notice again — risk analysts and appeal leads. The administrator holds no
customer data and gets neither.

Frozen here as a migration must be; accounts/roles.py ROLE_PERMISSIONS says the
same (a test holds them equal).
"""

import importlib

from django.db import migrations

_previous = importlib.import_module("accounts.migrations.0013_open_monitoring")
_base = importlib.import_module("accounts.migrations.0008_role_permissions")

OPEN_TO = ("Risk analyst", "Appeal lead", "Policy admin", "Auditor")
RETRY_BY = ("Risk analyst", "Appeal lead")
ROLES = {
    role: [
        *names,
        *(["accounts.open_notices"] if role in OPEN_TO else []),
        *(["accounts.retry_notices"] if role in RETRY_BY else []),
    ]
    for role, names in _previous.ROLES.items()
}


def forward(apps, schema_editor):
    _base.set_roles(apps, schema_editor, roles=ROLES)


def backward(apps, schema_editor):
    _base.set_roles(apps, schema_editor, roles=_previous.ROLES)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0014_account_language"),
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
                    ("open_notices", "Open the customer notices: timeliness and dead letters"),
                    ("retry_notices", "Send a failed customer notice again"),
                ],
            },
        ),
        migrations.RunPython(forward, backward),
    ]

"""The six roles (docs/architecture.md, "Roles"), as groups of permissions.

The groups are created by the data migrations accounts/0002_roles and
accounts/0008_role_permissions; `ROLE_PERMISSIONS` is what the latest of them
leaves (a test holds them equal). Who may use which URL: accounts/access.py.
"""

from django.utils.translation import gettext_lazy as _

RISK_ANALYST = "Risk analyst"
APPEAL_HANDLER = "Appeal handler"
APPEAL_LEAD = "Appeal lead"
POLICY_ADMIN = "Policy admin"
AUDITOR = "Auditor"
ADMINISTRATOR = "Administrator"

ROLE_LABELS = {
    RISK_ANALYST: _("Risk analyst"),
    APPEAL_HANDLER: _("Appeal handler"),
    APPEAL_LEAD: _("Appeal lead"),
    POLICY_ADMIN: _("Policy admin"),
    AUDITOR: _("Auditor"),
    ADMINISTRATOR: _("Administrator"),
}

# Role → "app_label.codename" of its permissions.
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    RISK_ANALYST: frozenset({
        "accounts.open_overview", "accounts.open_accounts", "accounts.write_notes",
        "accounts.start_rescore", "accounts.propose_override", "accounts.open_runs",
        "accounts.open_policy", "accounts.check_worker",
    }),
    APPEAL_HANDLER: frozenset({
        "accounts.open_overview", "accounts.open_accounts", "accounts.write_notes",
        "accounts.reveal_personal_data", "accounts.open_appeals", "accounts.work_appeals",
        "accounts.record_appeals",
    }),
    APPEAL_LEAD: frozenset({
        "accounts.open_overview", "accounts.open_accounts", "accounts.write_notes",
        "accounts.reveal_personal_data", "accounts.open_appeals", "accounts.work_appeals",
        "accounts.record_appeals", "accounts.lead_appeals", "accounts.approve_override",
        "accounts.open_policy",
    }),
    POLICY_ADMIN: frozenset({
        "accounts.open_overview", "accounts.open_accounts", "accounts.open_runs",
        "accounts.open_policy", "accounts.edit_policy", "accounts.approve_policy",
        "accounts.check_worker",
    }),
    AUDITOR: frozenset({
        "accounts.open_overview", "accounts.open_accounts", "accounts.reveal_personal_data",
        "accounts.open_runs", "accounts.open_appeals", "accounts.open_policy",
        "accounts.open_audit", "accounts.export_audit", "accounts.open_integrations",
    }),
    # Users and integrations; no customer data. Django's admin (users, roles, and
    # unlocking a locked-out login) needs `is_staff` as well, which the role gives.
    ADMINISTRATOR: frozenset({
        "accounts.open_overview", "accounts.check_worker", "accounts.open_integrations",
        "accounts.manage_integrations", "auth.view_user", "auth.add_user",
        "auth.change_user", "auth.view_group", "axes.view_accessattempt",
        "axes.delete_accessattempt",
    }),
}  # fmt: skip
STAFF_ROLES = frozenset({ADMINISTRATOR})  # members may sign in to Django's admin

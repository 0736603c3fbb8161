"""The six roles (docs/architecture.md, "Roles"), as groups of permissions.

The groups are created by the data migrations accounts/0002_roles and
accounts/0008_role_permissions; `ROLE_PERMISSIONS` is what the latest of them
leaves (a test holds them equal). Who may use which URL: accounts/access.py.
"""

from django.utils.translation import gettext_lazy as _

from accounts import permissions as perms

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
        perms.OPEN_OVERVIEW, perms.OPEN_ACCOUNTS, perms.WRITE_NOTES,
        perms.START_RESCORE, perms.PROPOSE_OVERRIDE, perms.OPEN_RUNS,
        perms.OPEN_POLICY, perms.CHECK_WORKER, perms.OPEN_MONITORING,
        perms.OPEN_NOTICES, perms.RETRY_NOTICES,
    }),
    APPEAL_HANDLER: frozenset({
        perms.OPEN_OVERVIEW, perms.OPEN_ACCOUNTS, perms.WRITE_NOTES,
        perms.REVEAL_PERSONAL_DATA, perms.OPEN_APPEALS, perms.WORK_APPEALS,
        perms.RECORD_APPEALS,
    }),
    APPEAL_LEAD: frozenset({
        perms.OPEN_OVERVIEW, perms.OPEN_ACCOUNTS, perms.WRITE_NOTES,
        perms.REVEAL_PERSONAL_DATA, perms.OPEN_APPEALS, perms.WORK_APPEALS,
        perms.RECORD_APPEALS, perms.LEAD_APPEALS, perms.APPROVE_OVERRIDE,
        perms.OPEN_POLICY, perms.OPEN_MONITORING, perms.OPEN_NOTICES, perms.RETRY_NOTICES,
    }),
    POLICY_ADMIN: frozenset({
        perms.OPEN_OVERVIEW, perms.OPEN_ACCOUNTS, perms.OPEN_RUNS,
        perms.OPEN_POLICY, perms.EDIT_POLICY, perms.APPROVE_POLICY,
        perms.CHECK_WORKER, perms.OPEN_MONITORING, perms.OPEN_NOTICES,
    }),
    AUDITOR: frozenset({
        perms.OPEN_OVERVIEW, perms.OPEN_ACCOUNTS, perms.REVEAL_PERSONAL_DATA,
        perms.OPEN_RUNS, perms.OPEN_APPEALS, perms.OPEN_POLICY,
        perms.OPEN_AUDIT, perms.EXPORT_AUDIT, perms.OPEN_INTEGRATIONS,
        perms.OPEN_MONITORING, perms.OPEN_NOTICES,
    }),
    # Users and integrations; no customer data. Django's admin (users, roles, and
    # unlocking a locked-out login) needs `is_staff` as well, which the role gives.
    ADMINISTRATOR: frozenset({
        perms.OPEN_OVERVIEW, perms.CHECK_WORKER, perms.OPEN_INTEGRATIONS,
        perms.MANAGE_INTEGRATIONS, perms.VIEW_USER, perms.ADD_USER,
        perms.CHANGE_USER, perms.VIEW_GROUP, perms.AXES_VIEW_ACCESSATTEMPT,
        perms.AXES_DELETE_ACCESSATTEMPT,
    }),
}  # fmt: skip
STAFF_ROLES = frozenset({ADMINISTRATOR})  # members may sign in to Django's admin

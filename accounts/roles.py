"""The five roles (docs/architecture.md, "Roles"), as groups of permissions.

The groups are created by the data migration accounts/0002_roles; this module
names them for code (demo users, tests).
"""

from django.utils.translation import gettext_lazy as _

RISK_ANALYST = "Risk analyst"
APPEAL_HANDLER = "Appeal handler"
APPEAL_LEAD = "Appeal lead"
POLICY_ADMIN = "Policy admin"
AUDITOR = "Auditor"

ROLE_LABELS = {
    RISK_ANALYST: _("Risk analyst"),
    APPEAL_HANDLER: _("Appeal handler"),
    APPEAL_LEAD: _("Appeal lead"),
    POLICY_ADMIN: _("Policy admin"),
    AUDITOR: _("Auditor"),
}

"""Permission names, "app_label.codename", as `may()` and `@requires` take them.

The Limit Desk permissions are declared on accounts.models.Access; the roles that
hold them are in accounts/roles.py; who may open which URL, accounts/access.py
(docs/architecture.md, "Roles").
"""

# Limit Desk's own (accounts.models.Access.Meta.permissions)
OPEN_OVERVIEW = "accounts.open_overview"
OPEN_ACCOUNTS = "accounts.open_accounts"
REVEAL_PERSONAL_DATA = "accounts.reveal_personal_data"
START_RESCORE = "accounts.start_rescore"
PROPOSE_OVERRIDE = "accounts.propose_override"
APPROVE_OVERRIDE = "accounts.approve_override"
OPEN_RUNS = "accounts.open_runs"
OPEN_APPEALS = "accounts.open_appeals"
WORK_APPEALS = "accounts.work_appeals"
LEAD_APPEALS = "accounts.lead_appeals"
OPEN_POLICY = "accounts.open_policy"
EDIT_POLICY = "accounts.edit_policy"
APPROVE_POLICY = "accounts.approve_policy"
OPEN_AUDIT = "accounts.open_audit"
EXPORT_AUDIT = "accounts.export_audit"
WRITE_NOTES = "accounts.write_notes"
RECORD_APPEALS = "accounts.record_appeals"
CHECK_WORKER = "accounts.check_worker"
OPEN_INTEGRATIONS = "accounts.open_integrations"
MANAGE_INTEGRATIONS = "accounts.manage_integrations"
OPEN_MONITORING = "accounts.open_monitoring"
OPEN_NOTICES = "accounts.open_notices"
RETRY_NOTICES = "accounts.retry_notices"

# Django's users and groups, and django-axes' lockouts (the Administrator's)
VIEW_USER = "auth.view_user"
ADD_USER = "auth.add_user"
CHANGE_USER = "auth.change_user"
VIEW_GROUP = "auth.view_group"
AXES_VIEW_ACCESSATTEMPT = "axes.view_accessattempt"
AXES_DELETE_ACCESSATTEMPT = "axes.delete_accessattempt"

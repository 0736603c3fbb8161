from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from accounts.access import RolePerms, may
from accounts.roles import ROLE_LABELS
from config import text

# The length limits of free text (config/text.py), as `maxlength` in the pages' inputs.
TEXT_MAX = {"reason": text.REASON_MAX, "justification": text.JUSTIFICATION_MAX}

# (url name, label, permission that opens it)
NAVIGATION = [
    ("overview", _("Overview"), "accounts.open_overview"),
    ("accounts:list", _("Accounts"), "accounts.open_accounts"),
    ("decisions:runs", _("Runs"), "accounts.open_runs"),
    ("appeals:queue", _("Appeals"), "accounts.open_appeals"),
    ("decisions:policy", _("Policy"), "accounts.open_policy"),
    ("decisions:audit", _("Audit"), "accounts.open_audit"),
    ("integrations:keys", _("Integrations"), "accounts.open_integrations"),
    ("admin:auth_user_changelist", _("Users"), "auth.view_user"),
]


def navigation(request: HttpRequest) -> dict[str, Any]:
    """The navigation entries this user's role may open, the user's roles, and `perms`."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": [], "user_roles": [], "text_max": TEXT_MAX, "perms": RolePerms(user)}
    items = []
    for url_name, label, permission in NAVIGATION:
        if may(user, permission):
            url = reverse(url_name)
            items.append(
                {
                    "url": url,
                    "label": label,
                    "current": request.path.startswith(url) if url != "/" else request.path == "/",
                }
            )
    roles = [ROLE_LABELS.get(name, name) for name in user.groups.values_list("name", flat=True)]
    from policies.selectors import kill_switch_banner

    return {
        "nav_items": items,
        "user_roles": roles,
        "kill_switch": kill_switch_banner(),
        "text_max": TEXT_MAX,
        # Replaces Django's `perms`: answered by the roles only (accounts/access.py).
        "perms": RolePerms(user),
    }

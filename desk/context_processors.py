"""What every page's frame shows: the navigation for the person's roles (with the
count of what waits on My work), the kill-switch banner and the drift-alert banner."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from accounts import permissions as perms
from accounts.access import RolePerms, may
from accounts.roles import ROLE_LABELS
from config import text
from desk.my_work import POLL_SECONDS, NavCount
from history.selectors import drift_banner
from policies.selectors import kill_switch_banner

# The length limits of free text (config/text.py), as `maxlength` in the pages' inputs.
TEXT_MAX = {"reason": text.REASON_MAX, "justification": text.JUSTIFICATION_MAX}

# (url name, label, permission that opens it)
NAVIGATION = [
    ("overview", _("Overview"), perms.OPEN_OVERVIEW),
    ("accounts:list", _("Accounts"), perms.OPEN_ACCOUNTS),
    ("decisions:runs", _("Runs"), perms.OPEN_RUNS),
    ("appeals:queue", _("Appeals"), perms.OPEN_APPEALS),
    ("policies:index", _("Policy"), perms.OPEN_POLICY),
    ("history:monitoring", _("Monitoring"), perms.OPEN_MONITORING),
    ("notices:timeliness", _("Notices"), perms.OPEN_NOTICES),
    ("decisions:audit", _("Audit"), perms.OPEN_AUDIT),
    ("integrations:keys", _("Integrations"), perms.OPEN_INTEGRATIONS),
    ("admin:auth_user_changelist", _("Users"), perms.VIEW_USER),
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
    return {
        "nav_items": items,
        "user_roles": roles,
        "kill_switch": kill_switch_banner(),
        # Unacknowledged drift alerts, for those who can open Monitoring (one cached count).
        "drift_alerts": drift_banner() if may(user, perms.OPEN_MONITORING) else 0,
        # Read only when the template shows it: the nav's My work entry and its count.
        "my_work_nav": NavCount(user),
        "my_work_current": request.path == reverse("my_work"),
        "my_work_poll": getattr(settings, "MY_WORK_POLL_SECONDS", POLL_SECONDS),
        "text_max": TEXT_MAX,
        # Replaces Django's `perms`: answered by the roles only (accounts/access.py).
        "perms": RolePerms(user),
    }

"""Who may do what: the one permission check, and the declared role-by-URL matrix.

A role is a group of permissions (accounts/roles.py, migration accounts/0008). Every
view, service and template asks `may(user, permission)`, never `User.has_perm`:
Django lets an active superuser pass every `has_perm`, and here the administrator
is a role like the others and a break-glass superuser gets only its roles'
permissions, so four-eyes holds for everyone (docs/architecture.md, "Roles").

`ACCESS` declares, for every URL name and method, which roles may use it. The
suite (tests/security/test_access_matrix.py) walks the URL configuration, fails
on a URL with no entry, and requests every URL, role and method; the README's
roles table is generated from it (`python manage.py roles_table`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied
from django.db.models import Q

from accounts import permissions as perms
from accounts import roles

# --------------------------------------------------------------------------
# The check


def permissions_of(user: Any) -> frozenset[str]:
    """ "app_label.codename" of every permission the user's roles (and the user
    directly) hold; cached on the user object for the request. No superuser rule."""
    if user is None or not user.is_authenticated or not user.is_active:
        return frozenset()
    cached: frozenset[str] | None = getattr(user, "_role_permissions", None)
    if cached is None:
        rows = (
            Permission.objects.filter(Q(group__user=user) | Q(user=user))
            .order_by()
            .values_list("content_type__app_label", "codename")
            .distinct()
        )
        cached = frozenset(f"{app}.{codename}" for app, codename in rows)
        user._role_permissions = cached
    return cached


def may(user: Any, permission: str) -> bool:
    """Whether the user's roles grant `permission` (perms.OPEN_ACCOUNTS)."""
    return permission in permissions_of(user)


def requires[View: Callable[..., Any]](*permissions: str) -> Callable[[View], View]:
    """A view for signed-in users whose roles grant every one of `permissions`;
    403 (the page "Your role cannot open this page") for the others."""

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapped(request: Any, *args: Any, **kwargs: Any) -> Any:
            if not all(may(request.user, permission) for permission in permissions):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return login_required(wrapped)  # type: ignore[return-value]

    return decorator


def staff_only[View: Callable[..., Any]](view: View) -> View:
    """A view for signed-in users holding any role (the API reference, for example)."""

    @wraps(view)
    def wrapped(request: Any, *args: Any, **kwargs: Any) -> Any:
        if not permissions_of(request.user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return login_required(wrapped)  # type: ignore[return-value]


class RolePerms:
    """`perms` in templates (`perms.accounts.edit_policy`, `"accounts.x" in perms`),
    answered by `may`: a superuser sees the buttons of its roles only."""

    def __init__(self, user: Any, app_label: str | None = None) -> None:
        self.user, self.app_label = user, app_label

    def __getitem__(self, name: str) -> Any:
        if self.app_label is None:
            return RolePerms(self.user, name)
        return may(self.user, f"{self.app_label}.{name}")

    def __contains__(self, permission: str) -> bool:
        if "." not in permission:
            return any(p.startswith(f"{permission}.") for p in permissions_of(self.user))
        return may(self.user, permission)

    def __bool__(self) -> bool:
        return bool(permissions_of(self.user))

    def __iter__(self) -> Any:
        raise TypeError("RolePerms is not iterable.")


# --------------------------------------------------------------------------
# The declared matrix

ANONYMOUS = "anonymous"
NO_ROLE = "signed in, no role"
ALL_ROLES = frozenset(roles.ROLE_LABELS)
A, H, L, P, U, D = (
    roles.RISK_ANALYST, roles.APPEAL_HANDLER, roles.APPEAL_LEAD,
    roles.POLICY_ADMIN, roles.AUDITOR, roles.ADMINISTRATOR,
)  # fmt: skip
EVERYONE = ALL_ROLES | {ANONYMOUS, NO_ROLE}
STAFF = ALL_ROLES
NOBODY: frozenset[str] = frozenset()

# Who logs calls, messages and letters with a customer: the staff who work with
# customers (analysts, appeal handlers, leads), the holders of the notes permission.
# An auditor reads the log; policy admins and administrators have no customer work.
LOG_CONTACTS = perms.WRITE_NOTES


@dataclass(frozen=True)
class Rule:
    does: str  # what the request does, in the README's words
    roles: frozenset[str]


def _rule(does: str, *who: str | frozenset[str]) -> Rule:
    members: set[str] = set()
    for item in who:
        members |= {item} if isinstance(item, str) else set(item)
    return Rule(does, frozenset(members))


# URL name → method → who may. A method not listed is refused to everyone (405 or
# 403; 404 where the entry lists no method at all). "api:*" operations take an
# integration's API key, never a session; "admin:*" is Django's admin, where the
# administrator manages users.
ACCESS: dict[str, dict[str, Rule]] = {
    "login": {"GET": _rule("sign in", EVERYONE), "POST": _rule("sign in", EVERYONE)},
    "logout": {"POST": _rule("sign out", EVERYONE)},
    "set_language": {
        "GET": _rule("choose the language", EVERYONE),  # a GET only redirects back
        "POST": _rule("choose the language", EVERYONE),
    },
    # For load balancers: no sign-in, nothing personal (desk/probes.py).
    "healthz": {
        "GET": _rule("ask whether the process is up", EVERYONE),
        "HEAD": _rule("ask whether the process is up", EVERYONE),
    },
    "readyz": {
        "GET": _rule("ask whether the instance can serve", EVERYONE),
        "HEAD": _rule("ask whether the instance can serve", EVERYONE),
    },
    # For Prometheus: not by role but by where it asks from or its token (desk/metrics.py).
    "metrics": {
        "GET": _rule("read the metrics (from this machine, or with the metrics token)", EVERYONE),
        "HEAD": _rule("read the metrics (from this machine, or with the metrics token)", EVERYONE),
    },
    "overview": {"GET": _rule("open the overview", STAFF)},
    # What waits for the person (desk.my_work): for the roles that can have work; the
    # auditor changes nothing and the administrator holds no customer data.
    "my_work": {"GET": _rule("see what waits for them (My work)", A, H, L, P)},
    "my_work_count": {"GET": _rule("see what waits for them (My work)", A, H, L, P)},
    "worker_status": {"GET": _rule("see the worker's status", STAFF)},
    "worker_check": {"POST": _rule("ask the worker for a heartbeat", A, P, D)},
    # Saved filters of the list pages (each page's own permission is checked too)
    "saved_filter_save": {
        "POST": _rule("keep their own saved filters of the lists", A, H, L, P, U)
    },
    "saved_filter_delete": {
        "POST": _rule("keep their own saved filters of the lists", A, H, L, P, U)
    },
    # Accounts
    "accounts:list": {"GET": _rule("search accounts", A, H, L, P, U)},
    "accounts:export": {
        "GET": _rule("export the account list as CSV (masked, logged)", A, H, L, P, U)
    },
    "accounts:detail": {"GET": _rule("open an account", A, H, L, P, U)},
    "accounts:timeline": {"GET": _rule("open an account", A, H, L, P, U)},
    "accounts:rescore_status": {"GET": _rule("open an account", A, H, L, P, U)},
    "decisions:decision": {"GET": _rule("open a decision and its notices", A, H, L, P, U)},
    "accounts:reveal": {"POST": _rule("reveal personal data (logged)", H, L, U)},
    "accounts:note": {"POST": _rule("add a note to an account", A, H, L)},
    "accounts:contact": {"POST": _rule("log a call, message or letter with the customer", A, H, L)},
    "accounts:override": {"POST": _rule("propose a limit override", A)},
    "accounts:freeze": {"POST": _rule("freeze or unfreeze a line", A)},
    "accounts:rescore": {"POST": _rule("re-score an account", A)},
    "accounts:override_decide": {"POST": _rule("approve or reject another person's override", L)},
    # Runs
    "decisions:runs": {"GET": _rule("open re-scoring runs", A, P, U)},
    "decisions:run": {"GET": _rule("open re-scoring runs", A, P, U)},
    "decisions:run_progress": {"GET": _rule("open re-scoring runs", A, P, U)},
    "decisions:run_start": {
        "GET": _rule("start a portfolio run", A),
        "POST": _rule("start a portfolio run", A),
    },
    "decisions:run_decide": {"POST": _rule("approve or discard a held run (not one's own)", A)},
    "decisions:run_revert": {"POST": _rule("revert a run", A)},
    "decisions:run_retry": {"POST": _rule("retry a failed run", A)},
    # Appeals
    "appeals:queue": {"GET": _rule("open the appeal queue", H, L, U)},
    "appeals:detail": {"GET": _rule("open an appeal", H, L, U)},
    "appeals:evidence_file": {"GET": _rule("open an appeal's evidence", H, L, U)},
    "appeals:intake": {"POST": _rule("record a caller's appeal", H, L)},
    # A request for an explanation or a human review is an appeal of its own category
    # (docs/architecture.md, "Human review on request").
    "appeals:review_request": {"POST": _rule("record a caller's appeal", H, L)},
    "appeals:claim": {"POST": _rule("claim the next appeal", H, L)},
    "appeals:move": {"POST": _rule("work an appeal assigned to them", H, L)},
    "appeals:decide": {"POST": _rule("decide an appeal assigned to them", H, L)},
    "appeals:evidence_upload": {"POST": _rule("add evidence to an appeal assigned to them", H, L)},
    "appeals:assign": {"POST": _rule("reassign appeals", L)},
    "appeals:approve": {"POST": _rule("approve another person's large restoration", L)},
    "appeals:sla": {
        "GET": _rule("set SLA targets", L),
        "POST": _rule("set SLA targets", L),
    },
    "appeals:bulk": {"POST": _rule("assign, reassign and snooze appeals in bulk", L)},
    "appeals:export": {"GET": _rule("open the appeal queue", H, L, U)},
    # Appeals as feedback: aggregate overturn rates, shown on the policy pages.
    "appeals:overturns": {"GET": _rule("read policy versions", A, L, P, U)},
    "appeals:handlers": {
        "GET": _rule("set handlers' caps, auto-assignment and time away", L),
        "POST": _rule("set handlers' caps, auto-assignment and time away", L),
    },
    "appeals:snooze": {"POST": _rule("snooze an appeal assigned to them", H, L)},
    "appeals:close": {"POST": _rule("close a decided appeal assigned to them", H, L)},
    # Policy
    "policies:index": {"GET": _rule("read policy versions", A, L, P, U)},
    "policies:version": {"GET": _rule("read policy versions", A, L, P, U)},
    "policies:simulation": {"GET": _rule("read policy versions", A, L, P, U)},
    "policies:new": {"POST": _rule("draft, simulate and submit a policy", P)},
    "policies:save": {"POST": _rule("draft, simulate and submit a policy", P)},
    "policies:simulate": {"POST": _rule("draft, simulate and submit a policy", P)},
    "policies:simulation_retry": {"POST": _rule("draft, simulate and submit a policy", P)},
    "policies:submit": {"POST": _rule("draft, simulate and submit a policy", P)},
    "policies:kill_switch": {"POST": _rule("pause or resume automatic reductions", P)},
    "policies:review": {"POST": _rule("approve another admin's policy (not one's own)", P)},
    "policies:rollout": {
        "POST": _rule("widen another admin's rollout (not one's own) or roll back", P)
    },
    # Monitoring: stability, performance and fairness from the snapshots' figures; a
    # policy admin acknowledges a drift alert.
    "history:monitoring": {"GET": _rule("open the Monitoring page", A, L, P, U)},
    "history:acknowledge_alert": {"POST": _rule("acknowledge a drift alert", P)},
    # Back-tests and the champion-challenger readout (docs/architecture.md, "Portfolio
    # history"): read as the policy pages are; started by a policy admin.
    "history:backtest_start": {
        "GET": _rule("read policy versions", A, L, P, U),
        "POST": _rule("draft, simulate and submit a policy", P),
    },
    "history:backtest": {"GET": _rule("read policy versions", A, L, P, U)},
    "history:backtest_panel": {"GET": _rule("read policy versions", A, L, P, U)},
    "history:readout": {"GET": _rule("read policy versions", A, L, P, U)},
    # Customer notices (docs/architecture.md, "Notices: timeliness"): read by those who
    # watch the decisions' consequences; a dead letter sent again by an analyst or a lead.
    "notices:timeliness": {"GET": _rule("open the customer notices", A, L, P, U)},
    "notices:dead_letters": {"GET": _rule("open the customer notices", A, L, P, U)},
    "notices:retry": {"POST": _rule("send a failed customer notice again", A, L)},
    # Audit
    "decisions:audit": {"GET": _rule("open the audit trail", U)},
    "decisions:audit_export": {"GET": _rule("export decisions as CSV", U)},
    "decisions:reveals_export": {"GET": _rule("export the personal-data reveals as CSV", U)},
    # Evidence packs (docs/architecture.md, "Evidence pack"): whoever may export the audit
    # trail builds them and opens and downloads every pack, whoever started it.
    "compliance:packs": {
        "GET": _rule("build and download regulatory evidence packs", U),
        "POST": _rule("build and download regulatory evidence packs", U),
    },
    "compliance:pack": {"GET": _rule("build and download regulatory evidence packs", U)},
    "compliance:pack_progress": {"GET": _rule("build and download regulatory evidence packs", U)},
    "compliance:pack_download": {"GET": _rule("build and download regulatory evidence packs", U)},
    # Retention: the periods in force and the retention log (read-only)
    "retention:index": {"GET": _rule("read the retention periods and log", U)},
    # Integrations
    "integrations:keys": {"GET": _rule("read the integrations' keys and call log", U, D)},
    "integrations:create": {"POST": _rule("create and revoke API keys", D)},
    "integrations:revoke": {"POST": _rule("create and revoke API keys", D)},
    "api:openapi-view": {"GET": _rule("read the API reference", STAFF)},
    "api:openapi-json": {"GET": _rule("read the API reference", STAFF)},
    "api:api-root": {},  # the prefix itself: 404 for everyone
    "api:*": {
        "GET": _rule("(integrations only, with an API key)", NOBODY),
        "POST": _rule("(integrations only, with an API key)", NOBODY),
    },
    "admin:*": {
        "GET": _rule("manage users and their roles", D),
        "POST": _rule("manage users and their roles", D),
    },
}


def rule_for(url_name: str, method: str) -> Rule | None:
    """The declared rule of a URL name and method; None for a URL with no entry.
    An entry that lists other methods refuses this one (`NOBODY`)."""
    entry = ACCESS.get(url_name)
    if entry is None and ":" in url_name:
        entry = ACCESS.get(url_name.split(":", 1)[0] + ":*")
    if entry is None:
        return None
    return entry.get(method, Rule("", NOBODY))


def duties() -> dict[str, list[str]]:
    """Role → what it may do, in the matrix's order, each once (the README's table)."""
    table: dict[str, list[str]] = {role: [] for role in roles.ROLE_LABELS}
    for entry in ACCESS.values():
        for rule in entry.values():
            for role in table:
                if role in rule.roles and rule.roles != EVERYONE and rule.does not in table[role]:
                    table[role].append(rule.does)
    return table

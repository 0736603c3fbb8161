"""The declared role-by-URL matrix (accounts/access.py, ACCESS), enforced.

Every URL of the URL configuration must have an entry; then every URL is
requested by every role, by a signed-in user with no role, by a break-glass
superuser with no role, and anonymously, with GET and with a CSRF-valid POST.
Allowed means the view ran (any answer below 500 that is not a refusal); denied
means 401, 403, 405 or a redirect to a login page, never a 500, and nothing in
the database or the evidence store changed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts import access, roles
from tests.security import world as world_module

BREAK_GLASS = "superuser, no role"
COLUMNS = [access.ANONYMOUS, access.NO_ROLE, BREAK_GLASS, *world_module.PEOPLE]
USER_OF = {access.NO_ROLE: "nora", BREAK_GLASS: "root", **world_module.PEOPLE}

# Django's admin is one entry, "admin:*"; these of its pages are requested.
ADMIN_PAGES = [
    ("admin:index", {}),
    ("admin:auth_user_changelist", {}),
    ("admin:auth_user_add", {}),
    ("admin:auth_user_change", {"object_id": "{object_id}"}),
    ("admin:auth_group_changelist", {}),
    ("admin:axes_accessattempt_changelist", {}),
]
# Tables that record the request itself (sessions, login attempts, the API call
# log) may change on a refused request; nothing else may.
LOG_TABLES = {"django_session", "api_apicall"}


def url_names(patterns: Any = None, namespace: str = "") -> Iterator[tuple[str, Any]]:
    """(namespaced name, pattern) of every URL; unnamed ones as "<ns>:None"."""
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(pattern, URLResolver):
            inner = (
                f"{namespace}:{pattern.namespace}"
                if namespace and pattern.namespace
                else (pattern.namespace or namespace)
            )
            yield from url_names(pattern.url_patterns, inner)
        elif isinstance(pattern, URLPattern):
            name = f"{namespace}:{pattern.name}" if namespace else str(pattern.name)
            yield name, pattern


def test_every_url_has_an_entry_in_the_matrix():
    missing = sorted({name for name, _p in url_names() if access.rule_for(name, "GET") is None})
    assert missing == [], f"URLs with no entry in accounts/access.py ACCESS: {missing}"
    names = {name for name, _p in url_names()}
    stale = sorted(name for name in access.ACCESS if not name.endswith(":*") and name not in names)
    assert stale == [], f"entries for URLs that do not exist: {stale}"


def requests_to_make(kwargs: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(url name, method, path) of every request of the walk."""
    made = []
    for name, pattern in url_names():
        if name.startswith("admin:"):
            continue
        wanted = (
            {key: kwargs[key] for key in pattern.pattern.converters}
            if hasattr(pattern.pattern, "converters")
            else {}
        )
        short = name.split(":", 1)[1] if name.startswith("api:") else name
        if name.startswith("api:"):
            path = reverse(f"api:{short}", kwargs=wanted) if pattern.name else None
        else:
            path = reverse(name, kwargs=wanted)
        if path is None:
            continue
        made += [(name, "GET", path), (name, "POST", path)]
    for name, raw in ADMIN_PAGES:
        values = {key: value.format(**kwargs) for key, value in raw.items()}
        path = reverse(name, kwargs=values)
        made += [(name, "GET", path), (name, "POST", path)]
    return made


def fingerprint() -> dict[str, tuple[int, int]]:
    """Row count and an order-free hash of every table but the request logs."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        )
        tables = [
            row[0]
            for row in cursor.fetchall()
            if row[0] not in LOG_TABLES and not row[0].startswith("axes_")
        ]
        parts = [  # the names come from pg_tables, not from input
            f"SELECT '{table}', count(*), coalesce(sum(hashtext(t::text)::bigint), 0) "  # noqa: S608
            f'FROM "{table}" t'
            for table in tables
        ]
        cursor.execute(" UNION ALL ".join(parts))
        return {name: (count, digest) for name, count, digest in cursor.fetchall()}


def files_in(root: Path) -> set[Path]:
    return {path for path in root.rglob("*") if path.is_file()} if root.exists() else set()


def refused(response: Any, name: str) -> bool:
    if response.status_code in (401, 403, 405):
        return True
    if response.status_code == 404 and access.ACCESS.get(name) == {}:
        return True  # a URL that serves no one at all
    location = response.get("Location", "") if response.status_code == 302 else ""
    return location.startswith(("/login/?next=", "/django-admin/login/?next="))


def expected(column: str, name: str, method: str) -> bool:
    if column == BREAK_GLASS:
        # Django's admin lets a superuser in; in Limit Desk it holds no role.
        return name.startswith("admin:") or expected(access.NO_ROLE, name, method)
    rule = access.rule_for(name, method)
    assert rule is not None
    return column in rule.roles


@pytest.mark.parametrize("column", COLUMNS)
def test_each_role_gets_exactly_what_the_matrix_declares(column, db, settings, tmp_path):
    settings.EVIDENCE_ROOT = tmp_path / "evidence"
    built = world_module.build()
    client = Client(enforce_csrf_checks=True)
    token = "a" * 32  # a CSRF secret: the cookie and the header carry the same
    wrong = []
    for name, method, path in requests_to_make(built.kwargs):
        if column != access.ANONYMOUS:
            client.force_login(built.users[USER_OF[column]])
        client.cookies["csrftoken"] = token
        before = fingerprint()
        stored = files_in(settings.EVIDENCE_ROOT)
        if method == "GET":
            response = client.get(path)
        else:
            response = client.post(path, {}, headers={"X-CSRFToken": token})
        allowed = expected(column, name, method)
        if response.status_code >= 500:
            wrong.append(f"{method} {path} ({name}): {response.status_code}")
        elif refused(response, name) == allowed:
            what = "refused" if allowed else f"allowed ({response.status_code})"
            wrong.append(f"{method} {path} ({name}): {what}, the matrix says the opposite")
        elif not allowed and (
            fingerprint() != before or files_in(settings.EVIDENCE_ROOT) != stored
        ):
            wrong.append(f"{method} {path} ({name}): refused but changed the database")
    assert wrong == [], f"{column}:\n" + "\n".join(wrong)


def test_the_roles_in_the_database_are_the_declared_ones(db):
    """The latest roles migration left what accounts/roles.py declares."""
    import importlib

    from django.contrib.auth.models import Group

    migration = importlib.import_module("accounts.migrations.0015_notice_permissions")
    assert {role: frozenset(names) for role, names in migration.ROLES.items()} == (
        roles.ROLE_PERMISSIONS
    )
    for role, names in roles.ROLE_PERMISSIONS.items():
        held = {
            f"{app}.{codename}"
            for app, codename in Group.objects.get(name=role).permissions.values_list(
                "content_type__app_label", "codename"
            )
        }
        assert held == names, role


def test_the_readme_roles_table_is_the_one_generated_from_the_matrix():
    from accounts.management.commands.roles_table import roles_table

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    start = readme.index("<!-- roles-table")
    block = readme[readme.index("\n", start) + 1 : readme.index("<!-- /roles-table -->")]
    assert block.strip() == roles_table(), "run `python manage.py roles_table` into the README"

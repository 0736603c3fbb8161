"""Every permission check of the app goes through accounts.access.may (or its
decorators), which a superuser does not pass by being one: no `has_perm`,
`permission_required`, `perms` of Django or `is_superuser` test elsewhere
(docs/architecture.md, "Roles")."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = ("accounts", "api", "appeals", "config", "decisions", "policies", "bench")
ALLOWED = {Path("accounts/access.py"), Path("accounts/admin.py")}
BYPASSES = {"has_perm", "has_perms", "permission_required", "is_superuser", "user_passes_test"}


def _checks_outside_access() -> list[str]:
    found = []
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if relative in ALLOWED or "migrations" in relative.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                name = (
                    node.attr
                    if isinstance(node, ast.Attribute)
                    else node.id
                    if isinstance(node, ast.Name)
                    else None
                )
                if name in BYPASSES and isinstance(getattr(node, "ctx", None), ast.Load):
                    found.append(f"{relative}:{getattr(node, 'lineno', 0)}: {name}")
    for path in sorted((ROOT / "templates").rglob("*.html")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"\buser\.(is_superuser|has_perm)", line):
                found.append(f"{path.relative_to(ROOT)}:{number}")
    return found


def test_no_permission_check_bypasses_the_roles():
    assert _checks_outside_access() == []

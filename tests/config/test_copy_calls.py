"""Every PostgreSQL COPY of the project goes through config.db.copy, the one call
that works with DEBUG on and off (docs/architecture.md, "One code path with DEBUG
on and off"); test_debug_profile.py runs each of them in both profiles."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _copy_calls_outside_the_helper() -> list[str]:
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        relative = path.relative_to(ROOT)
        if relative.parts[0] in {".venv", ".local"} or relative == Path("config/db.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in {"copy", "copy_expert", "copy_to", "copy_from", "stream"}
                and "cursor" in ast.unparse(node.func.value).lower()
            ):
                found.append(f"{relative}:{node.lineno}: {ast.unparse(node)[:80]}")
    return found


def test_every_copy_goes_through_the_one_helper():
    assert _copy_calls_outside_the_helper() == []

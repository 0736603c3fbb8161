"""The apps' layers (docs/architecture.md, "Layers") hold, and the check that `make lint`
runs catches an import against them, also one placed inside a function."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from accounts import permissions
from accounts.models import Access

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = (
    "config",
    "scoring",
    "accounts",
    "policies",
    "history",
    "decisions",
    "notices",
    "appeals",
    "api",
    "compliance",
    "retention",
    "desk",
    "demo",
)
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), str(root / "pyproject.toml"), "--no-cache", "--no-logo"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": str(LINT_IMPORTS.parent), "PYTHONPATH": str(root)},
    )


@pytest.fixture
def copy_of_the_code(tmp_path: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_layers_hold():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_back_import_inside_a_function_breaks_the_layers(copy_of_the_code: Path):
    assert lint_imports(copy_of_the_code).returncode == 0
    selectors = copy_of_the_code / "decisions" / "selectors.py"
    selectors.write_text(
        selectors.read_text()
        + "\n\ndef _open_appeals() -> int:\n"
        + "    from appeals.models import Appeal\n\n"
        + "    return Appeal.objects.count()\n"
    )
    result = lint_imports(copy_of_the_code)
    assert result.returncode != 0
    assert "decisions.selectors -> appeals.models" in result.stdout


def test_a_service_importing_its_tasks_breaks_the_layers(copy_of_the_code: Path):
    services = copy_of_the_code / "policies" / "simulations.py"
    services.write_text(services.read_text() + "\nfrom policies import tasks  # noqa\n")
    result = lint_imports(copy_of_the_code)
    assert result.returncode != 0
    assert "policies.simulations -> policies.tasks" in result.stdout


def test_every_permission_constant_names_a_declared_permission():
    declared = {f"accounts.{codename}" for codename, _label in Access._meta.permissions}
    ours = {
        value
        for name, value in vars(permissions).items()
        if name.isupper() and value.startswith("accounts.")
    }
    assert ours == declared

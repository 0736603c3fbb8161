"""Personas and factories shared by the tests.

alice is a risk analyst, bob an appeal handler, carol an appeal lead, dave and
erin policy admins, frank an auditor — the demo users of `make run`.
"""

from __future__ import annotations

import functools
import importlib
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.contrib.auth.models import Group, Permission, User
from django.db.migrations.loader import MigrationLoader
from django.db.models import Q
from django.test import TestCase

from accounts import roles
from accounts.models import Account, AccountSignals
from demo.stories import HEALTHY

ROOT = Path(__file__).resolve().parents[1]


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """manage.py in a process of its own, so the settings are read from `env`."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


PASSWORD = "correct horse battery staple"

PERSONAS = {
    "alice": roles.RISK_ANALYST,
    "bob": roles.APPEAL_HANDLER,
    "carol": roles.APPEAL_LEAD,
    "dave": roles.POLICY_ADMIN,
    "erin": roles.POLICY_ADMIN,
    "frank": roles.AUDITOR,
}


def ensure_roles() -> None:
    """Put back the role groups of the data migrations, with their permissions.

    Transactional tests (live server, real worker) end with a flush that
    empties every table; after a test with serialized rollback that flush does
    not even create the permissions again (no post_migrate), so they are made
    here too, with a fresh content-type cache (the ids changed). The groups get
    `roles.ROLE_PERMISSIONS`, which a test holds equal to the latest migration's.
    """
    from django.apps import apps
    from django.contrib.auth.management import create_permissions
    from django.contrib.contenttypes.models import ContentType

    ContentType.objects.clear_cache()
    for label in ("accounts", "auth", "axes"):
        create_permissions(apps.get_app_config(label), verbosity=0)
    for name, names in roles.ROLE_PERMISSIONS.items():
        group, _created = Group.objects.get_or_create(name=name)
        wanted = Q()
        for permission in names:
            app_label, codename = permission.split(".")
            wanted |= Q(content_type__app_label=app_label, codename=codename)
        group.permissions.set(Permission.objects.filter(wanted))


@functools.cache
def _models_as_the_data_migrations_knew_them() -> Any:
    """The models as they stood after decisions/0013, the state the data migrations
    below were written for (Policy was the decisions app's then; policies/0004 moved
    it, keeping its table)."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    return loader.project_state(("decisions", "0013_one_moving_portfolio_run")).apps


def ensure_reference_data() -> None:
    """Roles, the first policy version and the reason codes, as the data migrations
    leave them; a transactional test's flush removes them."""
    ensure_roles()
    apps = _models_as_the_data_migrations_knew_them()
    for name in (
        "0004_policy_v1_and_reason_codes",
        "0007_verified_capacity_reason",
        "0012_reason_texts_that_hold",
    ):
        importlib.import_module(f"decisions.migrations.{name}").forward(apps, None)
    importlib.import_module("decisions.migrations.0008_staged_rollout").date_the_active_version(
        apps, None
    )


def open_the_breaker() -> None:
    """Let every run apply: the active version's circuit breaker at 100%."""
    from policies.models import Policy

    active = Policy.objects.get(state="active")
    active.rules = {
        **active.rules,
        "breaker_max_accounts_cut_pct": "100",
        "breaker_max_exposure_cut_pct": "100",
    }
    active.save()


def make_user(username: str, role: str | None = None) -> User:
    ensure_roles()
    user = User.objects.create_user(
        username=username, password=PASSWORD, is_staff=role in roles.STAFF_ROLES
    )
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


_counter = iter(range(1, 10**9))


def make_account(**fields: Any) -> Account:
    number = next(_counter)
    values: dict[str, Any] = {
        "reference": f"T{number:08d}",
        "full_name": "王小明",
        "phone": f"1380000{number % 10000:04d}",
        "national_id": "11010119900101123X",
        "segment": Account.Segment.MASS,
        "current_limit": Decimal("10000.00"),
        "score": 700,
        "band": "B",
    }
    values.update(fields)
    return Account.objects.create(**values)


def make_signals(account: Account, **fields: Any) -> AccountSignals:
    values = {**HEALTHY, "credit_score": account.score or 700, "tenure_months": 24}
    values.update(fields)
    return AccountSignals.objects.create(account=account, **values)


class BaseTestCase(TestCase):
    alice: User
    bob: User
    carol: User
    dave: User
    erin: User
    frank: User

    @classmethod
    def setUpTestData(cls) -> None:
        for username, role in PERSONAS.items():
            setattr(cls, username, make_user(username, role))


def run_in_process(trigger: str = "button") -> Any:
    """A portfolio run started and driven chunk by chunk in the test process (no
    worker): every chunk scored, the breaker passed, every chunk applied."""
    from decisions import chunks, runs

    run = runs.run_start(trigger=trigger)
    for index in run.chunks.values_list("index", flat=True):
        chunks.run_compute_chunk(run_id=run.pk, index=index)
    run.refresh_from_db()
    assert run.state == "applying", run.breaker_reason
    for index in run.chunks.values_list("index", flat=True):
        chunks.run_apply_chunk(run_id=run.pk, index=index)
    run.refresh_from_db()
    return run

"""A small book with one of everything a URL can name, for the access tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from accounts import roles
from accounts.models import SavedFilter
from appeals import evidence_files
from appeals import services as appeal_services
from appeals.models import Appeal
from compliance.models import EvidencePack
from decisions import overrides, runs
from decisions.models import LimitDecision, Notice, OverrideRequest, WorkerHeartbeat
from history.models import Backtest, DriftAlert, Snapshot
from policies import services as policy_services
from policies.models import Policy, Simulation
from tests.base import make_account, make_signals, make_user
from tests.files import PNG
from tests.notices.factories import notice_for

# One person per role, and two with none: a signed-in user without a role, and a
# break-glass superuser (no role either: it passes Django's admin, nothing else).
PEOPLE = {
    roles.RISK_ANALYST: "alice",
    roles.APPEAL_HANDLER: "bob",
    roles.APPEAL_LEAD: "carol",
    roles.POLICY_ADMIN: "dave",
    roles.AUDITOR: "frank",
    roles.ADMINISTRATOR: "ada",
}


@dataclass
class World:
    users: dict[str, User]
    kwargs: dict[str, Any]  # URL keyword → a value that names a real object


def build() -> World:
    users = {username: make_user(username, role) for role, username in PEOPLE.items()}
    users["erin"] = make_user("erin", roles.POLICY_ADMIN)
    users["nora"] = make_user("nora")
    users["root"] = User.objects.create_superuser("root", password=None)
    alice, bob, carol, dave = (users[name] for name in ("alice", "bob", "carol", "dave"))

    # A worker that beat just now: /readyz answers 200 (the probes' own tests cover 503).
    WorkerHeartbeat.objects.create(
        source=WorkerHeartbeat.Source.TEST,
        worker="w@test",
        requested_at=timezone.now(),
        request_id="m",
    )
    account = make_account(reference="LD-M-1", current_limit=Decimal("8000.00"))
    make_signals(account)
    overrides.account_override_limit(
        account_id=account.pk,
        expected_version=account.version,
        new_limit=Decimal("3000"),
        actor=alice,
        justification="Cut after the bureau check.",
    )
    decision = LimitDecision.objects.get(account=account)
    account.refresh_from_db()
    overrides.account_override_limit(
        account_id=account.pk,
        expected_version=account.version,
        new_limit=Decimal("90000"),
        actor=alice,
        justification="Salary verified by the branch.",
    )
    pending = OverrideRequest.objects.get(account=account, state="pending")

    appeal = appeal_services.appeal_intake(
        account=account,
        actor=bob,
        channel="hotline",
        category="misjudged",
        statement="I only compared rates.",
        decision_id=decision.pk,
    ).appeal
    appeal_services.appeal_assign(appeal_id=appeal.pk, assignee=bob, lead=carol)
    upload = _upload("salary.png", PNG)
    item = evidence_files.evidence_add(appeal_id=appeal.pk, actor=bob, upload=upload)
    Appeal.objects.create(
        account=account,
        channel="app",
        category="misjudged",
        statement="Please look again.",
        sla_due=timezone.now() + timedelta(hours=8),
    )

    # A dead customer notice of the first cut, for the dead-letter list's retry.
    dead_notice = notice_for(decision, state=Notice.State.DEAD, attempts=1, last_error="HTTP 422")

    run = runs.run_start(trigger="button", started_by=alice, account_id=account.pk)
    draft = policy_services.policy_draft_create(author=dave)
    active = Policy.objects.get(state="active")
    simulation = Simulation.objects.create(
        policy=draft, base=active, rules=draft.rules, started_by=dave
    )
    replayed, _new = Snapshot.objects.get_or_create(
        taken_on=date(2025, 1, 1), defaults={"policy_version": active.version, "state": "complete"}
    )
    backtest = Backtest.objects.create(
        policy=draft, base=active, rules=draft.rules, snapshot=replayed, started_by=dave
    )
    return World(
        users=users,
        kwargs={
            "reference": account.reference,
            "request_id": pending.pk,
            "decision_id": decision.pk,
            "appeal_id": appeal.pk,
            "evidence_id": item.pk,
            "run_id": run.pk,
            "version": draft.version,
            "simulation_id": simulation.pk,
            "backtest_id": backtest.pk,
            "notice_id": dead_notice.pk,
            # An evidence pack someone else started: any holder of EXPORT_AUDIT opens
            # and downloads every pack (this one's file is gone: 404, not a refusal).
            "pack_id": EvidencePack.objects.create(
                period_from=date(2025, 1, 1),
                period_to=date(2025, 1, 31),
                started_by=users["erin"],
                state=EvidencePack.State.DONE,
            ).pk,
            "alert_id": DriftAlert.objects.get_or_create(
                kind=DriftAlert.Kind.PSI,
                subject="score",
                snapshot=replayed,
                defaults={"value": "0.3100", "threshold": "0.2500"},
            )[0].pk,
            "object_id": users["nora"].pk,
            "id": users["nora"].pk,
            "filter_id": SavedFilter.objects.create(
                user=alice, page="accounts", name="Band E", query="band=E"
            ).pk,
        },
    )


def _upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="image/png")
